"""The plain-words warnings that lead a report: a broken split, a significant A/A, too few clicks
for the intervals, intervals that had to leave the delta method, noise the interval does not hold,
days without a lift, a model that diverged. Each with its severity: ``stop`` (nothing in the
report can be acted on), ``caution`` (read the estimate with care), ``note`` (what the interval
does or does not hold)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import polars as pl

from abtest_sim.analysis.daily_columns import AVERAGE
from abtest_sim.analysis.estimator_base import Estimate
from abtest_sim.analysis.estimators import estimators
from abtest_sim.analysis.unit_days import PHASE_NAMES
from abtest_sim.stats import LiftResult
from abtest_sim.stats.lift_floor import CLIPPED, DELTA, floor_interval
from abtest_sim.stats.ratio import z_critical

if TYPE_CHECKING:  # pragma: no cover
    from abtest_sim.analysis.daily_table import DailyTable

__all__ = [
    "LINEAGE_HINT",
    "MIN_CLICKS",
    "SRM_ALARM",
    "ReportWarning",
    "Severity",
    "data_warnings",
    "diverged_warning",
    "headline_warnings",
]

SRM_ALARM = 1e-3  # an SRM p-value below this means the split itself is broken
# Fewer clicks than this in an arm, and the report warns that the lift's interval covers the truth
# less often than it says: the smallest clicks per arm from which on the delta interval's coverage
# of the true lift stays within 2 points of 95% in every design of the A/A simulation
# benchmarks/few_clicks_coverage.py (results/few_clicks_coverage.md: 100, 500 and 2,000 users per
# arm), so that the warning stays quiet only where the stated level holds.
MIN_CLICKS = 30

Severity = Literal["stop", "caution", "note"]


@dataclass(frozen=True)
class ReportWarning:
    """One warning of a report, in plain words, and how much it weighs."""

    text: str
    severity: Severity


# Where the interval omits the lineage variance, how to measure it (the apps say it their way).
LINEAGE_HINT = (
    "measure it for your design with abtest-sim-forecast, and pass the measured SDs as lineage_sd"
)


def headline_warnings(
    lead: Estimate,
    aa_lift: LiftResult | None,
    srm_p: float,
    alpha: float,
    undefined_days: Mapping[str, str],
    data: Sequence[ReportWarning] = (),
    lineage_note: str = LINEAGE_HINT,
) -> list[ReportWarning]:
    """Warnings that belong in the headline, most serious first; ``data``: ``data_warnings``;
    ``lineage_note``: how to measure the lineage variance, said when the interval omits it."""
    out = []
    if srm_p < SRM_ALARM:
        text = (
            f"Sample ratio mismatch (p = {srm_p:.2g}): the arms' user counts are not the designed "
            "split, so the assignment or the logging is broken; do not trust any lift."
        )
        out.append(ReportWarning(text, "stop"))
    if aa_lift is not None and aa_lift.p_value < alpha:
        text = (
            f"The A/A pre-period is itself significant ({100 * aa_lift.lift:+.2f}%, p = "
            f"{aa_lift.p_value:.2g}): the buckets differed before the treatment (chance, or "
            "model-lineage divergence). Read the A/B - A/A or CUPED estimate, not the raw lift."
        )
        out.append(ReportWarning(text, "stop"))
    out += data
    if lead.lineage_sd is None:
        text = (
            "The interval holds the noise of which users landed where and of their clicks, not "
            f"model-lineage variance (models trained on different users diverge): {lineage_note}."
        )
        out.append(ReportWarning(text, "note"))
    if undefined_days:
        days = "; ".join(f"day {day}: {why}" for day, why in undefined_days.items())
        text = (
            f"The lift is undefined on {len(undefined_days)} day(s) ({days}); those days are "
            "blank in daily.csv and left out of the daily means (pooled lifts keep their data)."
        )
        out.append(ReportWarning(text, "caution"))
    return out


def diverged_warning(diverged: Mapping[str, str]) -> ReportWarning:
    arms = "; ".join(f"{arm}: {why}" for arm, why in diverged.items())
    text = (
        f"A model diverged ({arms}): its predictions are not a ranking, and no lift of this run "
        "means anything about the recipe; lower the learning rate or check the training data."
    )
    return ReportWarning(text, "stop")


def data_warnings(
    table: DailyTable, estimates: Mapping[str, Estimate], alpha: float
) -> list[ReportWarning]:
    """What the data allow the intervals: too few clicks (caution), intervals moved off the delta
    method (note)."""
    few, floored = _few_clicks(table), _floored(table, estimates, alpha)
    out = [ReportWarning(few, "caution")] if few else []
    return out + ([ReportWarning(floored, "note")] if floored else [])


def _few_clicks(table: DailyTable) -> str | None:
    design = table.design
    ab_clicks = {name: int(log.clicks[design.mask("ab")].sum()) for name, log in table.logs.items()}
    few = {name: clicks for name, clicks in ab_clicks.items() if clicks < MIN_CLICKS}
    fewest = np.min([log.clicks.sum(axis=1) for log in table.logs.values()], axis=0)
    thin = np.array(design.labels)[(fewest < MIN_CLICKS) & ~design.undefined].tolist()
    if not few and not thin:
        return None
    where = []
    if few:
        where.append("over the A/B days (" + ", ".join(f"{n}: {c}" for n, c in few.items()) + ")")
    if thin:
        where.append(f"on {len(thin)} day(s) (day {_listed(thin)})")
    return (
        f"Few clicks: an arm has fewer than {MIN_CLICKS} clicks {', and '.join(where)}. With "
        f"fewer than {MIN_CLICKS} clicks per arm a lift's 95% "
        "interval covers the true lift clearly less often than 95% (A/A simulation: "
        "benchmarks/results/few_clicks_coverage.md); read those lifts as rough indications."
    )


def _floored(table: DailyTable, estimates: Mapping[str, Estimate], alpha: float) -> str | None:
    """Name the rows whose interval left the delta method to stay above -100% (they are found
    as ``lift_floor`` finds them: from the lift and its delta SE)."""
    z = z_critical(alpha)
    main = table.main
    rows = [f"day {d}" if d != AVERAGE else f"the {PHASE_NAMES[p]} Average"
            for d, p in zip(main["day"], main["phase"], strict=True)]  # fmt: skip
    moved, clipped = [], []
    for estimator in estimators():  # the estimators whose daily rows are relative lifts
        if estimator.row_label is None or not estimator.bounded:
            continue
        lift, se = estimator.result_columns[:2]
        kind = _kind(main[lift], main[se], z)
        named = [f"{estimator.row_label} {row}".lstrip() for row in rows]
        moved += [named[i] for i in np.flatnonzero(kind != DELTA)]
        clipped += [named[i] for i in np.flatnonzero(kind == CLIPPED)]
    pooled = _kind(table.pooled_so_far["lift"], table.pooled_so_far["se"], z)
    if (pooled != DELTA).any():
        moved.append(f"{int((pooled != DELTA).sum())} day(s) of the pooled lift so far")
    moved += [f"the {e.label}" for e in estimates.values() if e.interval != "delta"]
    if not moved:
        return None
    text = (
        f"The delta interval of a lift reaches -100% or below on {_listed(moved)}; a CTR cannot "
        "fall by more than 100%, so those show the log-ratio interval, exp(log(1 + lift) +- "
        "z se / (1 + lift)) - 1, and its p-value"
    )
    if clipped:
        text += f" (clipped at -100% where the treatment has no click: {_listed(clipped)})"
    return text + "."


def _kind(lift: pl.Series, se: pl.Series, z: float) -> np.ndarray:
    value = lift.cast(pl.Float64).fill_null(np.nan).to_numpy()
    half = z * se.cast(pl.Float64).fill_null(np.nan).to_numpy()
    return floor_interval(value, half, value - half, value + half)[2]


def _listed(names: Sequence[str], most: int = 6) -> str:
    shown = ", ".join(names[:most])
    return shown if len(names) <= most else f"{shown} and {len(names) - most} more"
