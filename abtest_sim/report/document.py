"""The A/B test report as one document (``report_document``), which report.md and report.html
only lay out: the title (with each arm's recipe when known), the verdict in words a product owner
can repeat, the lead estimator and its noise, the warnings with their severity, the key figures,
then the sections (``abtest_sim.report.sections``: the lift over the A/B days, the A/A week beside
the A/B week, Table 3, the estimators, diagnostics with the models' calibration) and the method.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from abtest_sim.analysis.daily_columns import AVERAGE
from abtest_sim.analysis.daily_table import DailyTable
from abtest_sim.analysis.summary import ReportSummary
from abtest_sim.analysis.warnings import SRM_ALARM
from abtest_sim.report.blocks import (
    SEVERITY_ORDER,
    Card,
    Paragraphs,
    ReportDocument,
    Section,
    Tone,
    Verdict,
)
from abtest_sim.report.format import interval, p_text, pct, plus_minus
from abtest_sim.report.inputs import ReportContext
from abtest_sim.report.sections import (
    aa_beside_ab,
    diagnostics_section,
    estimators_section,
    lift_over_days,
    table3_section,
)

__all__ = ["METHOD_NOTE", "report_document", "verdict"]

METHOD_NOTE = (
    "Intervals and p-values: delta method on the relative lift R_B / R_A - 1, with the log's units "
    "(users) as the independent observations (per-unit clicks and impressions) and a normal "
    "approximation. Users, not impressions, are randomised and one user's impressions are "
    "correlated, so the naive binomial test is shown "
    "only as a diagnostic, beside its design effect (variance ratio of the right test to the "
    "naive one). The delta interval is shown rather than the log-ratio or Fieller interval because "
    "the Average and A/B - A/A rows are linear combinations of daily lifts, whose joint covariance "
    "the delta method gives exactly from per-user influence functions. A CTR cannot fall by more "
    "than 100%: where the delta interval of a lift would reach -100%, the log-ratio interval "
    "exp(log(1 + lift) +- z se / (1 + lift)) - 1 and its p-value are shown instead (clipped at "
    "-100% if the treatment has no click), and the warnings name those rows."
)
SEQUENTIAL_NOTE = (
    "Always-valid band: a confidence sequence for the headline lift so far (Waudby-Smith, Arnold, "
    "Wu, Howard and Ramdas 2023, the Gaussian-mixture asymptotic confidence sequence that "
    "GrowthBook's gbstats also uses). Its chance of ever excluding the true lift, over all days "
    "together, is at most alpha, so it may be read every day and the test stopped the first day "
    "it excludes zero. The price is width: about 1.5 times the one-look interval on the day it is "
    "tuned for (the cs_rho setting: stats.cs_rho in abtest-sim, cs_rho in abtest-analyze; by "
    "default the last day). It holds sampling noise and, where configured, the lineage SD. "
    "A day whose estimate has no sampling information (a treatment without a click so far) "
    "has no band."
)
AVERAGE_NOTE = (
    "Average rows: mean of the daily lifts of the phase, with the cross-day covariance (the same "
    "users on several days). A/B - A/A subtracts the pre-period lift of the same users; CUPED "
    "uses each user's pre-period CTR as covariate. Holm and BH adjust the daily p-values within "
    "each phase."
)
TRUTH_NOTE = (
    "Truths (simulation only): the *launch effect* is the true CTR with every user served by a "
    "lineage of the treatment recipe trained on every user's logs, over the same for the control "
    "recipe: what shipping does. The *test target* is the true CTR of what each arm's own lineage "
    "served its own users (for CUPED and A/B - A/A, the same adjustment applied to those truths): "
    "what the test's estimator converges to for this split. It is one split's realisation: who "
    "landed where moves it (in an A/A, whose launch effect is zero by construction, it is the "
    "lineages' divergence plus who landed where), so this run's target minus launch is not the "
    "design's test-to-launch bias; abtest-sim-forecast averages that over worlds, with an "
    "interval."
)


def report_document(
    summary: ReportSummary,
    table: DailyTable,
    so_far: pl.DataFrame | None,
    per_arm: pl.DataFrame,
    context: ReportContext,
    *,
    figures: bool,
) -> ReportDocument:
    """The report of a computed daily table and its summary; ``so_far``: the headline's lift
    after each A/B day (``DailyTable.so_far``; None: it has none); ``per_arm``: CTR per arm and
    day (arms.csv); ``figures``: whether the figures are drawn."""
    text, tone = verdict(summary, context.recipes)
    sections = (
        lift_over_days(summary, so_far),
        aa_beside_ab(summary),
        table3_section(summary, table),
        estimators_section(summary),
        diagnostics_section(summary, table, per_arm, context.calibration),
        _method(summary),
    )
    source = _source_line(context.metadata)
    return ReportDocument(
        title=_title(summary, context.recipes, context.metadata.get("model")),
        verdict=Verdict((text,), tone),
        lead=_lead(summary),
        # most serious first, as the page shows them (stops above the verdict)
        warnings=tuple(sorted(summary.alerts, key=lambda w: SEVERITY_ORDER.index(w.severity))),
        cards=_cards(summary),
        sections=sections,
        footer=f"Made by abtest_sim from {source}. Every number is in daily.csv and summary.json.",
        figures=figures,
    )


def verdict(summary: ReportSummary, recipes: Mapping[str, str] | None = None) -> tuple[str, Tone]:
    """The headline in words a product owner can repeat, and its tone (up, down or flat);
    ``recipes``: each arm's recipe in words, named beside the treatment (the change under test)."""
    lead, alpha = summary.lead, summary.alpha
    level = round(100 * (1 - alpha))
    treatment, control = summary.treatment, summary.control
    if recipes and treatment in recipes:
        treatment = f"{treatment} ({recipes[treatment]})"
    span = f"{level}% interval {pct(lead.total_ci_low)} to {pct(lead.total_ci_high)}"
    p = p_text(lead.total_p_value)
    p = f"p {p}" if p.startswith("<") else f"p = {p}"
    tone: Tone = "flat"
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
    if lead.lineage_sd is None and summary.lineage_note:
        text += f" Its interval omits model-lineage variance ({summary.lineage_note})."
    if summary.diverged or summary.srm_p_value < SRM_ALARM:
        text = f"Do not act on this test (see the warnings). {text}"
    return text, tone


def _title(summary: ReportSummary, recipes: Mapping[str, str], model: str | None) -> str:
    def arm(name: str) -> str:
        return f"`{name}` ({recipes[name]})" if name in recipes else f"`{name}`"

    served = f", {model} model" if model else ""
    return f"A/B test report: {arm(summary.treatment)} vs {arm(summary.control)}{served}"


def baseline_ctr(summary: ReportSummary) -> float | None:
    """The control's CTR pooled over the A/B days: what a relative lift is a share of."""
    rows = summary.daily.filter((pl.col("phase") == "ab") & (pl.col("day") != AVERAGE))
    impressions = float(rows["impressions_control"].sum()) if rows.height else 0.0
    return float(rows["clicks_control"].sum()) / impressions if impressions else None


def _points(summary: ReportSummary) -> str:
    """The headline lift in percentage points of CTR, on the control's CTR."""
    base = baseline_ctr(summary)
    if base is None or not math.isfinite(summary.lead.lift):
        return ""
    return f"{100 * summary.lead.lift * base:+.3f} pp on a control CTR of {100 * base:.2f}%"


def _day_span(summary: ReportSummary) -> str:
    """The log's first and last day (dates when the log has them)."""
    days = summary.daily.filter(pl.col("day") != AVERAGE)["day"].cast(pl.String)
    return f"{days[0]} to {days[-1]}" if days.len() else ""


def _lead(summary: ReportSummary) -> tuple[str, ...]:
    """The lead estimator with its interval and significance, the noise its interval holds, and
    for a simulation its truths."""
    lead = summary.lead
    level = round(100 * (1 - summary.alpha))
    significant = "significant" if lead.total_p_value < summary.alpha else "not significant"
    noise = (
        f"user sampling, clicks and model-lineage variance (sd {pct(lead.lineage_sd, False)})"
        if lead.lineage_sd is not None
        else "user sampling and clicks only"
    )
    lines = [
        f"{lead.label[0].upper() + lead.label[1:]} of `{summary.treatment}` over "
        f"`{summary.control}`: {interval(lead.lift, lead.total_ci_low, lead.total_ci_high)} "
        f"({level}% interval), p = {p_text(lead.total_p_value)}: {significant} at alpha = "
        f"{summary.alpha}"
        + (f"; {points}" if (points := _points(summary)) else "")
        + f". Noise in this interval: {noise}."
    ]
    if summary.truth is not None:
        launch, target = lead.launch, lead.target
        bias = None if launch is None or target is None else target - launch
        lines.append(
            f"Simulation truth for this estimator: launch effect {pct(launch)} "
            f"({_covered(lead.covers(launch))}), test target of this split {pct(target)} "
            f"({_covered(lead.covers(target))}); this split's target minus launch {pct(bias)} "
            "(one realisation: the design's test-to-launch bias is abtest-sim-forecast's)."
        )
    return tuple(lines)


def _covered(flag: bool | None) -> str:
    return {None: "no truth", True: "covered", False: "NOT covered"}[flag]


def _cards(summary: ReportSummary) -> tuple[Card, ...]:
    lead = summary.lead
    users = ", ".join(f"{arm}: {n:,}" for arm, n in summary.users.items())
    cards = [
        Card("Estimate", pct(lead.lift), _points(summary)),
        Card(
            f"{round(100 * (1 - summary.alpha))}% interval",
            f"{pct(lead.total_ci_low)} to {pct(lead.total_ci_high)}",
        ),
        Card("Users per arm", users),
        Card("Days", f"{summary.aa_days} A/A + {summary.ab_days} A/B", _day_span(summary)),
        Card("Detectable lift (80% power)", plus_minus(summary.mde_80)),
    ]
    truths = (("Launch effect (truth)", lead.launch), ("Test target (this split)", lead.target))
    cards += [Card(name, pct(value)) for name, value in truths if value is not None]
    return tuple(cards)


def _method(summary: ReportSummary) -> Section:
    gap = (
        f"On this log the log-ratio and Fieller bounds differ from the delta bounds by at most "
        f"{100 * summary.max_interval_gap:.3f} percentage points on any A/B day (daily.csv has "
        "all three)."
    )
    texts = [METHOD_NOTE, SEQUENTIAL_NOTE, AVERAGE_NOTE, gap]
    texts += [TRUTH_NOTE] if summary.truth is not None else []
    return Section("method", "Method", (Paragraphs(tuple(texts)),))


def _source_line(metadata: Mapping[str, Any]) -> str:
    """Where the data came from, in a few words (no absolute path: the page can travel)."""
    if metadata.get("source") == "abtest-sim":
        return (
            f"a simulated test (abtest-sim, experiment {metadata.get('experiment')}, seed "
            f"{metadata.get('seed')})"
        )
    if metadata.get("input"):
        return f"the log {Path(str(metadata['input'])).name} (abtest-analyze)"
    return "a per-user log"
