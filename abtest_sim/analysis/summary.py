"""The headline numbers of a report (``ReportSummary``, summary.json): every estimator of the A/B
lift with its truths, the A/A pre-period's own test, the checks around them and the warnings."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import polars as pl

from abtest_sim.analysis.daily_columns import AVERAGE, LIFT_COLUMNS, SHARED_CONTROL_COLUMNS
from abtest_sim.analysis.daily_table import DailyTable
from abtest_sim.analysis.estimator_base import AbRows, Estimate
from abtest_sim.analysis.estimators import estimator, estimators
from abtest_sim.analysis.options import ReportOptions, headline_estimator
from abtest_sim.analysis.warnings import (
    LINEAGE_HINT,
    ReportWarning,
    data_warnings,
    diverged_warning,
    headline_warnings,
)
from abtest_sim.stats import LiftResult, minimum_detectable_lift_from_se, srm_test

__all__ = ["ReportSummary", "json_ready", "summarise", "with_diverged"]


@dataclass(frozen=True)
class ReportSummary:
    """Headline numbers: the treatment pair's A/B Average row and the checks around it."""

    report_dir: Path
    control: str
    treatment: str
    aa_control: str | None
    alpha: float
    days: int
    aa_days: int
    ab_days: int
    users: dict[str, int]
    average: LiftResult
    pooled: LiftResult
    naive_p_value: float
    design_effect: float
    ab_minus_aa: LiftResult | None
    cuped: LiftResult | None
    shared_control: LiftResult | None
    srm_p_value: float
    aa_lift: LiftResult | None  # the pre-period's own Average lift (an A/A test)
    estimates: dict[str, Estimate]  # every A/B estimator the log allows, with its truths
    headline: str  # the key of ``estimates`` the report leads with
    alerts: list[ReportWarning]  # the warnings, most serious first (summary.json: "warnings")
    truth: dict[str, Any] | None  # launch effect, test target and their gap (simulations)
    daily_coverage: dict[str, float | None] | None  # share of A/B days whose interval covers
    mde_80: float
    max_interval_gap: float
    aa_week_id: str | None  # fingerprint of the A/A pre-period's data (identical weeks: equal)
    daily: pl.DataFrame = field(repr=False, compare=False)
    diverged: dict[str, str] = field(default_factory=dict)  # arm -> why its model is not sane
    # Where the estimators' lineage SDs came from (a measurement of the design), or, without
    # them, how to measure them
    lineage_note: str = ""

    @property
    def lead(self) -> Estimate:
        return self.estimates[self.headline]

    @property
    def warnings(self) -> list[str]:
        """The warnings' texts, most serious first."""
        return [alert.text for alert in self.alerts]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (NaN and infinities become None); ``daily`` is left out."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "daily":
                continue
            if isinstance(value, LiftResult):
                value = {
                    k: getattr(value, k)
                    for k in ("lift", "se", "ci_low", "ci_high", "p_value", "method")
                }
            if name == "estimates":
                value = {key: estimate.to_dict() for key, estimate in value.items()}
            if name == "alerts":
                name, value = "warnings", [alert.text for alert in value]
            out[name] = str(value) if isinstance(value, Path) else value
        return json_ready(out)


def json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _row_result(
    row: Mapping[str, Any] | None, names: tuple[str, ...], alpha: float
) -> LiftResult | None:
    """The delta-method result in the columns ``names`` (value, se, low, high, p) of ``row``."""
    if row is None:
        return None
    value, se, low, high, p = (row[n] for n in names)
    return (
        None if value is None else LiftResult(value, low, high, p, se, method="delta", alpha=alpha)
    )


def _max_interval_gap(ab_days: pl.DataFrame) -> float:
    """The largest distance of a log-ratio or Fieller bound from the delta bound on an A/B day."""
    gaps = [
        (ab_days[f"{method}_{bound}"] - ab_days[bound]).abs().max()
        for method in ("log", "fieller")
        for bound in ("ci_low", "ci_high")
    ]
    return float(max(g for g in gaps if g is not None and math.isfinite(g)))


def summarise(
    table: DailyTable,
    unit_days: pl.DataFrame,
    *,
    options: ReportOptions,
    report_dir: Path,
    lineage_note: str = LINEAGE_HINT,
) -> ReportSummary:
    """The headline numbers of a computed daily table (with its cumulative lift);
    ``lineage_note``: where the lineage SDs came from, or how to measure them (say the app)."""
    alpha = options.alpha
    rows = table.ab_rows
    row, aa_row = rows.ab, rows.aa
    ab_days = table.main.filter((pl.col("day") != AVERAGE) & (pl.col("phase") == "ab"))
    everyone = np.ones(table.design.n_days, dtype=bool)
    users = {name: log.users(everyone) for name, log in table.logs.items()}
    arms = list(table.logs)
    estimates = _estimates(rows, options)
    headline = headline_estimator(options.headline, estimates)
    srm_p = srm_test(list(users.values()), table.shares).p_value
    aa_lift = _row_result(aa_row, LIFT_COLUMNS, alpha)
    undefined, data = table.undefined_days, data_warnings(table, estimates, alpha)
    return ReportSummary(
        report_dir=report_dir,
        control=arms[0],
        treatment=arms[1],
        aa_control=arms[2] if len(arms) > 2 else None,
        alpha=alpha,
        days=table.design.n_days,
        aa_days=int(table.design.mask("aa").sum()),
        ab_days=int(table.design.mask("ab").sum()),
        users=users,
        average=_defined(estimator("mean_daily").lift_result(rows, alpha)),
        pooled=_defined(estimator("pooled").lift_result(rows, alpha)),
        naive_p_value=row["naive_p_value"],
        design_effect=row["design_effect"],
        ab_minus_aa=estimator("ab_minus_aa").lift_result(rows, alpha),
        cuped=estimator("cuped").lift_result(rows, alpha),
        shared_control=_row_result(row, SHARED_CONTROL_COLUMNS[2:], alpha),
        srm_p_value=srm_p,
        aa_lift=aa_lift,
        estimates=estimates,
        headline=headline,
        alerts=headline_warnings(
            estimates[headline], aa_lift, srm_p, alpha, undefined, data, lineage_note
        ),
        lineage_note=lineage_note,
        truth=_truth_summary(row, aa_row),
        daily_coverage=_daily_coverage(ab_days),
        mde_80=minimum_detectable_lift_from_se(
            estimates[headline].se_total, alpha=alpha, power=0.8
        ),
        max_interval_gap=_max_interval_gap(ab_days),
        aa_week_id=_aa_week_id(unit_days, table.logs),
        daily=table.frame,
    )


def _defined(result: LiftResult | None) -> LiftResult:
    """The A/B phase's mean daily and pooled lifts: a report needs a defined A/B day."""
    assert result is not None, "the A/B phase has a defined day (unit_days refuses others)"
    return result


def _pooled_truth(row: Mapping[str, Any], truth: str) -> float | None:
    control, treatment = row[f"{truth}_ctr_control"], row[f"{truth}_ctr_treatment"]
    if control is None or treatment is None:
        return None
    return treatment / control - 1.0


def _difference(ab: float | None, aa: float | None) -> float | None:
    return None if ab is None or aa is None else ab - aa


def _estimates(rows: AbRows, options: ReportOptions) -> dict[str, Estimate]:
    """Every registered estimator the log allows, with its truths and lineage component."""
    out = {}
    for kind in estimators():
        lineage_sd = options.lineage_sd.get(kind.key)
        estimate = kind.estimate(rows, alpha=options.alpha, lineage_sd=lineage_sd)
        if estimate is not None:
            out[kind.key] = estimate
    return out


def with_diverged(summary: ReportSummary, diverged: Mapping[str, str]) -> ReportSummary:
    alerts = [diverged_warning(diverged), *summary.alerts]
    return replace(summary, diverged=dict(diverged), alerts=alerts)


def _truth_summary(row: Mapping[str, Any], aa_row: Mapping[str, Any] | None) -> dict | None:
    if row["target_lift"] is None and row["launch_lift"] is None:
        return None
    out: dict[str, Any] = {}
    for truth in ("launch", "target"):
        out[truth] = {
            "mean_daily": row[f"{truth}_lift"],
            "pooled": _pooled_truth(row, truth),
            "aa_mean_daily": None if aa_row is None else aa_row[f"{truth}_lift"],
        }
    out["test_to_launch_bias"] = {
        key: _difference(out["target"][key], out["launch"][key]) for key in ("mean_daily", "pooled")
    }
    return out


def _daily_coverage(ab_days: pl.DataFrame) -> dict[str, float | None] | None:
    out = {}
    for truth in ("target", "launch"):
        flags = ab_days[f"covers_{truth}"].drop_nulls()
        out[truth] = float(cast(float, flags.mean())) if flags.len() else None
    return out if any(v is not None for v in out.values()) else None


def _aa_week_id(unit_days: pl.DataFrame, logs: Mapping[str, Any]) -> str | None:
    """A fingerprint of the pre-period's per-user data of the compared arms: two runs with the
    same A/A week (a sweep over recipes that share seed and warm-up) have the same id, so an
    aggregate counts that A/A test once."""
    if "phase" not in unit_days.columns:
        return None
    rows = unit_days.filter(
        (pl.col("phase") == "aa") & pl.col("arm").cast(pl.String).is_in(list(logs))
    )
    if rows.is_empty():
        return None
    rows = rows.select(
        pl.col("unit").cast(pl.String),
        pl.col("arm").cast(pl.String),
        pl.col("day").cast(pl.String),
        pl.col("clicks").cast(pl.Float64),
        pl.col("impressions").cast(pl.Float64),
    ).sort("arm", "day", "unit")
    return hashlib.sha256(rows.hash_rows(seed=0).to_numpy().tobytes()).hexdigest()[:16]
