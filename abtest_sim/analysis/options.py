"""How the report reads a test (``conf/stats``: ``ReportOptions``) and which estimator it leads
with (``headline_estimator``). The estimators themselves are in ``abtest_sim.analysis.estimators``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from abtest_sim.analysis.estimator_base import Estimate
from abtest_sim.analysis.estimators import estimator_keys

__all__ = [
    "AUTO_WITHOUT_PRE_PERIOD",
    "AUTO_WITH_PRE_PERIOD",
    "ReportOptions",
    "ReportOptionsError",
    "headline_estimator",
]

# The headline of ``auto``, chosen by the calibration sweep (benchmarks/calibration_sweep.py,
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
    headline: str = "auto"  # auto, or a key of abtest_sim.analysis.estimators
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
        if headline != "auto" and headline not in estimator_keys():
            raise ReportOptionsError(
                f"stats.headline must be auto or one of {list(estimator_keys())}, got {headline!r}"
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
        if name not in estimator_keys():
            raise ReportOptionsError(
                f"stats.lineage_sd: unknown estimator {name!r}; known: {list(estimator_keys())}"
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
