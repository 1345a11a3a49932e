"""report.html's lower sections: the estimators side by side, diagnostics (SRM, design effect,
power and MDE, the calibration diagnostic when present) and the method."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import polars as pl

from abtest_sim.analysis.daily_columns import AVERAGE
from abtest_sim.analysis.unit_days import PHASE_NAMES
from abtest_sim.report.format import interval, number, p_text, pct
from abtest_sim.report.markdown import TRUTH_NOTE
from abtest_sim.report.page import figure, paragraphs, section, table, unordered
from abtest_sim.stats.power import power_from_se

if TYPE_CHECKING:  # pragma: no cover
    from abtest_sim.analysis.daily_table import DailyTable
    from abtest_sim.analysis.summary import ReportSummary

__all__ = [
    "CALIBRATION_COLUMNS",
    "calibration_frame",
    "diagnostics_section",
    "estimators_section",
    "method_section",
]

# The calibration diagnostic per arm and day (abtest_sim.sim.diagnostics: mean pCTR, over CTR
# and over the true CTR, and the share of predictions that rose against the previous version); a
# per-(arm, day) table carrying any of these columns (write_report's ``calibration``) is shown.
CALIBRATION_COLUMNS = ("mean_pctr", "pctr_over_ctr", "pctr_over_true", "share_rose")
RATIO_COLUMNS = ("pctr_over_ctr", "pctr_over_true")

SEQUENTIAL_NOTE = (
    "Always-valid band: a confidence sequence for the pooled lift (Waudby-Smith, Arnold, Wu, "
    "Howard and Ramdas 2023, the Gaussian-mixture asymptotic confidence sequence that GrowthBook's "
    "gbstats also uses). Its chance of ever excluding the true lift, over all days together, is "
    "at most alpha, so it may be read every day and the test stopped the first day it excludes "
    "zero. The price is width: about 1.5 times the one-look interval on the day it is tuned for "
    "(stats.cs_rho; by default the last day)."
)


def estimators_section(summary: ReportSummary) -> str:
    truth = summary.truth is not None
    header = ["Estimator", "Lift [CI, sampling only]", "p", "Lineage sd", "Lift [CI, all noise]"]
    header += ["Launch effect", "Test target"] if truth else []
    rows = []
    for key, e in summary.estimates.items():
        name = f"{e.label} (headline)" if key == summary.headline else e.label
        row = [
            name,
            interval(e.lift, e.ci_low, e.ci_high),
            p_text(e.p_value),
            "not set" if e.lineage_sd is None else pct(e.lineage_sd, False),
            interval(e.lift, e.total_ci_low, e.total_ci_high),
        ]
        row += [pct(e.launch), pct(e.target)] if truth else []
        rows.append(row)
    return section(
        "estimators",
        "Estimators of the A/B lift",
        table(header, rows, css="estimators"),
        paragraphs(
            "Each is a different way to read the same A/B days; the headline is the one the "
            "calibration study found valid and most precise for this design.",
            css="muted",
        ),
    )


def _diagnostic_lines(summary: ReportSummary) -> list[str]:
    lead = summary.lead
    lines = [
        f"Sample ratio mismatch (chi-square on users per arm): p = {p_text(summary.srm_p_value)}"
        + (" - the split is broken." if summary.srm_p_value < 1e-3 else " - the split is fine."),
        f"Design effect {number(summary.design_effect)}: users' impressions are correlated, so "
        f"the naive binomial test (p = {p_text(summary.naive_p_value)}) is shown only as a "
        "diagnostic.",
        "Minimum detectable lift at 80% power with this interval: "
        f"\u00b1{100 * summary.mde_80:.2f}%.",
    ]
    if lead.launch is not None and math.isfinite(lead.se_total):
        power = power_from_se(lead.launch, lead.se_total, alpha=summary.alpha)
        lines.append(
            f"Power of this test at the simulated launch effect ({pct(lead.launch)}): "
            f"{100 * power:.0f}%."
        )
    if summary.daily_coverage:
        shares = [
            f"{name} {100 * value:.0f}%"
            for name, value in summary.daily_coverage.items()
            if value is not None
        ]
        lines.append("Share of A/B days whose interval covers the truth: " + ", ".join(shares))
    return lines


def diagnostics_section(
    summary: ReportSummary,
    table_: DailyTable,
    per_arm: pl.DataFrame,
    calibration: pl.DataFrame | None,
    svg: str | None,
) -> str:
    header = ["Day", "Phase", "p (delta)", "naive p", "design effect", "Holm p", "BH p", "SRM p"]
    rows = [
        [
            r["day"],
            PHASE_NAMES.get(r["phase"], r["phase"]),
            p_text(r["p_value"]),
            p_text(r["naive_p_value"]),
            number(r["design_effect"]),
            p_text(r["p_value_holm"]),
            p_text(r["p_value_bh"]),
            p_text(r["srm_p_value"]),
        ]
        for r in table_.main.iter_rows(named=True)
        if r["day"] != AVERAGE
    ]
    return section(
        "diagnostics",
        "Diagnostics",
        unordered(_diagnostic_lines(summary)),
        table(header, rows, css="diagnostics", caption="Per day: the checks behind the lifts."),
        _calibration(calibration_frame(per_arm, calibration)),
        figure(svg, "CTR of each arm per day (dashed: true CTR when simulated).", "ctr_per_arm"),
    )


def calibration_frame(per_arm: pl.DataFrame, given: pl.DataFrame | None) -> pl.DataFrame | None:
    """The calibration diagnostic per arm and day, if any table carries it (else None)."""
    for source in (given, per_arm):
        if source is None:
            continue
        present = [c for c in CALIBRATION_COLUMNS if c in source.columns]
        if present and {"arm", "day"} <= set(source.columns):
            return source.select("arm", pl.col("day").cast(pl.String), *present)
    return None


def _calibration(frame: pl.DataFrame | None) -> str:
    title = "<h3>Calibration of the models</h3>"
    if frame is None:
        return title + paragraphs(
            "Not in this report's tables (mean pCTR over CTR per arm and day, and the share of "
            "predictions that rose against the previous version, appear here when they are).",
            css="muted",
        )
    labels = {
        "mean_pctr": "mean pCTR",
        "pctr_over_ctr": "mean pCTR / CTR",
        "pctr_over_true": "mean pCTR / true CTR",
        "share_rose": "share of pCTRs that rose",
    }
    columns = [c for c in CALIBRATION_COLUMNS if c in frame.columns]
    rows = []
    for r in frame.iter_rows(named=True):
        cells = [str(r["arm"]), str(r["day"])]
        for c in columns:
            value = r[c]
            cells.append(number(value) if c in RATIO_COLUMNS else pct(value, signed=False).rstrip())
        rows.append(cells)
    return title + table(["Arm", "Day", *(labels[c] for c in columns)], rows, css="calibration")


def method_section(summary: ReportSummary, method_note: str) -> str:
    texts = [
        method_note,
        SEQUENTIAL_NOTE,
        "Average rows: mean of the daily lifts of the phase, with the cross-day covariance (the "
        "same users on several days). A/B - A/A subtracts the pre-period lift of the same users; "
        "CUPED uses each user's pre-period CTR as covariate. Holm and BH adjust the daily "
        "p-values within each phase.",
    ]
    if summary.truth is not None:
        texts.append(TRUTH_NOTE.replace("*", ""))
    return section("method", "Method", paragraphs(*texts))
