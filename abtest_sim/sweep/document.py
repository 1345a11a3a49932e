"""The sweep's report (``abtest-sim-aggregate``) as one document, which its report.md and
report.html only lay out (``abtest_sim.report.markdown``, ``abtest_sim.report.html``): a verdict
line per configuration (how often the test detected the effect, or in an A/A how often it cried
wolf), each configuration's estimators (the registry's, ``abtest_sim.analysis.estimators``), the
lineage variance, the figures, the runs skipped and how to read it all."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from abtest_sim.analysis.estimators import estimator_keys
from abtest_sim.report.blocks import Figure, Paragraphs, ReportDocument, Section, Table, Verdict
from abtest_sim.report.format import pct, rate
from abtest_sim.sweep.plots import configuration_label
from abtest_sim.sweep.validity import LineageVariance

__all__ = ["SweepReport", "configuration_title", "configuration_verdict", "sweep_document"]

Row = Mapping[str, Any]

NO_LINEAGE = (
    "No A/A runs (treatment trained exactly as the control) in this sweep: the lineage "
    "variance is not measured and the 'with lineage' columns equal the others. Run an "
    "A/A sweep (arm.treatment.recipe=baseline) to measure it."
)
LINEAGE_INTRO = (
    "Lineage variance, from the distinct A/A runs (true lift zero: mean(lift^2) - mean(se^2), "
    "95% bootstrap interval over runs):"
)
HOW_TO_READ = (
    "How to read it: *rejects* is the share of runs whose test rejects at the chosen level "
    "(power in an A/B, the false-positive rate in an A/A); *launch effect* is the true lift "
    "of shipping (every user on a lineage of the recipe trained on every user); *test "
    "target* is what the arms' own lineages served their own users (what the estimate "
    "converges to); coverage of the target is checked against the run's launch effect plus "
    "the configuration's mean bias (the per-run served-users truth is a noisy proxy of the "
    "target's expectation over the split). 'With lineage' widens every interval by the "
    "lineage variance measured on the A/A runs (in sample where those runs are the ones "
    "scored: abtest-sim-forecast gives the held-out rate); 'as the runs reported' scores the "
    "intervals the runs printed, with the lineage SD each applied (set by hand or measured for "
    "its design), so a wrong SD shows here. Brackets: Wilson intervals."
)


@dataclass(frozen=True)
class SweepReport:
    """What the aggregate found: one row per configuration (``summary``, grouped by ``keys``),
    one per run, the lineage variance per estimator, the KS test of the A/A weeks' p-values
    (p, weeks), the level, the paper's users per arm (the power curve's end) and the runs
    skipped with why."""

    summary: pl.DataFrame
    runs: pl.DataFrame
    keys: list[str]
    lineage: Mapping[str, LineageVariance]
    ks: tuple[float, int] | None
    alpha: float
    paper_users: int
    skipped: Mapping[str, str] = field(default_factory=dict)


def sweep_document(report: SweepReport) -> ReportDocument:
    rows = list(report.summary.iter_rows(named=True))
    grouping = ", ".join(f"`{k}`" for k in report.keys) or "nothing (one configuration)"
    intro = (
        f"{report.runs.height} runs, grouped by {grouping}; seeds (and the salts derived from "
        "them) are the replicates. Each configuration lists every estimator of the A/B lift, the "
        "report's headline marked; the verdicts count a run as rejecting when its interval, "
        "widened by the measured lineage variance, excludes zero."
    )
    verdicts = tuple(
        f"{configuration_title(row, report.keys)}: {configuration_verdict(row, report.alpha)}"
        for row in rows
    )
    sections = [
        _configuration(index, row, report.keys, report.alpha) for index, row in enumerate(rows)
    ]
    sections += [_lineage(report.lineage, report.ks), _figures(report.paper_users)]
    sections += [_skipped(report.skipped)] if report.skipped else []
    sections.append(Section("method", "How to read it", (Paragraphs((HOW_TO_READ,)),)))
    return ReportDocument(
        title="Sweep: what the simulated A/B tests say",
        verdict=Verdict(verdicts),
        lead=(intro,),
        sections=tuple(sections),
        footer="Made by abtest-sim-aggregate from the sweep's runs.",
    )


def configuration_title(row: Row, keys: list[str]) -> str:
    kind = "A/A: the treatment trains as the control" if row["is_aa"] else "A/B"
    return (
        f"{configuration_label(row, keys)} ({kind}; {row['runs']} runs, "
        f"{row['users_per_arm']:,.0f} users per arm)"
    )


def _rate_in_words(row: Row, prefix: str) -> str | None:
    value = row.get(prefix)
    if value is None or not math.isfinite(value):
        return None
    low, high = pct(row[f"{prefix}_low"], False, 0), pct(row[f"{prefix}_high"], False, 0)
    return f"{pct(value, False, 0)} of {row[f'{prefix}_n']} runs [{low}, {high}]"


def configuration_verdict(row: Row, alpha: float) -> str:
    """One configuration in words: power (A/B) or the false-positive rate (A/A) of its headline."""
    name = row.get("headline") or "pooled"
    rejects = _rate_in_words(row, f"{name}_reject_with_lineage") or _rate_in_words(
        row, f"{name}_reject"
    )
    if rejects is None:
        return f"{name}: no finished run with this estimator."
    if row["is_aa"]:
        return (
            f"A/A (no true effect): the {name} test declared a difference in {rejects}, "
            f"against a nominal {pct(alpha, False, 0)}."
        )
    lift, launch = row.get(f"{name}_lift_mean"), row.get(f"{name}_launch_mean")
    launch_text = "" if launch is None else f", launch effect {pct(launch)}"
    return (
        f"A/B: the {name} test detected a difference in {rejects} (power); mean estimate "
        f"{pct(math.nan if lift is None else lift)}{launch_text}."
    )


def _share(row: Row, prefix: str) -> str:
    value = row.get(prefix)
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{rate(value, row[f'{prefix}_low'], row[f'{prefix}_high'])} (n={row[f'{prefix}_n']})"


def _estimator_row(row: Row, name: str) -> tuple[str, ...]:
    def both(prefix: str) -> str:
        return f"{_share(row, prefix)} / {_share(row, f'{prefix}_with_lineage')}"

    return (
        f"{name} (headline)" if name == row.get("headline") else name,
        f"{pct(row[f'{name}_lift_mean'])} (SD {pct(row[f'{name}_lift_sd'], False)})",
        pct(row[f"{name}_launch_mean"]),
        f"{pct(row[f'{name}_target_mean'])} (SD {pct(row[f'{name}_target_sd'], False)})",
        pct(row[f"{name}_bias_mean"]),
        _share(row, f"{name}_reject"),
        _share(row, f"{name}_reject_with_lineage"),
        _share(row, f"{name}_reject_as_reported"),
        both(f"{name}_covers_launch"),
        both(f"{name}_covers_target"),
    )


def _configuration(index: int, row: Row, keys: list[str], alpha: float) -> Section:
    """One configuration's estimators (every registered one its runs have)."""
    level = round(100 * (1 - alpha))
    header = (
        "Estimator", "lift: mean (sd)", "launch effect", "test target: mean (sd)", "bias",
        "rejects (no lineage)", "rejects (with lineage)", "rejects (as the runs reported)",
        f"{level}% CI covers launch (no / with lineage)",
        f"{level}% CI covers target (no / with lineage)",
    )  # fmt: skip
    rows = tuple(
        _estimator_row(row, name)
        for name in estimator_keys()
        if row.get(f"{name}_lift_mean") is not None
    )
    weeks = (
        "A/A weeks (each distinct week once): false-positive rate "
        f"{_share(row, 'aa_week_false_positive')} at nominal {pct(alpha, False, 0)}."
    )
    every = Table("estimators-all", header, rows, folded="Targets, bias, rejections and coverage")
    # each estimator's lift, the launch effect, what the runs reported; the rest folded
    blocks = (every.select("estimators", (0, 1, 2, 7)), every, Paragraphs((weeks,)))
    return Section(f"config-{index + 1}", configuration_title(row, keys), blocks)


def _lineage(lineage: Mapping[str, LineageVariance], ks: tuple[float, int] | None) -> Section:
    ks_text = (
        (
            f"A/A-week p-values, each distinct week once: KS test against uniform p = "
            f"{ks[0]:.3f} ({ks[1]} weeks); see `aa_pvalues.png`.",
        )
        if ks is not None
        else ()
    )
    if not lineage:
        return Section("lineage", "Lineage variance", (Paragraphs((NO_LINEAGE, *ks_text)),))
    header = ("Estimator", "A/A runs", "lineage sd", "lineage variance [95% CI]",
              "share of variance")  # fmt: skip
    rows = tuple(
        (
            name,
            str(value.runs),
            pct(value.sd, False),
            f"{value.variance:.3g} [{value.low:.3g}, {value.high:.3g}]",
            pct(value.share_of_total, False, 0),
        )
        for name, value in lineage.items()
    )
    blocks = (
        Paragraphs((LINEAGE_INTRO,)),
        Table("lineage", header, rows),
        *((Paragraphs(ks_text),) if ks_text else ()),
    )
    return Section("lineage", "Lineage variance", blocks)


def _figures(paper_users: int) -> Section:
    return Section(
        "figures",
        "Figures",
        (
            Figure(
                "lift_vs_config",
                "Lift by configuration: the headline estimator's mean lift, the launch effect "
                "and the test's target (bars: 95% interval of the mean over runs).",
            ),
            Figure(
                "power_vs_users",
                "Power at the mean launch effect: planned (lines) and measured (points, Wilson "
                f"intervals), up to the paper's scale ({paper_users:,} users per arm).",
            ),
            Figure(
                "aa_pvalues",
                "A/A weeks' p-values (each distinct week once): flat if the test holds its level.",
            ),
        ),
    )


def _skipped(skipped: Mapping[str, str]) -> Section:
    rows = tuple((f"`{run}`", why) for run, why in skipped.items())
    table = Table("skipped", ("Run", "Why"), rows)
    return Section("skipped", f"Runs skipped ({len(skipped)})", (table,))
