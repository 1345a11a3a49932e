"""Sample ratio mismatch (SRM): are the users split across arms as the design says?"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import chdtrc


@dataclass(frozen=True)
class SrmResult:
    """Pearson chi-square goodness of fit of the observed counts to the designed shares."""

    statistic: float
    p_value: float
    df: int
    observed: tuple[int, ...]
    expected: tuple[float, ...]


def srm_test(counts: ArrayLike, shares: ArrayLike | None = None) -> SrmResult:
    """Chi-square test of user counts per arm against the designed shares (default: equal).

    ``shares`` need not sum to 1; they are normalised. A small p-value (e.g. < 0.001) means the
    assignment or the logging lost users unevenly, and no lift from this test can be trusted.
    """
    observed = np.asarray(counts, dtype=np.float64)
    weights = np.ones_like(observed) if shares is None else np.asarray(shares, dtype=np.float64)
    if observed.ndim != 1 or observed.size < 2 or weights.shape != observed.shape:
        raise ValueError("counts and shares must be 1-D with one entry per arm (at least 2 arms)")
    if (observed < 0).any() or observed.sum() <= 0:
        raise ValueError("counts must be non-negative with a positive total")
    if (weights <= 0).any():
        raise ValueError("shares must be positive")
    expected = observed.sum() * weights / weights.sum()
    statistic = float(((observed - expected) ** 2 / expected).sum())
    df = observed.size - 1
    return SrmResult(
        statistic=statistic,
        p_value=float(chdtrc(df, statistic)),
        df=df,
        observed=tuple(int(x) for x in observed),
        expected=tuple(float(x) for x in expected),
    )
