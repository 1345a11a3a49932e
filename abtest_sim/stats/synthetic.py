"""Synthetic per-user CTR logs for checking the statistics (false positives, coverage, power).

No models and no world: each user has a heavy-tailed activity rate (Gamma) and a CTR of their own
(Beta), both fixed over the days, so impressions cluster by user and days share users, which is
what makes impression-level tests wrong and the cross-day covariance matter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl


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


def synthetic_unit_days(
    rng: np.random.Generator,
    *,
    lifts: Mapping[str, float],
    users: int,
    days: int,
    aa_days: int = 0,
    population: SyntheticCtr | None = None,
) -> pl.DataFrame:
    """A synthetic log in the report's input shape: one row per active (unit, arm, day).

    Each arm gets ``users`` units of its own. The first ``aa_days`` days are the A/A pre-period;
    after it, an arm's users click at their CTR times 1 + ``lifts[arm]``. Columns: unit, arm, day
    (from 1), phase, clicks, impressions, true_clicks (impressions times the user's true CTR).
    """
    population = population or SyntheticCtr()
    frames = []
    for k, (arm, lift) in enumerate(lifts.items()):
        drawn = population.draw_with_truth(rng, replicates=1, days=days, users=users)
        clicks, impressions, expected = (x[0] for x in drawn)
        ctr = np.divide(expected, impressions, out=np.zeros_like(expected), where=impressions > 0)
        ab = slice(aa_days, None)
        clicks[ab] = rng.binomial(
            impressions[ab].astype(np.int64), np.minimum(ctr[ab] * (1 + lift), 1)
        )
        expected[ab] *= 1 + lift
        day, unit = np.nonzero(impressions > 0)
        columns = {
            "unit": unit + k * users,
            "arm": arm,
            "day": day + 1,
            "phase": np.where(day < aa_days, "aa", "ab"),
            "clicks": clicks[day, unit].astype(np.int64),
            "impressions": impressions[day, unit].astype(np.int64),
            "true_clicks": expected[day, unit],
        }
        frames.append(pl.DataFrame(columns))
    return pl.concat(frames)
