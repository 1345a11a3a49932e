"""What many simulated tests say together: lineage variance, false positives, coverage, power.

Input: one row per run (``abtest_sim.sweep.aggregate.read_run``) with, per estimator ``e`` of
``abtest_sim.analysis.estimators``, columns ``e_lift``, ``e_se``, ``e_launch`` and
``e_target``, plus the A/A week's ``aa_p_value`` and ``aa_week_id`` and ``is_aa`` (the treatment
trains exactly as the control, so the launch effect is zero).

- **Lineage variance** of an estimator, from A/A runs (independent seeds and splits, each counted
  once): the true lift is zero, so E[lift^2] = Var(sampling) + Var(lineage), and
  ``lineage_var = mean(lift^2) - mean(se^2)`` (method of moments; a bootstrap over runs gives its
  interval; the SD reported is sqrt(max(0, var))).
- **Rates** with Wilson intervals: the A/A false-positive rate of each estimator with and without
  the lineage component (measured on the same A/As: in sample; ``abtest-sim-forecast`` gives the
  held-out rate), and as the runs reported it (their own ``total_*`` interval, coverage of the
  launch effect too); the A/A-week false-positive rate over distinct A/A weeks; power; the
  coverage of the launch effect and of the test's target.
- **Test target for coverage**: what the estimator converges to in expectation over the split. Per
  run the served-users truth is a noisy proxy of it, so coverage is checked against the run's
  launch effect plus the configuration's mean test-to-launch bias (over its runs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy.special import ndtr, ndtri
from statsmodels.stats.proportion import proportion_confint

from abtest_sim.analysis.estimators import estimator_keys

__all__ = ["LineageVariance", "Rate", "group_row", "lineage_variance", "rate", "wilson"]

BOOTSTRAP = 2000


@dataclass(frozen=True)
class Rate:
    successes: int
    trials: int
    low: float
    high: float

    @property
    def value(self) -> float:
        return self.successes / self.trials if self.trials else float("nan")


def rate(flags: Sequence[bool] | np.ndarray, alpha: float = 0.05) -> Rate:
    """A proportion with its Wilson interval (statsmodels)."""
    return wilson(int(np.sum(flags)), len(flags), alpha)


def wilson(successes: int, trials: int, alpha: float = 0.05) -> Rate:
    """``successes`` of ``trials`` with the Wilson interval (statsmodels)."""
    if trials == 0:
        return Rate(0, 0, float("nan"), float("nan"))
    low, high = proportion_confint(successes, trials, alpha=alpha, method="wilson")
    return Rate(successes, trials, float(low), float(high))


@dataclass(frozen=True)
class LineageVariance:
    """The lineage component of one estimator, from ``runs`` A/A replicates."""

    runs: int
    variance: float
    low: float  # 95% bootstrap interval of the variance
    high: float
    mean_sampling_variance: float

    @property
    def sd(self) -> float:
        return math.sqrt(max(self.variance, 0.0)) if math.isfinite(self.variance) else math.nan

    @property
    def share_of_total(self) -> float:
        """The lineage share of the estimator's total variance."""
        total = max(self.variance, 0.0) + self.mean_sampling_variance
        return max(self.variance, 0.0) / total if total > 0 else math.nan


def lineage_variance(lift: np.ndarray, se: np.ndarray, seed: int = 0) -> LineageVariance:
    """Method-of-moments lineage variance from A/A replicates (true lift zero)."""
    keep = np.isfinite(lift) & np.isfinite(se)
    lift, se = lift[keep], se[keep]
    if lift.size < 2:
        return LineageVariance(int(lift.size), math.nan, math.nan, math.nan, math.nan)
    excess = lift**2 - se**2
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, excess.size, size=(BOOTSTRAP, excess.size))
    boot = excess[draws].mean(axis=1)
    low, high = np.quantile(boot, [0.025, 0.975])
    return LineageVariance(
        int(lift.size), float(excess.mean()), float(low), float(high), float((se**2).mean())
    )


def _p_values(lift: np.ndarray, se: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return 2 * ndtr(-np.abs(lift) / se)


def _covers(lift: np.ndarray, se: np.ndarray, truth: np.ndarray, alpha: float) -> np.ndarray:
    half = float(ndtri(1 - alpha / 2)) * se
    keep = np.isfinite(truth) & np.isfinite(lift) & np.isfinite(se)
    return ((lift - half <= truth) & (truth <= lift + half))[keep]


def _column(runs: pl.DataFrame, name: str) -> np.ndarray:
    if name not in runs.columns:
        return np.full(runs.height, np.nan)
    return runs.get_column(name).cast(pl.Float64).fill_null(np.nan).to_numpy()


def _rate_columns(prefix: str, value: Rate) -> dict[str, float]:
    return {
        prefix: value.value,
        f"{prefix}_low": value.low,
        f"{prefix}_high": value.high,
        f"{prefix}_n": value.trials,
    }


def estimator_columns(
    runs: pl.DataFrame, name: str, alpha: float, lineage: LineageVariance | None
) -> dict[str, Any]:
    """One estimator's figures over a configuration's runs: spread, rejections and coverage,
    without and with the lineage component (``lineage``: measured on A/A runs, or None)."""
    lift, se = _column(runs, f"{name}_lift"), _column(runs, f"{name}_se")
    launch, target = _column(runs, f"{name}_launch"), _column(runs, f"{name}_target")
    valid = np.isfinite(lift) & np.isfinite(se)
    lift, se, launch, target = lift[valid], se[valid], launch[valid], target[valid]
    if lift.size == 0:
        return {}
    bias = target - launch
    mean_bias = float(np.nanmean(bias)) if np.isfinite(bias).any() else math.nan
    expected_target = launch + mean_bias
    var_lineage = 0.0 if lineage is None or not math.isfinite(lineage.variance) else lineage.sd**2
    se_total = np.sqrt(se**2 + var_lineage)
    out: dict[str, Any] = {
        f"{name}_lift_mean": float(lift.mean()),
        f"{name}_lift_sd": float(lift.std(ddof=1)) if lift.size > 1 else math.nan,
        f"{name}_se_mean": float(np.sqrt((se**2).mean())),
        f"{name}_launch_mean": _nanmean(launch),
        f"{name}_target_mean": _nanmean(target),
        # In an A/A, the spread of the target over replicates is the lineages' own divergence
        # (plus who landed where): what a per-user interval around a zero launch effect misses.
        f"{name}_target_sd": _nansd(target),
        f"{name}_bias_mean": mean_bias,
        f"{name}_lineage_sd_used": math.sqrt(var_lineage),
    }
    out |= _as_reported(runs, name, alpha)
    for suffix, error in (("", se), ("_with_lineage", se_total)):
        out |= _rate_columns(f"{name}_reject{suffix}", rate(_p_values(lift, error) < alpha))
        out |= _rate_columns(
            f"{name}_covers_launch{suffix}", rate(_covers(lift, error, launch, alpha))
        )
        out |= _rate_columns(
            f"{name}_covers_target{suffix}", rate(_covers(lift, error, expected_target, alpha))
        )
    return out


def _as_reported(runs: pl.DataFrame, name: str, alpha: float) -> dict[str, Any]:
    """The intervals the runs themselves reported (``total_*``: with the lineage SD each run
    applied, its configured or its design's stored one): rejections and coverage of the launch
    effect, so a sweep shows a wrong configured SD."""
    p = _column(runs, f"{name}_total_p_value")
    low, high = _column(runs, f"{name}_total_ci_low"), _column(runs, f"{name}_total_ci_high")
    launch = _column(runs, f"{name}_launch")
    reported = np.isfinite(p) & np.isfinite(low) & np.isfinite(high)
    if not reported.any():
        return {}
    covered = ((low <= launch) & (launch <= high))[reported & np.isfinite(launch)]
    return _rate_columns(f"{name}_reject_as_reported", rate(p[reported] < alpha)) | (
        _rate_columns(f"{name}_covers_launch_as_reported", rate(covered))
    )


def _nanmean(x: np.ndarray) -> float:
    return float(np.nanmean(x)) if np.isfinite(x).any() else math.nan


def _nansd(x: np.ndarray) -> float:
    return float(np.nanstd(x, ddof=1)) if np.isfinite(x).sum() > 1 else math.nan


def aa_week_columns(runs: pl.DataFrame, alpha: float) -> dict[str, Any]:
    """The A/A week of every run is an A/A test; runs sharing one (same seed, split and warm-up,
    another recipe after it) count once."""
    if "aa_p_value" not in runs.columns:
        return {}
    weeks = runs.filter(pl.col("aa_p_value").is_not_null())
    if "aa_week_id" in weeks.columns:
        weeks = weeks.unique("aa_week_id", keep="first", maintain_order=True)
    p = weeks.get_column("aa_p_value").cast(pl.Float64).to_numpy()
    out: dict[str, Any] = {"aa_weeks": int(p.size)}
    return out | _rate_columns("aa_week_false_positive", rate(p < alpha))


def group_row(
    runs: pl.DataFrame, alpha: float, lineage: dict[str, LineageVariance]
) -> dict[str, Any]:
    """All figures of one configuration."""
    row: dict[str, Any] = {"runs": runs.height}
    row |= aa_week_columns(runs, alpha)
    for name in estimator_keys():
        row |= estimator_columns(runs, name, alpha, lineage.get(name))
    return row


def lineage_from_aa_runs(runs: pl.DataFrame) -> dict[str, LineageVariance]:
    """Each estimator's lineage variance from the A/A runs among ``runs`` (empty if none)."""
    aa = runs.filter(pl.col("is_aa")) if "is_aa" in runs.columns else runs.clear()
    if aa.is_empty():
        return {}
    return {
        name: lineage_variance(_column(aa, f"{name}_lift"), _column(aa, f"{name}_se"))
        for name in estimator_keys()
        if f"{name}_lift" in aa.columns
    }
