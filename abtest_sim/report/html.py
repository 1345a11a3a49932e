"""report.html: the test's report as one page to open and forward.

The verdict in words (the headline estimator and its interval), the warnings, the lift over the A/B
days with its always-valid band (and for simulations the launch effect and the test's target), the
A/A week beside the A/B week, the daily Table 3 with intervals, the estimators, diagnostics (SRM,
design effect, power and MDE, and the calibration diagnostic when the run's tables carry it) and
the method. The same numbers as report.md and daily.csv, laid out for people who act on a test.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import polars as pl

from abtest_sim.analysis.daily_columns import AVERAGE
from abtest_sim.analysis.unit_days import PHASE_NAMES
from abtest_sim.analysis.warnings import SRM_ALARM
from abtest_sim.report.format import interval, number, p_text, pct
from abtest_sim.report.html_parts import (
    diagnostics_section,
    estimators_section,
    method_section,
)
from abtest_sim.report.page import esc, figure, page, paragraphs, section, unordered
from abtest_sim.report.page import table as html_table

if TYPE_CHECKING:  # pragma: no cover
    from abtest_sim.analysis.daily_table import DailyTable
    from abtest_sim.analysis.summary import ReportSummary

__all__ = ["render_html", "verdict"]


def render_html(
    summary: ReportSummary,
    table: DailyTable,
    per_arm: pl.DataFrame,
    *,
    method_note: str,
    figures: Mapping[str, str] | None,
    source: str,
    calibration: pl.DataFrame | None = None,
) -> str:
    """The page. ``figures``: inline SVGs by name (daily_lift, cumulative_lift, ctr_per_arm), None
    when plots are switched off; ``source``: one line on where the data came from."""
    figures = figures or {}
    title = f"A/B test report: {summary.treatment} vs {summary.control}"
    sections = [
        _lift_over_days(summary, table.cumulative, figures.get("cumulative_lift")),
        _aa_beside_ab(summary, figures.get("daily_lift")),
        _table3_section(summary, table),
        estimators_section(summary),
        diagnostics_section(summary, table, per_arm, calibration, figures.get("ctr_per_arm")),
        method_section(summary, method_note),
    ]
    footer = f"Made by abtest_sim from {source}. Every number is in daily.csv and summary.json."
    return page(title, _header(summary, title), sections, footer)


def verdict(summary: ReportSummary) -> tuple[str, str]:
    """The headline in words a product owner can repeat, and its tone (up, down or flat)."""
    lead, alpha = summary.lead, summary.alpha
    level = round(100 * (1 - alpha))
    treatment, control = summary.treatment, summary.control
    span = f"{level}% interval {pct(lead.total_ci_low)} to {pct(lead.total_ci_high)}"
    p = p_text(lead.total_p_value)
    p = f"p {p}" if p.startswith("<") else f"p = {p}"
    if lead.total_p_value < alpha:
        direction = "higher" if lead.lift > 0 else "lower"
        text = (
            f"{treatment} has a {abs(100 * lead.lift):.2f}% {direction} CTR than {control} "
            f"({span}); the difference is statistically significant ({p})."
        )
        tone = "up" if lead.lift > 0 else "down"
    else:
        text = (
            f"No detectable difference: the CTR of {treatment} is {pct(lead.lift)} against "
            f"{control} ({span}), an interval that includes zero ({p})."
        )
        tone = "flat"
    if summary.diverged or summary.srm_p_value < SRM_ALARM:
        text = f"Do not act on this test (see the warnings). {text}"
    return text, tone


def _header(summary: ReportSummary, title: str) -> str:
    lead = summary.lead
    text, tone = verdict(summary)
    noise = (
        f"user sampling, clicks and model-lineage variance (sd {pct(lead.lineage_sd, False)})"
        if lead.lineage_sd is not None
        else "user sampling and clicks only"
    )
    users = ", ".join(f"{arm}: {n:,}" for arm, n in summary.users.items())
    cards = [
        ("Estimate", f"{pct(lead.lift)}"),
        (
            f"{round(100 * (1 - summary.alpha))}% interval",
            f"{pct(lead.total_ci_low)} to {pct(lead.total_ci_high)}",
        ),
        ("Users per arm", users),
        ("Days", f"{summary.aa_days} A/A + {summary.ab_days} A/B"),
        ("Detectable lift (80% power)", f"\u00b1{100 * summary.mde_80:.2f}%"),
    ]
    for name, value in (
        ("Launch effect (truth)", lead.launch),
        ("Test target (truth)", lead.target),
    ):
        if value is not None:
            cards.append((name, pct(value)))
    card_html = "".join(
        f'<div class="card"><span>{esc(k)}</span><b>{esc(v)}</b></div>' for k, v in cards
    )
    return "\n".join(
        [
            f"<h1>{esc(title)}</h1>",
            f'<p class="verdict {tone}" id="verdict">{esc(text)}</p>',
            paragraphs(f"Estimator: {lead.label}. Noise in the interval: {noise}.", css="muted"),
            unordered(summary.warnings, css="warnings"),
            f'<div class="cards">{card_html}</div>',
        ]
    )


def _first_exclusion(cumulative: pl.DataFrame, low: str, high: str) -> str | None:
    """The first A/B day whose interval (columns ``low``, ``high``) excludes zero."""
    rows = cumulative.filter((pl.col(low) > 0) | (pl.col(high) < 0))
    return None if rows.is_empty() else str(rows["day"][0])


def _lift_over_days(summary: ReportSummary, cumulative: pl.DataFrame, svg: str | None) -> str:
    level = f"{round(100 * (1 - summary.alpha))}%"
    last = cumulative.row(cumulative.height - 1, named=True)
    cs_day = _first_exclusion(cumulative, "cs_low", "cs_high")
    fixed_days = cumulative.filter((pl.col("ci_low") > 0) | (pl.col("ci_high") < 0)).height
    monitoring = (
        f"Looking every day? Use the always-valid {level} band: on the last day it is "
        f"{pct(last['cs_low'])} to {pct(last['cs_high'])} for the pooled lift "
        f"({pct(last['lift'])}); "
        + (
            f"it first excluded zero on day {cs_day}, so stopping there was safe."
            if cs_day is not None
            else "it has not excluded zero on any day."
        )
    )
    peeking = (
        f"The ordinary {level} interval (dark band) is valid for one look, at the planned end. "
        f"It excluded zero on {fixed_days} of {cumulative.height} A/B day(s); reading it every "
        "day and stopping at the first such day gives several times the stated false positives "
        "(19% instead of 5% over 14 daily looks in the project's peeking study)."
    )
    truths = [
        f"{color}, the {what}"
        for column, color, what in (
            ("target_lift", "red", "test's target"),
            ("launch_lift", "green", "launch effect"),
        )
        if cumulative[column].null_count() == 0
    ]
    caption = (
        f"Lift of the CTR pooled over the A/B days so far: light band, the always-valid {level} "
        f"band; dark band, the {level} interval for a single look"
        + "".join(f"; {t}" for t in truths)
        + "."
    )
    return section(
        "lift-over-days",
        "Lift over the A/B days",
        paragraphs(monitoring, peeking),
        figure(svg, caption, "cumulative_lift"),
    )


def _aa_beside_ab(summary: ReportSummary, svg: str | None) -> str:
    ab = summary.average
    blocks = []
    if summary.aa_lift is not None:
        aa = summary.aa_lift
        meaning = (
            "significant: the buckets differed before the change (read A/B - A/A or CUPED)"
            if aa.p_value < summary.alpha
            else "not significant, as a fair split should be"
        )
        blocks.append(
            _phase_block(
                f"A/A week ({summary.aa_days} days, before the change)",
                interval(aa.lift, aa.ci_low, aa.ci_high),
                f"p = {p_text(aa.p_value)}: {meaning}.",
            )
        )
    else:
        blocks.append(_phase_block("A/A week", "none in this log", "No pre-period: no A/A check."))
    blocks.append(
        _phase_block(
            f"A/B week ({summary.ab_days} days, with the change)",
            interval(ab.lift, ab.ci_low, ab.ci_high),
            f"p = {p_text(ab.p_value)} (mean of the daily lifts).",
        )
    )
    caption = "Daily lift with its interval: grey, the A/A pre-period; blue, the A/B days."
    return section(
        "aa-ab",
        "The A/A week beside the A/B week",
        f'<div class="side">{"".join(blocks)}</div>',
        figure(svg, caption, "daily_lift"),
    )


def _phase_block(title: str, value: str, note: str) -> str:
    return (
        f'<div class="card"><span>{esc(title)}</span><b>{esc(value)}</b>'
        f"<span>{esc(note)}</span></div>"
    )


def _table3_section(summary: ReportSummary, table: DailyTable) -> str:
    pre, concurrent = summary.aa_days > 0, summary.aa_control is not None
    truth = summary.truth is not None
    cuped = table.main["cuped_lift"].null_count() < table.main.height
    level = f"{round(100 * (1 - summary.alpha))}%"
    header = ["Day", "Phase", "CTR control", "CTR treatment", f"Lift [{level} CI]", "p"]
    header += [f"Pooled so far [{level} CI]", "Always-valid band"]
    header += ["A/B - A/A [CI]"] if pre else []
    header += ["CUPED [CI]"] if cuped else []
    header += ["A/B - A/A shared control [CI]"] if concurrent else []
    header += ["Test target", "Launch effect"] if truth else []
    body, foot = [], []
    for r in table.main.iter_rows(named=True):
        row = [
            r["day"],
            PHASE_NAMES.get(r["phase"], r["phase"]),
            pct(r["ctr_control"], False),
            pct(r["ctr_treatment"], False),
            interval(r["lift"], r["ci_low"], r["ci_high"]),
            p_text(r["p_value"]),
            interval(r["cumulative_lift"], r["cumulative_ci_low"], r["cumulative_ci_high"]),
            _band(r["cs_low"], r["cs_high"]),
        ]
        row += [_ci(r, "ab_minus_aa", "ab_minus_aa")] if pre else []
        row += [_ci(r, "cuped_lift", "cuped")] if cuped else []
        row += [_ci(r, "shared_control_lift", "shared_control")] if concurrent else []
        row += [pct(r["target_lift"]), pct(r["launch_lift"])] if truth else []
        (foot if r["day"] == AVERAGE else body).append(row)
    note = (
        "One row per day; Average rows (the mean of the phase's daily lifts, with the cross-day "
        "covariance) at the foot. 'Pooled so far' is the lift of the CTR pooled over the A/B days "
        "up to that day; its always-valid band may be read every day. Scroll sideways for more."
    )
    return section(
        "table3",
        "Daily lift (Table 3)",
        html_table(header, body, foot=foot, caption=note, css="table3"),
        paragraphs(
            f"Design effect of the A/B average {number(summary.design_effect)}: the variance "
            "of the right test over the naive binomial test's.",
            css="muted",
        ),
    )


def _ci(row: Mapping[str, object], value: str, prefix: str) -> str:
    return interval(row[value], row[f"{prefix}_ci_low"], row[f"{prefix}_ci_high"])


def _band(low: float | None, high: float | None) -> str:
    return "" if low is None or high is None else f"[{pct(low)}, {pct(high)}]"
