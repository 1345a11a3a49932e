"""The analysis of a test's log from Python (a notebook): several metrics, several treatments.

    from abtest_sim import Metric, analyze
    result = analyze(log, metrics=[Metric.ratio("ctr", "clicks", "impressions"),
                                   Metric.mean("revenue per user-day", "revenue")],
                     control="A", treatments=["B", "C"], aa_days=7)
    result.overall  # one row per metric and treatment: the headline lift, its interval, p, Holm
    result.daily    # one row per metric, treatment and day: the day's lift, interval, p

Each (metric, treatment) pair is read by the report's own daily table
(``abtest_sim.analysis.daily_table``) and its headline estimator (CUPED with an A/A pre-period,
else the lift pooled over the A/B days, as ``abtest-analyze`` chooses). The p-values are adjusted
across every metric and treatment of the call by Holm's method (``p_holm``). Arms in the log that
are neither the control nor a treatment are listed in ``unnamed_arms``. The SRM test compares the
units of all the analysed arms once (equal shares unless ``shares`` is given).

The first metric is the primary one, the others secondary; ``guardrails`` (metric name ->
non-inferiority margin, e.g. 0.01) marks metrics that must not fall by more than the margin: their
rows say whether the interval's lower bound clears it (``passes``) and stay out of Holm's family.
``segments`` (unit-level columns, e.g. platform) give the primary metric's lift per segment value
(``result.segments``: interval, p, Holm over segment values and treatments, SRM per segment):
exploratory, since segments were not randomised separately and many are compared.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from abtest_sim.analysis.daily_table import DailyTable, daily_table
from abtest_sim.analysis.estimator_base import Estimate
from abtest_sim.analysis.estimators import estimators
from abtest_sim.analysis.log_days import LogDaysError, with_aa_days
from abtest_sim.analysis.metrics import Metric, MetricError
from abtest_sim.analysis.options import ReportOptionsError, headline_estimator
from abtest_sim.analysis.unit_days import ReportInputError
from abtest_sim.stats import srm_test
from abtest_sim.stats.daily import adjust_p_values

__all__ = ["Analysis", "AnalysisError", "analyze"]

KEYS = ("unit", "arm", "day")


class AnalysisError(ValueError):
    """A log or settings the analysis cannot use; the message is one line."""


@dataclass(frozen=True)
class Analysis:
    """What ``analyze`` gives: tidy polars frames and the settings they rest on."""

    overall: pl.DataFrame  # metric x treatment: headline lift, interval, p, Holm p, arm means
    daily: pl.DataFrame  # metric x treatment x day: the day's lift, interval and p
    segments: pl.DataFrame  # segment value x treatment: the primary metric's lift (exploratory)
    control: str
    alpha: float
    srm_p_value: float  # units of every analysed arm against their shares, once per test
    unnamed_arms: tuple[str, ...]  # arms in the log not analysed

    def _repr_html_(self) -> str:
        """The overall table, for a notebook."""
        shown = ("metric", "role", "treatment", "estimator", "lift", "ci_low", "ci_high", "p_holm",
                 "passes")  # fmt: skip
        head = "".join(f"<th>{html.escape(c)}</th>" for c in shown)
        rows = "".join(
            "<tr>" + "".join(f"<td>{_cell(row[c], c)}</td>" for c in shown) + "</tr>"
            for row in self.overall.iter_rows(named=True)
        )
        note = f"control {html.escape(self.control)}; SRM p = {self.srm_p_value:.4g}"
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table><p>{note}</p>"


def _cell(value: object, column: str) -> str:
    if isinstance(value, float):
        return f"{100 * value:+.2f}%" if column in ("lift", "ci_low", "ci_high") else f"{value:.4g}"
    return html.escape(str(value))


def analyze(
    log: pl.DataFrame,
    *,
    metrics: Sequence[Metric],
    control: str,
    treatments: Sequence[str],
    unit: str = "unit",
    arm: str = "arm",
    day: str = "day",
    aa_days: int | None = None,
    alpha: float = 0.05,
    headline: str = "auto",
    shares: Mapping[str, float] | None = None,
    guardrails: Mapping[str, float] | None = None,
    segments: Sequence[str] = (),
) -> Analysis:
    """Every metric of every treatment against ``control`` (see the module docstring). ``log``:
    one row per impression, session or (unit, day), with the metrics' columns; ``aa_days``: the
    first days (in sorted order) were an A/A pre-period on the same units."""
    try:
        table = _keyed(log, unit, arm, day, aa_days)
        analysed = [str(control), *(str(t) for t in treatments)]
        metrics = _unique(metrics, guardrails or {})
        pairs = [
            (metric, treatment, _pair_table(metric, table, control, treatment, alpha))
            for metric in metrics
            for treatment in analysed[1:]
        ]
        overall = pl.DataFrame([_overall_row(*pair, control, headline, alpha) for pair in pairs])
        srm = _srm(table, analysed, shares)
        by_segment = _segments(table, metrics[0], analysed, segments, shares, headline, alpha)
    except (MetricError, ReportInputError, ReportOptionsError, LogDaysError) as error:
        raise AnalysisError(str(error)) from None
    overall = _with_roles(overall, metrics[0], guardrails or {})
    daily = pl.concat([_daily_rows(*pair) for pair in pairs])
    unnamed = tuple(sorted(set(table["arm"].unique().to_list()) - set(analysed)))
    return Analysis(overall, daily, by_segment, str(control), alpha, srm, unnamed)


def _with_roles(
    overall: pl.DataFrame, primary: Metric, guardrails: Mapping[str, float]
) -> pl.DataFrame:
    """Each row's role (primary, secondary, guardrail), a guardrail's margin and whether its
    interval's lower bound clears -margin, and Holm's p over the non-guardrail rows."""
    names = overall["metric"].to_list()
    role = ["primary" if n == primary.name else "guardrail" if n in guardrails else "secondary"
            for n in names]  # fmt: skip
    margin = [guardrails.get(n) for n in names]
    passes = [None if m is None else bool(low > -m)
              for m, low in zip(margin, overall["ci_low"].to_list(), strict=True)]  # fmt: skip
    family = np.array([r != "guardrail" for r in role])
    p = np.where(family, overall["p_value"].to_numpy(), np.nan)
    return overall.with_columns(
        pl.Series("role", role),
        pl.Series("margin", margin, dtype=pl.Float64),
        pl.Series("passes", passes, dtype=pl.Boolean),
        pl.Series("p_holm", adjust_p_values(p, "holm"), nan_to_null=True),
    )


def _keyed(log: pl.DataFrame, unit: str, arm: str, day: str, aa_days: int | None) -> pl.DataFrame:
    """The log with its unit, arm and day columns named as the daily table reads them, and the
    pre-period's days marked (a ``phase`` column) when ``aa_days`` is given."""
    if not isinstance(log, pl.DataFrame):
        raise AnalysisError(f"log must be a polars DataFrame, got {type(log).__name__}")
    missing = [c for c in (unit, arm, day) if c not in log.columns]
    if missing:
        raise AnalysisError(f"no column(s) {', '.join(missing)} (have: {', '.join(log.columns)})")
    renamed = {unit: "unit", arm: "arm", day: "day"}
    clashing = [c for c in KEYS if c in log.columns and renamed.get(c, c) != c]
    table = log.drop(clashing).rename({k: v for k, v in renamed.items() if k != v})
    table = table.with_columns(pl.col("arm").cast(pl.String))
    return table if aa_days is None else with_aa_days(table, aa_days)


def _unique(metrics: Sequence[Metric], guardrails: Mapping[str, float]) -> Sequence[Metric]:
    """The metrics, checked: at least one, names unique, guardrails named among them (not the
    primary) with a positive margin."""
    if not metrics:
        raise MetricError("give at least one metric")
    names = [m.name for m in metrics]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise MetricError(f"metric names must differ: {', '.join(repeated)} appear twice")
    for name, margin in guardrails.items():
        if name not in names[1:]:
            raise MetricError(f"guardrail {name!r} is not one of the secondary metrics")
        if not (isinstance(margin, int | float) and 0 < margin < 1):
            raise MetricError(f"guardrail {name!r}: the margin must lie in (0, 1), got {margin}")
    return metrics


def _pair_table(
    metric: Metric, table: pl.DataFrame, control: str, treatment: str, alpha: float
) -> DailyTable:
    keys = (*KEYS, *(["phase"] if "phase" in table.columns else []))
    unit_days = metric.unit_days(table, keys)
    return daily_table(unit_days, control=control, treatment=treatment, alpha=alpha, counts=False)


def _overall_row(
    metric: Metric, treatment: str, table: DailyTable, control: str, headline: str, alpha: float
) -> dict[str, object]:
    rows = table.ab_rows
    available: dict[str, Estimate] = {}
    for each in estimators():
        estimate = each.estimate(rows, alpha=alpha, lineage_sd=None)
        if estimate is not None:
            available[each.key] = estimate
    lead = available[headline_estimator(headline, available)]
    if not lead.se > 0:
        raise MetricError(
            f"metric {metric.name!r} has no variance between units for {treatment} against "
            f"{control}: nothing to test"
        )
    arms = (table.logs[control], table.logs[treatment])
    ab = table.design.mask("ab")
    values = [float(log.clicks[ab].sum() / log.impressions[ab].sum()) for log in arms]
    units = [int(log.present[ab].any(axis=0).sum()) for log in arms]
    return {
        "metric": metric.name, "kind": metric.kind, "treatment": treatment,
        "estimator": lead.name, "lift": lead.lift, "se": lead.se, "ci_low": lead.ci_low,
        "ci_high": lead.ci_high, "p_value": lead.p_value, "control_value": values[0],
        "treatment_value": values[1], "units_control": units[0], "units_treatment": units[1],
    }  # fmt: skip


def _daily_rows(metric: Metric, treatment: str, table: DailyTable) -> pl.DataFrame:
    days = table.main.filter(pl.col("day") != "Average")
    return days.select(
        pl.lit(metric.name).alias("metric"),
        pl.lit(treatment).alias("treatment"),
        "day", "phase", "lift", "ci_low", "ci_high", "p_value",
    )  # fmt: skip


def _srm(table: pl.DataFrame, arms: Sequence[str], shares: Mapping[str, float] | None) -> float:
    units = (
        table.filter(pl.col("arm").is_in(list(arms))).group_by("arm").agg(pl.col("unit").n_unique())
    )
    counts = dict(units.iter_rows())
    missing = [a for a in arms if a not in counts]
    if missing:
        raise AnalysisError(f"arm(s) {', '.join(missing)} not in the log")
    if shares is not None and (absent := [a for a in arms if a not in shares]):
        raise AnalysisError(f"shares has no entry for arm(s) {', '.join(absent)}")
    weights = None if shares is None else np.array([float(shares[a]) for a in arms])
    return float(srm_test([counts[a] for a in arms], weights).p_value)


def _segments(
    table: pl.DataFrame,
    primary: Metric,
    arms: Sequence[str],
    columns: Sequence[str],
    shares: Mapping[str, float] | None,
    headline: str,
    alpha: float,
) -> pl.DataFrame:
    """The primary metric's headline lift per segment value and treatment, Holm over them all,
    with each segment's SRM p-value."""
    rows = []
    for column, value, part in _segment_parts(table, columns, arms):
        srm = _srm(part, arms, shares)
        for treatment in arms[1:]:
            pair = _pair_table(primary, part, arms[0], treatment, alpha)
            row = _overall_row(primary, treatment, pair, arms[0], headline, alpha)
            rows.append({"segment": column, "value": str(value), "treatment": treatment,
                         **{k: row[k] for k in ("estimator", "lift", "se", "ci_low", "ci_high",
                                                "p_value", "units_control", "units_treatment")},
                         "srm_p_value": srm})  # fmt: skip
    if not rows:
        return pl.DataFrame(schema={"segment": pl.String, "value": pl.String})
    frame = pl.DataFrame(rows)
    return frame.with_columns(
        pl.Series("p_holm", adjust_p_values(frame["p_value"].to_numpy(), "holm"))
    )


def _segment_parts(
    table: pl.DataFrame, columns: Sequence[str], arms: Sequence[str]
) -> list[tuple[str, object, pl.DataFrame]]:
    """(column, value, the log's rows of that segment) for every segment value, after checking
    that a unit stays in one segment and each analysed arm has 2 units in each."""
    parts = []
    for column in columns:
        if column not in table.columns:
            raise MetricError(f"segment {column!r}: no such column")
        per_unit = table.group_by("unit").agg(pl.col(column).n_unique().alias("values"))
        if (per_unit["values"] > 1).any():
            raise MetricError(f"segment {column!r}: a unit has more than one value; a segment "
                              "is a property of the unit")  # fmt: skip
        for value in table[column].unique().sort().to_list():
            part = table.filter(pl.col(column) == value)
            counts = part.group_by("arm").agg(pl.col("unit").n_unique())
            units = dict(counts.iter_rows())
            thin = [a for a in arms if units.get(a, 0) < 2]
            if thin:
                raise MetricError(f"segment {column}={value} has fewer than 2 units in arm(s) "
                                  f"{', '.join(thin)}: nothing to estimate")  # fmt: skip
            parts.append((column, value, part))
    return parts
