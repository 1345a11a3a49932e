"""Lifts over days that share users: the average, A/B minus A/A, and multiple testing.

Arrays here are (days, users) matrices per arm: row d holds every user's clicks (or impressions)
on day d, with zeros for users not active that day. The days of one test share users, so daily lifts
are correlated; the variance of their mean needs the cross-day covariance, which the per-user
influence functions summed over days give (``abtest_sim.stats.influence``). Ignoring it understates
the SE.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from abtest_sim.stats.influence import (
    Linearized,
    RatioPanel,
    chain,
    ratio_panel,
    relative_lift_of,
)
from abtest_sim.stats.ratio import LiftResult, normal_lift
from abtest_sim.stats.units import PrePost, UnitTotals


def _to_result(lin: Linearized, *, alpha: float, method: str) -> LiftResult:
    return normal_lift(float(lin.value[0]), float(lin.se()[0]), alpha=alpha, method=method)


def day_weights(n_days: int, days: ArrayLike | None) -> np.ndarray:
    """Equal weights over the chosen days (indices or a boolean mask; None = all days)."""
    mask = np.zeros(n_days, dtype=bool)
    if days is None:
        mask[:] = True
    else:
        chosen = np.asarray(days)
        mask[chosen if chosen.dtype != bool else np.flatnonzero(chosen)] = True
    if not mask.any():
        raise ValueError("no days chosen to average over")
    return mask / mask.sum()


@dataclass(frozen=True)
class DailyLifts:
    """Daily relative lifts of B over A with their joint (cross-day) covariance."""

    lifts: Linearized

    @property
    def n_days(self) -> int:
        return int(self.lifts.value.size)

    def on_day(self, day: int, *, alpha: float = 0.05) -> LiftResult:
        return _to_result(self.lifts.select([day]), alpha=alpha, method="delta")

    def average(self, days: ArrayLike | None = None) -> Linearized:
        """Mean of the daily lifts over ``days``, its influence summed over those days."""
        return self.lifts.combine(day_weights(self.n_days, days))

    def average_lift(self, days: ArrayLike | None = None, *, alpha: float = 0.05) -> LiftResult:
        return _to_result(self.average(days), alpha=alpha, method="delta average")

    def minus_reference(self, days: ArrayLike, reference_days: ArrayLike) -> Linearized:
        """Each chosen day's lift minus the mean lift of the reference (A/A) days."""
        chosen = np.flatnonzero(day_weights(self.n_days, days))
        weights = np.eye(self.n_days)[chosen] - day_weights(self.n_days, reference_days)
        return self.lifts.combine(weights)

    def difference_of_averages(
        self, days: ArrayLike, reference_days: ArrayLike, *, alpha: float = 0.05
    ) -> LiftResult:
        """Mean lift over ``days`` minus mean lift over ``reference_days`` (A/B minus A/A)."""
        weights = day_weights(self.n_days, days) - day_weights(self.n_days, reference_days)
        return _to_result(self.lifts.combine(weights), alpha=alpha, method="delta A/B minus A/A")


def daily_lifts(control: RatioPanel, treatment: RatioPanel) -> DailyLifts:
    """Daily lifts of the treatment over the control from each arm's (days, users) panel
    (``abtest_sim.stats.influence.ratio_panel``; users aligned across days, arms independent)."""
    if control.ratio.size != treatment.ratio.size:
        raise ValueError("both arms need the same number of days")
    return DailyLifts(
        relative_lift_of(control.linearized("control"), treatment.linearized("treatment"))
    )


def average_lift(
    control: RatioPanel,
    treatment: RatioPanel,
    *,
    days: ArrayLike | None = None,
    alpha: float = 0.05,
) -> LiftResult:
    """Mean of the daily lifts over ``days`` (None: all) with the cross-day covariance."""
    return daily_lifts(control, treatment).average_lift(days, alpha=alpha)


def ab_minus_aa_lift(control: PrePost, treatment: PrePost, *, alpha: float = 0.05) -> LiftResult:
    """A/B lift minus the A/A lift of a pre-period on the same users (per-user period totals).

    Var = Var(L_ab) + Var(L_aa) - 2 Cov(L_ab, L_aa); the covariance comes from the same users.
    """
    lifts = daily_lifts(ratio_panel(*control.periods()), ratio_panel(*treatment.periods()))
    return lifts.difference_of_averages([1], [0], alpha=alpha)


def shared_control_of(
    control: Linearized, aa_control: Linearized, treatment: Linearized
) -> Linearized:
    """D = (R_B - R_A2) / R_A1: A/B minus a concurrent A/A that shares the control A1.

    Var(D) = (V_B + V_A2) / R_A1^2 + (R_B - R_A2)^2 V_A1 / R_A1^4; the shared A1 enters once.
    """
    r1, r2, rb = control.value, aa_control.value, treatment.value
    return chain(
        (rb - r2) / r1,
        [(1.0 / r1, treatment), (-1.0 / r1, aa_control), (-(rb - r2) / r1**2, control)],
    )


def shared_control_lift(
    control: UnitTotals,
    aa_control: UnitTotals,
    treatment: UnitTotals,
    *,
    alpha: float = 0.05,
) -> LiftResult:
    """A/B minus A/A with a shared control: D = (R_B - R_A2) / R_A1 with its delta interval."""
    arms = [
        ratio_panel(*totals.as_panel_rows()).linearized(name)
        for name, totals in (("A1", control), ("A2", aa_control), ("B", treatment))
    ]
    return _to_result(shared_control_of(*arms), alpha=alpha, method="delta shared control")


def adjust_p_values(p_values: ArrayLike, method: Literal["holm", "bh"]) -> np.ndarray:
    """Holm (family-wise) or Benjamini-Hochberg (false discovery rate) adjusted p-values.

    NaN entries are left out of the family and stay NaN. Computed here, in the arithmetic of
    statsmodels' ``multipletests`` (tested equal to it): its Holm branch runs a full
    ``gc.collect()`` on every call, which in a long-lived process (a sweep, the test suite) cost
    more than the rest of a daily table.
    """
    if method not in ("holm", "bh"):
        raise ValueError(f"unknown adjustment {method!r}: use holm or bh")
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full_like(p, np.nan)
    finite = np.isfinite(p)
    if finite.any():
        out[finite] = _holm(p[finite]) if method == "holm" else _bh(p[finite])
    return out


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down: the k-th smallest p times (m - k + 1), made monotone, capped at 1."""
    order = np.argsort(p)
    adjusted = np.maximum.accumulate(p[order] * np.arange(p.size, 0, -1))
    out = np.empty_like(p)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def _bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg: the k-th smallest p times m / k, made monotone from the top, capped
    at 1."""
    order = np.argsort(p)
    raw = p[order] / (np.arange(1, p.size + 1) / p.size)
    out = np.empty_like(p)
    out[order] = np.minimum(np.minimum.accumulate(raw[::-1])[::-1], 1.0)
    return out
