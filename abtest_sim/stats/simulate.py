"""Synthetic per-user CTR logs for checking the statistics (false positives, coverage, power).

No models and no world: each user has a heavy-tailed activity rate (Gamma) and a CTR of their own
(Beta), both fixed over the days, so impressions cluster by user and days share users, which is
what makes impression-level tests wrong and the cross-day covariance matter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SyntheticCtr:
    """Shape of the synthetic population.

    ``activity_shape`` < 1 gives heavy tails in impressions per user; ``ctr_concentration`` is the
    Beta's a + b (smaller = more CTR heterogeneity between users); ``lift`` multiplies every user's
    CTR, so the population lift of the ratio sum C / sum M is exactly ``lift``.
    """

    mean_impressions: float = 20.0
    activity_shape: float = 0.5
    ctr: float = 0.05
    ctr_concentration: float = 40.0
    lift: float = 0.0

    def draw(
        self, rng: np.random.Generator, *, replicates: int, days: int, users: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(clicks, impressions), each (replicates, days, users); users persist over the days."""
        clicks, impressions, _ = self.draw_with_truth(
            rng, replicates=replicates, days=days, users=users
        )
        return clicks, impressions

    def draw_with_truth(
        self, rng: np.random.Generator, *, replicates: int, days: int, users: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Like ``draw``, plus the expected clicks (impressions times each user's true CTR)."""
        fixed = (replicates, 1, users)
        rate = rng.gamma(self.activity_shape, self.mean_impressions / self.activity_shape, fixed)
        a = self.ctr * self.ctr_concentration
        user_ctr = np.minimum(rng.beta(a, self.ctr_concentration - a, fixed) * (1.0 + self.lift), 1)
        impressions = rng.poisson(np.broadcast_to(rate, (replicates, days, users)))
        clicks = rng.binomial(impressions, user_ctr)
        return clicks.astype(np.float64), impressions.astype(np.float64), impressions * user_ctr
