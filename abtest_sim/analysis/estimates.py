"""The report's A/B estimators side by side, each with its truths, its noise and the headline.

Estimators of the treatment's lift over the A/B days (rows of ``daily.csv``'s A/B Average row and
of the cumulative table):

- ``pooled``: the lift of the CTR pooled over the A/B days (ratio of summed clicks to summed
  impressions per arm); consistent whatever the daily click counts;
- ``mean_daily``: the mean of the daily lifts (the paper's Table 3 "Average"); with few clicks a
  day, a mean of daily ratios is biased;
- ``ab_minus_aa``: the mean daily lift minus the mean daily lift of the A/A pre-period on the same
  users (removes what the buckets differed by before the treatment);
- ``cuped``: the mean daily lift with each user's pre-period CTR as covariate.

Each interval contains the noise of which users landed in which arm and of their clicks (the delta
method over users). It does not contain **model-lineage variance**: two arms with the same recipe
diverge because their models train on different users' logs, an arm-level random effect that no
per-user interval can see. ``stats.lineage_sd`` (measured by ``abtest-sim-aggregate`` on A/A
replicates) adds it as an independent component: se_total = sqrt(se^2 + lineage_sd^2).

For simulations every estimator is set beside two truths: the **test target** (what the arms'
lineages served their own users, in true CTR: what the estimator converges to) and the **launch
effect** (every user on a lineage of the recipe trained on every user: what shipping does).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scipy.special import ndtr, ndtri

from abtest_sim.stats.lift_floor import DELTA, KIND_NAMES, floor_interval, floor_p_value

__all__ = ["ESTIMATORS", "Estimate", "ReportOptions", "headline_estimator", "with_lineage"]

ESTIMATORS: dict[str, str] = {
    "pooled": "lift of the CTR pooled over the A/B days",
    "mean_daily": "mean of the daily lifts",
    "ab_minus_aa": "A/B minus the pre-period A/A (same users)",
    "cuped": "CUPED (pre-period covariate)",
}
# The headline of ``auto``, chosen by the calibration study (benchmarks/calibration_study.py,
# results in benchmarks/results/calibration/report.md): over 1,000 A/A and 200 A/B replicates every
# estimator held its level and covered the launch effect ~95%, and CUPED had the smallest spread
# (sd of the A/B lift 3.8% against 5.0% pooled, 4.2% A/B - A/A). Without a pre-period: pooled.
AUTO_WITH_PRE_PERIOD = "cuped"
AUTO_WITHOUT_PRE_PERIOD = "pooled"


class ReportOptionsError(ValueError):
    """A ``stats`` option that cannot be used; the message names it."""


@dataclass(frozen=True)
class ReportOptions:
    """How the report reads a test (``conf/stats``)."""

    alpha: float = 0.05
    headline: str = "auto"  # auto | pooled | mean_daily | ab_minus_aa | cuped
    # SD of the model-lineage component of each estimator's A/B lift (None: not known, not added)
    lineage_sd: Mapping[str, float | None] = field(default_factory=dict)
    # Tuning of the cumulative lift's confidence sequence (abtest_sim.stats.sequential; None:
    # tightest on the last day)
    cs_rho: float | None = None

    @classmethod
    def from_mapping(cls, node: Mapping[str, Any] | None) -> ReportOptions:
        node = dict(node or {})
        known = ("alpha", "headline", "lineage_sd", "cs_rho")
        unknown = sorted(set(node) - set(known))
        if unknown:
            raise ReportOptionsError(f"stats: unknown key(s) {unknown}; known: {', '.join(known)}")
        alpha = node.get("alpha", 0.05)
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
            raise ReportOptionsError(f"stats.alpha must lie in (0, 1), got {alpha!r}")
        headline = node.get("headline", "auto")
        if headline != "auto" and headline not in ESTIMATORS:
            raise ReportOptionsError(
                f"stats.headline must be auto or one of {list(ESTIMATORS)}, got {headline!r}"
            )
        lineage_sd = _lineage_sd(node.get("lineage_sd"))
        return cls(float(alpha), headline, lineage_sd, _cs_rho(node.get("cs_rho")))


def _cs_rho(value: Any) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ReportOptionsError(f"stats.cs_rho must be a positive number or null, got {value!r}")
    return float(value)


def _lineage_sd(node: Any) -> dict[str, float | None]:
    if node is None:
        return {}
    if not isinstance(node, Mapping):
        raise ReportOptionsError(f"stats.lineage_sd must map estimators to SDs, got {node!r}")
    out: dict[str, float | None] = {}
    for name, value in node.items():
        if name not in ESTIMATORS:
            raise ReportOptionsError(
                f"stats.lineage_sd: unknown estimator {name!r}; known: {list(ESTIMATORS)}"
            )
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise ReportOptionsError(
                f"stats.lineage_sd.{name} must be a non-negative number or null, got {value!r}"
            )
        out[name] = None if value is None else float(value)
    return out


@dataclass(frozen=True)
class Estimate:
    """One estimator's A/B lift: the delta interval, the interval with the lineage component (the
    same when none is configured), and its truths when simulated."""

    name: str
    lift: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    lineage_sd: float | None
    se_total: float
    total_ci_low: float
    total_ci_high: float
    total_p_value: float
    target: float | None = None  # the test's target for this estimator (simulations)
    launch: float | None = None  # the launch effect for this estimator (simulations)
    # How the reported interval (with the lineage component) was formed: "delta", or for a lift
    # whose delta interval reaches -100% "log-ratio" (or "clipped"; abtest_sim.stats.lift_floor)
    interval: str = "delta"

    @property
    def label(self) -> str:
        return ESTIMATORS[self.name]

    def covers(self, truth: float | None) -> bool | None:
        """Whether the reported interval (with the lineage component when configured) contains
        ``truth``; None when the truth is unknown (a missing truth is not "not covered")."""
        if truth is None or not math.isfinite(truth):
            return None
        return bool(self.total_ci_low <= truth <= self.total_ci_high)

    def to_dict(self) -> dict[str, Any]:
        names = (
            "lift", "se", "ci_low", "ci_high", "p_value", "lineage_sd", "se_total",
            "total_ci_low", "total_ci_high", "total_p_value", "target", "launch", "interval",
        )  # fmt: skip
        out = {name: getattr(self, name) for name in names}
        out["covers_target"] = self.covers(self.target)
        out["covers_launch"] = self.covers(self.launch)
        return out


def with_lineage(
    name: str,
    lift: float,
    se: float,
    *,
    alpha: float,
    lineage_sd: float | None,
    target: float | None = None,
    launch: float | None = None,
) -> Estimate:
    """An ``Estimate`` from its delta-method lift and SE, adding the lineage component if known.
    The intervals of a relative lift (every estimator but A/B - A/A, a difference of lifts) stay
    above -100% as daily.csv's do (``abtest_sim.stats.lift_floor``)."""
    z = float(ndtri(1 - alpha / 2))
    se_total = math.sqrt(se**2 + (lineage_sd or 0.0) ** 2)
    bounded = name != "ab_minus_aa"
    ci_low, ci_high, p_value, _ = _interval(lift, se, z, bounded)
    total_low, total_high, total_p, kind = _interval(lift, se_total, z, bounded)
    return Estimate(
        name=name,
        lift=lift,
        se=se,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p_value,
        lineage_sd=lineage_sd,
        se_total=se_total,
        total_ci_low=total_low,
        total_ci_high=total_high,
        total_p_value=total_p,
        target=_finite(target),
        launch=_finite(launch),
        interval=KIND_NAMES[kind],
    )


def _interval(lift: float, se: float, z: float, bounded: bool) -> tuple[float, float, float, int]:
    """Bounds, p-value and kind of the interval lift +- z se, kept above -100% if ``bounded``."""
    low, high, p = lift - z * se, lift + z * se, _p(lift, se)
    if not bounded:
        return low, high, p, DELTA
    floored_low, floored_high, kind = floor_interval(lift, z * se, low, high)
    floored_p = floor_p_value(lift, se, p, kind)
    return float(floored_low), float(floored_high), float(floored_p), int(kind)


def _p(lift: float, se: float) -> float:
    if not se > 0:
        return 1.0 if lift == 0 else 0.0
    return float(2 * ndtr(-abs(lift) / se))


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def headline_estimator(option: str, available: Mapping[str, Estimate]) -> str:
    """The estimator the report leads with: the configured one, or for ``auto`` the calibrated
    choice (``AUTO_WITH_PRE_PERIOD`` when the log has a pre-period, else the pooled lift)."""
    if option != "auto":
        if option not in available:
            raise ReportOptionsError(f"headline={option} needs an A/A pre-period on the same users")
        return option
    if AUTO_WITH_PRE_PERIOD in available:
        return AUTO_WITH_PRE_PERIOD
    return AUTO_WITHOUT_PRE_PERIOD
