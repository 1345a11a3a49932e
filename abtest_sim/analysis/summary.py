"""The headline numbers of a report (``ReportSummary``, summary.json): every estimator of the A/B
lift with its truths, the A/A pre-period's own test, the checks around them and the warnings."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from abtest_sim.analysis.daily_columns import AVERAGE
from abtest_sim.analysis.daily_table import DailyTable
from abtest_sim.analysis.estimates import Estimate, ReportOptions, headline_estimator, with_lineage
from abtest_sim.analysis.warnings import data_warnings, diverged_warning, headline_warnings
from abtest_sim.stats import LiftResult, minimum_detectable_lift_from_se, srm_test

__all__ = ["ReportSummary", "json_ready", "summarise", "with_diverged"]


_RESULT_COLUMNS = {
    "average": ("lift", "se", "ci_low", "ci_high", "p_value"),
    "ab_minus_aa": (
        "ab_minus_aa",
        "ab_minus_aa_se",
        "ab_minus_aa_ci_low",
        "ab_minus_aa_ci_high",
        "ab_minus_aa_p_value",
    ),
    "cuped": ("cuped_lift", "cuped_se", "cuped_ci_low", "cuped_ci_high", "cuped_p_value"),
    "shared_control": (
        "shared_control_lift",
        "shared_control_se",
        "shared_control_ci_low",
        "shared_control_ci_high",
        "shared_control_p_value",
    ),
}


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
    warnings: list[str]
    truth: dict[str, Any] | None  # launch effect, test target and their gap (simulations)
    daily_coverage: dict[str, float | None] | None  # share of A/B days whose interval covers
    mde_80: float
    max_interval_gap: float
    aa_week_id: str | None  # fingerprint of the A/A pre-period's data (identical weeks: equal)
    daily: pl.DataFrame = field(repr=False, compare=False)
    diverged: dict[str, str] = field(default_factory=dict)  # arm -> why its model is not sane

    @property
    def lead(self) -> Estimate:
        return self.estimates[self.headline]

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


def _row_result(row: Mapping[str, Any], kind: str, alpha: float) -> LiftResult | None:
    value, se, low, high, p = (row[n] for n in _RESULT_COLUMNS[kind])
    if value is None:
        return None
    method = "delta" if kind != "cuped" else "cuped"
    return LiftResult(value, low, high, p, se, method=method, alpha=alpha)


def summarise(
    table: DailyTable,
    cumulative: pl.DataFrame,
    unit_days: pl.DataFrame,
    *,
    options: ReportOptions,
    report_dir: Path,
) -> ReportSummary:
    """The headline numbers of a computed daily table (and its cumulative lift)."""
    alpha = options.alpha
    row = table.ab_average
    aa_row = _average_row(table.main, "aa")
    whole = cumulative.row(cumulative.height - 1, named=True)  # all A/B days pooled
    ab_days = table.main.filter((pl.col("day") != AVERAGE) & (pl.col("phase") == "ab"))
    gaps = [
        (ab_days[f"{method}_{bound}"] - ab_days[bound]).abs().max()
        for method in ("log", "fieller")
        for bound in ("ci_low", "ci_high")
    ]
    everyone = np.ones(table.design.n_days, dtype=bool)
    users = {name: log.users(everyone) for name, log in table.logs.items()}
    arms = list(table.logs)
    estimates = _estimates(row, aa_row, whole, options)
    headline = headline_estimator(options.headline, estimates)
    srm_p = srm_test(list(users.values()), table.shares).p_value
    aa_lift = _row_result(aa_row, "average", alpha) if aa_row else None
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
        average=_row_result(row, "average", alpha),
        pooled=_row_result(whole, "average", alpha),
        naive_p_value=row["naive_p_value"],
        design_effect=row["design_effect"],
        ab_minus_aa=_row_result(row, "ab_minus_aa", alpha),
        cuped=_row_result(row, "cuped", alpha),
        shared_control=_row_result(row, "shared_control", alpha),
        srm_p_value=srm_p,
        aa_lift=aa_lift,
        estimates=estimates,
        headline=headline,
        warnings=headline_warnings(estimates[headline], aa_lift, srm_p, alpha, undefined, data),
        truth=_truth_summary(row, aa_row),
        daily_coverage=_daily_coverage(ab_days),
        mde_80=minimum_detectable_lift_from_se(
            estimates[headline].se_total, alpha=alpha, power=0.8
        ),
        max_interval_gap=float(max(g for g in gaps if g is not None and math.isfinite(g))),
        aa_week_id=_aa_week_id(unit_days, table.logs),
        daily=table.frame,
    )


def _average_row(frame: pl.DataFrame, phase: str) -> dict[str, Any] | None:
    rows = frame.filter((pl.col("day") == AVERAGE) & (pl.col("phase") == phase))
    return rows.row(0, named=True) if rows.height else None


def _pooled_truth(row: Mapping[str, Any], truth: str) -> float | None:
    control, treatment = row[f"{truth}_ctr_control"], row[f"{truth}_ctr_treatment"]
    if control is None or treatment is None:
        return None
    return treatment / control - 1.0


def _difference(ab: float | None, aa: float | None) -> float | None:
    return None if ab is None or aa is None else ab - aa


def _estimates(
    row: Mapping[str, Any],
    aa_row: Mapping[str, Any] | None,
    whole: Mapping[str, Any],
    options: ReportOptions,
) -> dict[str, Estimate]:
    """Every estimator the log allows, with its truths: the mean daily lift, CUPED and their
    truths are means of daily lifts; the pooled lift's truths are pooled; A/B - A/A's subtract
    the pre-period's truths."""
    sources: dict[str, tuple[float | None, float | None, dict[str, float | None]]] = {
        "pooled": (
            whole["lift"],
            whole["se"],
            {t: _pooled_truth(row, t) for t in ("target", "launch")},
        ),
        "mean_daily": (row["lift"], row["se"], {t: row[f"{t}_lift"] for t in ("target", "launch")}),
        "ab_minus_aa": (
            row["ab_minus_aa"],
            row["ab_minus_aa_se"],
            {
                t: _difference(row[f"{t}_lift"], aa_row and aa_row[f"{t}_lift"])
                for t in ("target", "launch")
            },
        ),
        "cuped": (
            row["cuped_lift"],
            row["cuped_se"],
            {t: row[f"{t}_lift"] for t in ("target", "launch")},
        ),
    }
    out = {}
    for name, (lift, se, truths) in sources.items():
        if lift is None or se is None:
            continue
        out[name] = with_lineage(
            name,
            float(lift),
            float(se),
            alpha=options.alpha,
            lineage_sd=options.lineage_sd.get(name),
            **truths,
        )
    return out


def with_diverged(summary: ReportSummary, diverged: Mapping[str, str]) -> ReportSummary:
    warnings = [diverged_warning(diverged), *summary.warnings]
    return replace(summary, diverged=dict(diverged), warnings=warnings)


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
        out[truth] = float(flags.mean()) if flags.len() else None
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
