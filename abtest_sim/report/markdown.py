"""report.md: the headline (the lead estimator, its warnings), the estimators side by side with
their truths, the daily Table 3, diagnostics and the method."""

from __future__ import annotations

from typing import TYPE_CHECKING

from abtest_sim.analysis.estimator_base import Estimate
from abtest_sim.report.format import interval as _interval
from abtest_sim.report.format import number as _number
from abtest_sim.report.format import p_text as _p
from abtest_sim.report.format import pct as _pct

if TYPE_CHECKING:  # pragma: no cover
    from abtest_sim.analysis.daily_table import DailyTable
    from abtest_sim.report.writer import ReportSummary

__all__ = ["render_markdown"]


def _has_cuped(table: DailyTable) -> bool:
    return table.main["cuped_lift"].null_count() < table.main.height


def _yes_no(flag: bool | None) -> str:
    return "n/a" if flag is None else ("yes" if flag else "no")


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
    truth = summary.truth is not None
    header = ["Day", "Phase", "p (delta)", "naive p", "design effect", "Holm p", "BH p", "SRM p"]
    header += ["CUPED lift [95% CI]", "CUPED p"] if _has_cuped(table) else []
    header += ["test target", "covered", "launch effect", "covered"] if truth else []
    rows = []
    for r in table.main.iter_rows(named=True):
        row = [
            r["day"],
            r["phase"],
            _p(r["p_value"]),
            _p(r["naive_p_value"]),
            _number(r["design_effect"]),
            _p(r["p_value_holm"]),
            _p(r["p_value_bh"]),
            _p(r["srm_p_value"]),
        ]
        if _has_cuped(table):
            row += [
                _interval(r["cuped_lift"], r["cuped_ci_low"], r["cuped_ci_high"]),
                _p(r["cuped_p_value"]),
            ]
        if truth:
            for name in ("target", "launch"):
                row += [_pct(r[f"{name}_lift"]), _yes_no(r[f"covers_{name}"])]
        rows.append(row)
    return _table(header, rows)


def _total_interval(e: Estimate) -> str:
    return _interval(e.lift, e.total_ci_low, e.total_ci_high)


def _headline(summary: ReportSummary) -> list[str]:
    lead = summary.lead
    level = round(100 * (1 - summary.alpha))
    verdict = "significant" if lead.total_p_value < summary.alpha else "not significant"
    noise = (
        f"user sampling, clicks and model-lineage variance (sd {_pct(lead.lineage_sd)})"
        if lead.lineage_sd is not None
        else "user sampling and clicks only"
    )
    lines = [
        f"**{lead.label[0].upper() + lead.label[1:]} of `{summary.treatment}` over "
        f"`{summary.control}`: {_total_interval(lead)}** ({level}% interval), "
        f"p = {_p(lead.total_p_value)}: {verdict} at alpha = {summary.alpha}.",
        "",
        f"- Noise in this interval: {noise}.",
    ]
    lines += [f"- **Warning:** {text}" for text in summary.warnings]
    if summary.truth is not None:
        launch, target = lead.launch, lead.target
        lines.append(
            f"- Simulation truth for this estimator: launch effect {_pct(launch)} "
            f"({_covered(lead.covers(launch))}), test target {_pct(target)} "
            f"({_covered(lead.covers(target))}); test-to-launch bias "
            f"{_pct(None if launch is None or target is None else target - launch)}."
        )
    lines += [
        f"- Naive binomial p = {_p(summary.naive_p_value)} (impressions as independent), design "
        f"effect {_number(summary.design_effect)}: the variance of the right test over the naive "
        "one.",
        f"- Sample ratio mismatch (chi-square on units per arm): p = {_p(summary.srm_p_value)}.",
        f"- Minimum detectable lift at 80% power with this SE: +-{100 * summary.mde_80:.2f}%.",
    ]
    return lines


def _covered(flag: bool | None) -> str:
    return {None: "no truth", True: "covered", False: "NOT covered"}[flag]


def _estimates_table(summary: ReportSummary) -> list[str]:
    truth = summary.truth is not None
    header = ["Estimator", "Lift [CI, sampling only]", "p", "Lineage sd", "Lift [CI, all noise]"]
    header += ["Launch effect", "covered", "Test target", "covered"] if truth else []
    rows = []
    for key, e in summary.estimates.items():
        name = f"**{e.label}**" if key == summary.headline else e.label
        row = [
            name,
            _interval(e.lift, e.ci_low, e.ci_high),
            _p(e.p_value),
            "not set" if e.lineage_sd is None else _pct(e.lineage_sd, False),
            _total_interval(e),
        ]
        if truth:
            row += [
                _pct(e.launch),
                _yes_no(e.covers(e.launch)),
                _pct(e.target),
                _yes_no(e.covers(e.target)),
            ]
        rows.append(row)
    return _table(header, rows)


TRUTH_NOTE = (
    "Truths (simulation only): the *launch effect* is the true CTR with every user served by a "
    "lineage of the treatment recipe trained on every user's logs, over the same for the control "
    "recipe: what shipping does. The *test target* is the true CTR of what each arm's own lineage "
    "served its own users: what the test's estimator converges to. Their gap, the test-to-launch "
    "bias, comes from lineages trained on a share of the users and from what they share (items). "
    "An A/A pre-period's launch effect is zero by construction; its test target is the lineages' "
    "divergence plus who landed where."
)


def render_markdown(summary: ReportSummary, table: DailyTable, method_note: str) -> str:
    """report.md: headline, estimators, the Table-3-style table, diagnostics and the method."""
    title = f"# A/B test report: `{summary.treatment}` vs `{summary.control}`"
    arms = ", ".join(f"`{a}`: {n}" for a, n in summary.users.items())
    design = (
        f"{summary.days} day(s): {summary.aa_days} A/A pre-period, {summary.ab_days} A/B. "
        f"Units per arm: {arms}."
    )
    parts = [title, "", design, "", *_headline(summary), "", "## Estimators", ""]
    parts += _estimates_table(summary)
    if summary.aa_lift is not None:
        aa = summary.aa_lift
        parts += [
            "",
            f"A/A pre-period (its own A/A test): {_interval(aa.lift, aa.ci_low, aa.ci_high)}, "
            f"p = {_p(aa.p_value)}.",
        ]
    if summary.truth is not None:
        parts += ["", TRUTH_NOTE]
    parts += ["", "## Daily lift (Table 3)", ""]
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
    parts += ["## Method", "", method_note, ""]
    parts += [
        f"On this log the log-ratio and Fieller bounds differ from the delta bounds by at most "
        f"{100 * summary.max_interval_gap:.3f} percentage points on any A/B day (daily.csv has "
        "all three). Holm and BH adjust the daily p-values within each phase.",
        "",
    ]
    return "\n".join(parts)
