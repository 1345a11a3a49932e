"""The A/B test report, for simulated and real logs alike: one entry point, ``write_report``.

Input: one row per (unit, arm, day) with ``clicks`` and ``impressions``, an optional ``phase`` ("aa"
for the pre-period A/A days on the same users, "ab" for the treatment days) and optional
``true_clicks`` (the sum of the simulator's p_true). Output under ``<out_dir>/report/``:

- ``daily.csv`` (**contract**, columns ``DAILY_COLUMNS``), ``summary.json``, ``report.md``,
  ``arms.csv`` (CTR per arm and day), ``cumulative.csv`` (lift of the pooled CTR so far);
- ``daily_lift.png``, ``cumulative_lift.png``, ``ctr_per_arm.png``.

Everything is computed before anything is written; the folder is written beside its final place and
renamed into it, so a failed run leaves no half-written report. The same input gives the same bytes.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from abtest_sim.stats import LiftResult, minimum_detectable_lift_from_se, srm_test
from abtest_sim.stats.daily_table import (
    AVERAGE,
    DAILY_COLUMNS,
    DailyTable,
    arm_days,
    cumulative_lift,
    daily_table,
)
from abtest_sim.stats.unit_days import ReportInputError

__all__ = ["DAILY_COLUMNS", "ReportInputError", "ReportSummary", "write_report"]

METHOD_NOTE = (
    "Intervals and p-values: delta method on the relative lift R_B / R_A - 1, with the log's units "
    "(users) as the independent observations (per-unit clicks and impressions) and a normal "
    "approximation. Users, not impressions, are randomised and one user's impressions are "
    "correlated, so the naive binomial test is shown "
    "only as a diagnostic, beside its design effect (variance ratio of the right test to the "
    "naive one). The delta interval is shown rather than the log-ratio or Fieller interval because "
    "the Average and A/B - A/A rows are linear combinations of daily lifts, whose joint covariance "
    "the delta method gives exactly from per-user influence functions."
)
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
    true_lift: float | None
    covered: bool | None
    daily_coverage: float | None
    mde_80: float
    max_interval_gap: float
    daily: pl.DataFrame = field(repr=False, compare=False)

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
            out[name] = str(value) if isinstance(value, Path) else value
        return _json_ready(out)


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
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
    table: DailyTable, cumulative: pl.DataFrame, *, alpha: float, report_dir: Path
) -> ReportSummary:
    """The headline numbers of a computed daily table (and its cumulative lift)."""
    row = table.ab_average
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
        srm_p_value=srm_test(list(users.values()), table.shares).p_value,
        true_lift=row["true_lift"],
        covered=row["covers_true"],
        daily_coverage=None if row["true_lift"] is None else ab_days["covers_true"].mean(),
        mde_80=minimum_detectable_lift_from_se(row["se"], alpha=alpha, power=0.8),
        max_interval_gap=float(max(g for g in gaps if g is not None and math.isfinite(g))),
        daily=table.frame,
    )


def write_report(
    unit_days: pl.DataFrame,
    out_dir: Path | str,
    *,
    control: str,
    treatment: str,
    aa_control: str | None = None,
    alpha: float = 0.05,
    shares: Mapping[str, float] | None = None,
    metadata: Mapping[str, Any] | None = None,
    policy_truth: pl.DataFrame | None = None,
) -> ReportSummary:
    """Analyse a per-(unit, arm, day) table and write ``<out_dir>/report/``.

    ``unit_days``: columns unit, arm, day, clicks, impressions; optional phase ("aa" / "ab") and
    true_clicks. ``aa_control``: a concurrent second control (A/A'), giving the shared-control
    A/B minus A/A. ``shares``: the designed share of users per arm for the SRM test (default:
    equal). ``metadata`` goes into summary.json (e.g. where the log came from). Raises
    ``ReportInputError`` (a ``ValueError``) with a one-line message when the table is unusable.
    ``policy_truth`` (day, arm, true_clicks, impressions): a simulator's evaluation of each arm's
    policy on the whole population, the truth behind true_lift (else true_clicks of the served
    users, which still carries the noise of who was randomised where).
    """
    table = daily_table(
        unit_days,
        control=control,
        treatment=treatment,
        aa_control=aa_control,
        alpha=alpha,
        shares=shares,
        policy_truth=policy_truth,
    )
    report_dir = Path(out_dir) / "report"
    control_log, treatment_log = list(table.logs.values())[:2]
    cumulative = cumulative_lift(control_log, treatment_log, table.design, alpha)
    summary = summarise(table, cumulative, alpha=alpha, report_dir=report_dir)
    per_arm = arm_days(table.logs, table.design)
    summary_json = {
        # No paths: the same log gives the same bytes wherever the report is written.
        "summary": {k: v for k, v in summary.to_dict().items() if k != "report_dir"},
        "method": METHOD_NOTE,
        "input": _json_ready(dict(metadata or {})),
    }
    writers: dict[str, Callable[[Path], Any]] = {
        "daily.csv": table.frame.write_csv,
        "arms.csv": per_arm.write_csv,
        "cumulative.csv": cumulative.write_csv,
        "summary.json": lambda p: p.write_text(json.dumps(summary_json, indent=2) + "\n"),
        "report.md": lambda p: p.write_text(render_markdown(summary, table)),
    }

    def plots(folder: Path) -> None:
        from abtest_sim import plots as figures  # matplotlib loads only when a report is written

        figures.daily_lift(table.main, folder / "daily_lift.png", alpha=alpha)
        figures.cumulative_lift(cumulative, folder / "cumulative_lift.png", alpha=alpha)
        figures.ctr_per_arm(per_arm, folder / "ctr_per_arm.png")

    _publish(report_dir, writers, plots)
    return summary


def _publish(
    report_dir: Path, writers: Mapping[str, Callable[[Path], Any]], extra: Callable[[Path], None]
) -> None:
    """Write every file into a temp folder beside ``report_dir``, then swap it into place."""
    report_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".report-", dir=report_dir.parent))
    try:
        for name, write in writers.items():
            write(staging / name)
        extra(staging)
        if report_dir.exists():
            retired = Path(tempfile.mkdtemp(prefix=".report-old-", dir=report_dir.parent))
            report_dir.rename(retired / "report")
            staging.rename(report_dir)
            shutil.rmtree(retired)
        else:
            staging.rename(report_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


# ----------------------------------------------------------------------------- report.md


def _pct(x: float | None, signed: bool = True) -> str:
    if x is None or not math.isfinite(x):
        return "n/a" if x is None else ("+inf" if x > 0 else "-inf")
    return f"{100 * x:+.2f}%" if signed else f"{100 * x:.3f}%"


def _interval(value: Any, low: Any, high: Any) -> str:
    if value is None:
        return ""
    return f"{_pct(value)} [{_pct(low)}, {_pct(high)}]"


def _p(p: float | None) -> str:
    if p is None:
        return ""
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _table3(summary: ReportSummary, table: DailyTable) -> list[str]:
    """Day 1..N and Average: the lift, the A/A reference, and A/B minus A/A."""
    pre, concurrent = summary.aa_days > 0, summary.aa_control is not None
    header = ["Day", "Phase", "CTR control", "CTR treatment", "Lift [95% CI]", "p"]
    header += ["A/A lift (pre-period)", "A/B - A/A [95% CI]", "p"] if pre else []
    header += ["A/A lift (concurrent)", "A/B - A/A shared control [95% CI]", "p"] * concurrent
    rows = []
    for r in table.main.iter_rows(named=True):
        row = [
            r["day"],
            r["phase"],
            _pct(r["ctr_control"], False),
            _pct(r["ctr_treatment"], False),
            _interval(r["lift"], r["ci_low"], r["ci_high"]),
            _p(r["p_value"]),
        ]
        if pre:
            row += [
                _pct(r["aa_lift"]) if r["aa_lift"] is not None else "",
                _interval(r["ab_minus_aa"], r["ab_minus_aa_ci_low"], r["ab_minus_aa_ci_high"]),
                _p(r["ab_minus_aa_p_value"]),
            ]
        if concurrent:
            row += [
                _pct(r["concurrent_aa_lift"]),
                _interval(
                    r["shared_control_lift"],
                    r["shared_control_ci_low"],
                    r["shared_control_ci_high"],
                ),
                _p(r["shared_control_p_value"]),
            ]
        rows.append(row)
    return _table(header, rows)


def _diagnostics(summary: ReportSummary, table: DailyTable) -> list[str]:
    truth = summary.true_lift is not None
    header = ["Day", "Phase", "p (delta)", "naive p", "design effect", "Holm p", "BH p", "SRM p"]
    header += ["CUPED lift [95% CI]", "CUPED p"] if table.has_cuped else []
    header += ["true lift", "covered"] if truth else []
    rows = []
    for r in table.main.iter_rows(named=True):
        row = [
            r["day"],
            r["phase"],
            _p(r["p_value"]),
            _p(r["naive_p_value"]),
            f"{r['design_effect']:.2f}",
            _p(r["p_value_holm"]),
            _p(r["p_value_bh"]),
            _p(r["srm_p_value"]),
        ]
        if table.has_cuped:
            row += [
                _interval(r["cuped_lift"], r["cuped_ci_low"], r["cuped_ci_high"]),
                _p(r["cuped_p_value"]),
            ]
        if truth:
            row += [_pct(r["true_lift"]), "yes" if r["covers_true"] else "no"]
        rows.append(row)
    return _table(header, rows)


def _headline(summary: ReportSummary) -> list[str]:
    avg = summary.average
    verdict = "significant" if avg.significant else "not significant"
    lines = [
        f"- Average daily lift of `{summary.treatment}` over `{summary.control}` on the "
        f"{summary.ab_days} A/B day(s): **{_interval(avg.lift, avg.ci_low, avg.ci_high)}**, "
        f"p = {_p(avg.p_value)} ({verdict} at alpha = {summary.alpha}).",
        f"- Lift of the CTR pooled over the A/B days: "
        f"{_interval(summary.pooled.lift, summary.pooled.ci_low, summary.pooled.ci_high)}, "
        f"p = {_p(summary.pooled.p_value)}.",
        f"- Naive binomial p = {_p(summary.naive_p_value)} (impressions as independent), design "
        f"effect {summary.design_effect:.2f}: the variance of the right test over the naive one.",
        f"- Sample ratio mismatch (chi-square on units per arm): p = {_p(summary.srm_p_value)}"
        + (
            " **- sample ratio mismatch, do not trust the lift**"
            if summary.srm_p_value < 1e-3
            else "."
        ),
        f"- Minimum detectable average lift at 80% power with this SE: "
        f"+-{100 * summary.mde_80:.2f}%.",
    ]
    for kind, text in (
        ("ab_minus_aa", "A/B minus the pre-period A/A (same users)"),
        ("cuped", "CUPED (pre-period covariate)"),
        ("shared_control", "A/B minus the concurrent A/A, shared control"),
    ):
        result = getattr(summary, kind)
        if result is not None:
            lines.append(
                f"- {text}: {_interval(result.lift, result.ci_low, result.ci_high)}, "
                f"p = {_p(result.p_value)}."
            )
    if summary.true_lift is not None:
        lines.append(
            f"- Truth (simulation): mean true lift {_pct(summary.true_lift)}, "
            f"{'covered' if summary.covered else 'NOT covered'} by the Average interval; the daily "
            f"intervals cover the daily true lift on {100 * summary.daily_coverage:.0f}% of A/B "
            "days."
        )
    return lines


def render_markdown(summary: ReportSummary, table: DailyTable) -> str:
    """report.md: headline, the Table-3-style table, diagnostics, and the method used."""
    title = f"# A/B test report: `{summary.treatment}` vs `{summary.control}`"
    arms = ", ".join(f"`{a}`: {n}" for a, n in summary.users.items())
    design = (
        f"{summary.days} day(s): {summary.aa_days} A/A pre-period, {summary.ab_days} A/B. "
        f"Units per arm: {arms}."
    )
    parts = [title, "", design, "", *_headline(summary), "", "## Daily lift (Table 3)", ""]
    parts += _table3(summary, table)
    note = (
        "Average: mean of the daily lifts of the phase, with the cross-day covariance (the same "
        "users on several days)."
    )
    if summary.ab_minus_aa is not None:
        note += (
            " A/B - A/A subtracts the mean A/A lift of the same users with the covariance of the "
            "two periods."
        )
    parts += ["", note, ""]
    parts += ["## Diagnostics", "", *_diagnostics(summary, table), ""]
    parts += ["## Method", "", METHOD_NOTE, ""]
    parts += [
        f"On this log the log-ratio and Fieller bounds differ from the delta bounds by at most "
        f"{100 * summary.max_interval_gap:.3f} percentage points on any A/B day (daily.csv has "
        "all three). Holm and BH adjust the daily p-values within each phase.",
        "",
    ]
    return "\n".join(parts)
