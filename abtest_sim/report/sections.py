"""The sections of the A/B test report's document: the lift over the A/B days (with its
always-valid band), the A/A week beside the A/B week, the daily Table 3 (each registered
estimator's cells, ``abtest_sim.analysis.estimators``), the estimators side by side, and the
diagnostics (SRM, design effect, power and MDE, the per-day checks, the models' calibration)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import polars as pl

from abtest_sim.analysis.daily_columns import AVERAGE
from abtest_sim.analysis.daily_table import DailyTable
from abtest_sim.analysis.estimator_base import DailyCell
from abtest_sim.analysis.estimators import MeanDaily, estimator, in_daily_order
from abtest_sim.analysis.summary import ReportSummary
from abtest_sim.analysis.unit_days import PHASE_NAMES
from abtest_sim.analysis.warnings import SRM_ALARM
from abtest_sim.report.blocks import (
    Bullets,
    Card,
    Cards,
    Figure,
    Heading,
    Paragraphs,
    Section,
    Table,
)
from abtest_sim.report.calibration import calibration_blocks
from abtest_sim.report.format import band, interval, number, p_text, pct, plus_minus, yes_no
from abtest_sim.stats.power import power_from_se

__all__ = [
    "aa_beside_ab",
    "diagnostics_section",
    "estimators_section",
    "lift_over_days",
    "table3_section",
]

Row = Mapping[str, Any]
# The shared-control block (a concurrent second control), after the contrasts as in daily.csv.
_CONCURRENT = (
    DailyCell("A/A lift (concurrent)", "percent", ("concurrent_aa_lift",)),
    DailyCell(
        "A/B - A/A shared control [{level} CI]",
        "interval",
        ("shared_control_lift", "shared_control_ci_low", "shared_control_ci_high"),
    ),
    DailyCell("p", "p", ("shared_control_p_value",)),
)


def _level(summary: ReportSummary) -> str:
    return f"{round(100 * (1 - summary.alpha))}%"


def lift_over_days(summary: ReportSummary, so_far: pl.DataFrame | None) -> Section:
    """The headline estimator after each A/B day (``DailyTable.so_far``): its always-valid band
    for a test watched daily, beside the one-look interval that decides a test read once."""
    lead = summary.lead
    if so_far is None:
        text = (f"The headline estimator ({lead.label}) has no value after each A/B day, so "
                "this report draws no lift over the days.")  # fmt: skip
        return Section("lift-over-days", "Lift over the A/B days", (Paragraphs((text,)),))
    level = _level(summary)
    last = so_far.row(so_far.height - 1, named=True)
    excluding = so_far.with_row_index("index").filter(
        (pl.col("cs_low") > 0) | (pl.col("cs_high") < 0)
    )
    cs_day = None if excluding.is_empty() else _ab_day(excluding.row(0, named=True))
    fixed_days = so_far.filter((pl.col("ci_low") > 0) | (pl.col("ci_high") < 0)).height
    monitoring = (
        f"Looking every day? Use the always-valid {level} band: on the last day it is "
        f"{pct(last['cs_low'])} to {pct(last['cs_high'])} for the headline lift "
        f"({pct(last['lift'])}, {lead.label}); "
        + (
            f"it first excluded zero on {cs_day}, so stopping there was safe."
            if cs_day is not None
            else "it has not excluded zero on any day."
        )
    )
    fixed_says = lead.total_p_value < summary.alpha
    if fixed_says != (cs_day is not None):
        monitoring += (
            f" The two readings disagree: a test read once, at its planned end, is decided by "
            f"the headline interval ({'significant' if fixed_says else 'not significant'}); a "
            f"test watched every day, by the always-valid band "
            f"({'it excluded zero' if cs_day is not None else 'it never excluded zero'})."
        )
    peeking = (
        f"The ordinary {level} interval (dark band) is valid for one look, at the planned end; "
        f"on the last day it is the headline interval. It excluded zero on {fixed_days} of "
        f"{so_far.height} A/B day(s); reading it every day and stopping at the first such day "
        "gives several times the stated false positives (the project's peeking study: "
        "benchmarks/results/peeking.md)."
    )
    truths = [
        f"; {color}, the {what}"
        for column, color, what in (
            ("target_lift", "red", "test target (this split)"),
            ("launch_lift", "green", "launch effect"),
        )
        if so_far[column].null_count() == 0
    ]
    caption = (
        f"The headline lift ({lead.label}) after each A/B day, over the A/B days so far: light "
        f"band, the always-valid {level} band; dark band, the {level} interval for a single "
        f"look{''.join(truths)}."
    )
    blocks = (Paragraphs((monitoring, peeking)), Figure("cumulative_lift", caption))
    return Section("lift-over-days", "Lift over the A/B days", blocks)


def _ab_day(row: Row) -> str:
    """'A/B day n' as the chart numbers it, with the log's own day label where that differs."""
    number = int(row["index"]) + 1
    label = str(row["day"])
    return f"A/B day {number}" + ("" if label == str(number) else f" ({label})")


def aa_beside_ab(summary: ReportSummary) -> Section:
    ab = summary.average
    if summary.aa_lift is not None:
        aa = summary.aa_lift
        meaning = (
            "significant: the buckets differed before the change (read A/B - A/A or CUPED)"
            if aa.p_value < summary.alpha
            else "not significant, as a fair split should be"
        )
        first = Card(
            f"A/A week ({summary.aa_days} days, before the change)",
            interval(aa.lift, aa.ci_low, aa.ci_high),
            f"p = {p_text(aa.p_value)}: {meaning}.",
        )
    else:
        first = Card("A/A week", "none in this log", "No pre-period: no A/A check.")
    lead = summary.lead
    second = Card(
        f"A/B week ({summary.ab_days} days, with the change)",
        interval(lead.lift, lead.total_ci_low, lead.total_ci_high),
        f"p = {p_text(lead.total_p_value)} ({lead.label}, the headline; the mean of the daily "
        f"lifts is {pct(ab.lift)}).",
    )
    band = "the headline" if lead.name == MeanDaily.key else f"the headline is {lead.label}"
    caption = (
        "Each day's own lift with its interval: grey, the A/A pre-period; blue, the A/B days; the "
        f"band, the mean of the A/B days' lifts ({band})."
    )
    blocks = (Cards((first, second), layout="side"), Figure("daily_lift", caption))
    return Section("aa-ab", "The A/A week beside the A/B week", blocks)


def _cell(cell: DailyCell, row: Row) -> str:
    values = [row[c] for c in cell.columns]
    if cell.kind == "interval":
        return interval(*values)
    if cell.kind == "p":
        return p_text(values[0])
    if cell.kind == "band":
        return band(*values)
    return "" if values[0] is None else pct(values[0])


def table3_section(summary: ReportSummary, table: DailyTable) -> Section:
    """Day by day: the CTRs, then each estimator's cells in daily.csv's order."""
    cells = [cell for e in in_daily_order() if e.slot != "end" and e.shown(table.main)
             for cell in e.daily_cells()]  # fmt: skip
    cells += list(_CONCURRENT) if summary.aa_control is not None else []
    cells += [cell for e in in_daily_order() if e.slot == "end" and e.shown(table.main)
              for cell in e.daily_cells()]  # fmt: skip
    level = _level(summary)
    header = ("Day", "Phase", "CTR control", "CTR treatment",
              *(c.header.format(level=level) for c in cells))  # fmt: skip
    body: list[tuple[str, ...]] = []
    foot: list[tuple[str, ...]] = []
    for r in table.main.iter_rows(named=True):
        row = (
            str(r["day"]),
            PHASE_NAMES.get(r["phase"], r["phase"]),
            pct(r["ctr_control"], False),
            pct(r["ctr_treatment"], False),
            *(_cell(c, r) for c in cells),
        )
        (foot if r["day"] == AVERAGE else body).append(row)
    caption = (
        "One row per day; Average rows (the mean of the phase's daily lifts, with the cross-day "
        "covariance: the same users on several days) at the foot. A/B - A/A subtracts the mean "
        "A/A lift of the same users with the covariance of the two periods. 'Pooled so far' is "
        "the lift of the CTR pooled over the A/B days up to that day, with its own always-valid "
        "band (sampling noise only); the band to watch daily is the headline's, drawn above."
    )
    note = (
        f"Design effect of the A/B average {number(summary.design_effect)}: the variance of the "
        "right test over the naive binomial test's."
    )
    every = Table("table3-all", header, tuple(body), tuple(foot), caption,
                  folded="Every estimator, day by day")  # fmt: skip
    blocks = (_lead_table3(summary, cells, every), every, Paragraphs((note,), muted=True))
    return Section("table3", "Daily lift (Table 3)", blocks)


def _lead_table3(summary: ReportSummary, cells: list[DailyCell], every: Table) -> Table:
    """Table 3 as a page leads with it: each day's headline lift and p beside the day (visible
    on a phone), then the phase and the arms' CTRs; ``cells``: ``every``'s estimator cells,
    after its four first columns."""
    lead = estimator(summary.headline)
    own = [c for c in lead.daily_cells() if c in cells] or list(MeanDaily().daily_cells())
    first = 4 + cells.index(own[0])
    caption = (
        f"Each day's {lead.short} lift, the headline's estimator; every estimator's daily cells "
        "are in the folded table below and in daily.csv."
    )
    return every.select("table3", [0, *range(first, first + len(own)), 1, 2, 3], caption)


def estimators_section(summary: ReportSummary) -> Section:
    truth = summary.truth is not None
    header: tuple[str, ...] = (
        "Estimator", "Lift [CI, sampling only]", "p", "Lineage sd", "Lift [CI, all noise]",
    )  # fmt: skip
    header += ("Launch effect", "covered", "Test target", "covered") if truth else ()
    rows = []
    for key, e in summary.estimates.items():
        row: tuple[str, ...] = (
            f"{e.label} (headline)" if key == summary.headline else e.label,
            interval(e.lift, e.ci_low, e.ci_high),
            p_text(e.p_value),
            "not set" if e.lineage_sd is None else pct(e.lineage_sd, False),
            interval(e.lift, e.total_ci_low, e.total_ci_high),
        )
        if truth:
            row += (pct(e.launch), yes_no(e.covers(e.launch)))
            row += (pct(e.target), yes_no(e.covers(e.target)))
        rows.append(row)
    note = (
        "Each is a different way to read the same A/B days; the headline is the one the "
        "calibration study found valid and most precise for this design."
    )
    every = Table("estimators-all", header, tuple(rows), folded="Sampling-only intervals, coverage")
    # the page leads with each estimate, the interval it reports and the truths; the rest folded
    shown = every.select("estimators", [0, 4, 3, *((5, 7) if truth else ())])
    blocks = (shown, every, Paragraphs((note,), muted=True))
    return Section("estimators", "Estimators of the A/B lift", blocks)


def _diagnostic_lines(summary: ReportSummary) -> tuple[str, ...]:
    lead = summary.lead
    broken = summary.srm_p_value < SRM_ALARM
    lines = [
        f"Sample ratio mismatch (chi-square on users per arm): p = {p_text(summary.srm_p_value)}"
        + (" - the split is broken." if broken else " - the split is fine."),
        f"Design effect {number(summary.design_effect)}: users' impressions are correlated, so "
        f"the naive binomial test (p = {p_text(summary.naive_p_value)}) is shown only as a "
        "diagnostic.",
        f"Minimum detectable lift at 80% power with this interval: {plus_minus(summary.mde_80)}.",
    ]
    if lead.launch is not None and math.isfinite(lead.se_total):
        power = power_from_se(lead.launch, lead.se_total, alpha=summary.alpha)
        lines.append(
            f"Power of this test at the simulated launch effect ({pct(lead.launch)}): "
            f"{100 * power:.0f}%."
        )
    if summary.daily_coverage:
        shares = [
            f"{name} {pct(value, False, digits=0)}"
            for name, value in summary.daily_coverage.items()
            if value is not None
        ]
        lines.append("Share of A/B days whose interval covers the truth: " + ", ".join(shares))
    return tuple(lines)


def diagnostics_section(
    summary: ReportSummary,
    table: DailyTable,
    per_arm: pl.DataFrame,
    calibration: pl.DataFrame | None,
) -> Section:
    """The checks, the per-day table (with the truths of a simulation) and the calibration."""
    truth = summary.truth is not None
    header: tuple[str, ...] = (
        "Day", "Phase", "p (delta)", "naive p", "design effect", "Holm p", "BH p", "SRM p",
    )  # fmt: skip
    header += ("test target", "covered", "launch effect", "covered") if truth else ()
    body: list[tuple[str, ...]] = []
    foot: list[tuple[str, ...]] = []
    for r in table.main.iter_rows(named=True):
        row: tuple[str, ...] = (
            str(r["day"]),
            PHASE_NAMES.get(r["phase"], r["phase"]),
            p_text(r["p_value"]),
            p_text(r["naive_p_value"]),
            number(r["design_effect"]),
            p_text(r["p_value_holm"]),
            p_text(r["p_value_bh"]),
            p_text(r["srm_p_value"]),
        )
        if truth:
            for name in ("target", "launch"):
                row += (pct(r[f"{name}_lift"]), yes_no(r[f"covers_{name}"]))
        (foot if r["day"] == AVERAGE else body).append(row)
    caption = "Per day: the checks behind the lifts (daily.csv has them all)."
    models = calibration_blocks(per_arm, calibration)
    figure = "CTR of each arm per day" + ("; dashed, its true CTR." if truth else ".")
    blocks = (
        Bullets(_diagnostic_lines(summary)),
        Table("diagnostics", header, tuple(body), tuple(foot), caption, folded="Per-day checks"),
        *((Heading("Calibration of the models"), *models) if models else ()),
        Figure("ctr_per_arm", figure),
    )
    return Section("diagnostics", "Diagnostics", blocks)
