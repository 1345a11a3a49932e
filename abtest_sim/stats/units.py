"""The typed inputs of the two-arm statistics: one arm's per-unit sums over a period
(``UnitTotals``), and the same units over a test period and its pre-period (``PrePost``).

Comparisons of arms take these (or ``abtest_sim.stats.influence.RatioPanel`` for several days),
never loose arrays, so that an arm's numerators, denominators and pre-period cannot be passed in
the wrong order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["PrePost", "UnitTotals", "unit_arrays"]


def unit_arrays(num: ArrayLike, den: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validated float arrays of per-unit numerators and denominators."""
    num_arr = np.asarray(num, dtype=np.float64)
    den_arr = np.asarray(den, dtype=np.float64)
    if num_arr.ndim != 1 or num_arr.shape != den_arr.shape:
        raise ValueError(
            f"num and den must be 1-D arrays of one length, got {num_arr.shape} and {den_arr.shape}"
        )
    if num_arr.size < 2:
        raise ValueError(f"need at least 2 units per arm, got {num_arr.size}")
    if not (np.isfinite(num_arr).all() and np.isfinite(den_arr).all()):
        raise ValueError("num and den must be finite")
    if (den_arr < 0).any() or (num_arr < 0).any():
        raise ValueError("num and den must be non-negative")
    if den_arr.sum() <= 0:
        raise ValueError("the denominator sums to 0: the ratio is undefined")
    return num_arr, den_arr


@dataclass(frozen=True)
class UnitTotals:
    """One arm's per-unit sums over one period: numerators (clicks) and denominators
    (impressions), one entry per unit; validated and stored as float arrays."""

    num: np.ndarray
    den: np.ndarray

    def __post_init__(self) -> None:
        num, den = unit_arrays(self.num, self.den)
        object.__setattr__(self, "num", num)
        object.__setattr__(self, "den", den)

    @property
    def units(self) -> int:
        return int(self.num.size)

    def as_panel_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(1, units) numerators, denominators and presence: one period with every unit in it."""
        return self.num[None, :], self.den[None, :], np.ones((1, self.units), dtype=bool)


@dataclass(frozen=True)
class PrePost:
    """One arm's units over the test period (``post``) and over a pre-period (``pre``), aligned
    unit by unit (entry i of both is the same unit)."""

    post: UnitTotals
    pre: UnitTotals

    def __post_init__(self) -> None:
        if self.pre.units != self.post.units:
            raise ValueError("pre-period arrays must be aligned with the post-period users")

    def periods(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(2, units) numerators, denominators and presence: row 0 the pre-period, row 1 the test
        period; every unit belongs to both."""
        num = np.vstack([self.pre.num, self.post.num])
        den = np.vstack([self.pre.den, self.post.den])
        return num, den, np.ones(num.shape, dtype=bool)
