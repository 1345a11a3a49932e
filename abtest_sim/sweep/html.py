"""The sweep's report.html (``abtest-sim-aggregate``): what many simulated tests say, as one page.

The same tables as the aggregate's report.md (``aggregate_report``), a line per configuration in
plain words (how often the test detected the effect, or in an A/A how often it cried wolf), and the
figures inline as SVG.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import polars as pl

from abtest_sim.report.page import esc, figure, page, paragraphs, section, table, unordered
from abtest_sim.sweep.markdown import (
    HOW_TO_READ,
    LINEAGE_INTRO,
    NO_LINEAGE,
    aa_week_line,
    configuration_title,
    estimator_table,
    ks_line,
    lineage_table,
)
from abtest_sim.sweep.validity import LineageVariance

__all__ = ["configuration_verdict", "render_html"]

CAPTIONS = {
    "lift_vs_config": "Lift by configuration: the headline estimator's mean lift, the launch "
    "effect and the test's target (bars: 95% interval of the mean over runs).",
    "power_vs_users": "Power at the mean launch effect: planned (lines) and measured (points, "
    "Wilson intervals), up to the paper's scale.",
    "aa_pvalues": "A/A weeks' p-values (each distinct week once): flat if the test holds its "
    "level.",
}


def _rate(row: Mapping[str, Any], prefix: str) -> str | None:
    value = row.get(prefix)
    if value is None or not math.isfinite(value):
        return None
    low, high = row[f"{prefix}_low"], row[f"{prefix}_high"]
    return f"{100 * value:.0f}% of {row[f'{prefix}_n']} runs [{100 * low:.0f}%, {100 * high:.0f}%]"


def configuration_verdict(row: Mapping[str, Any], alpha: float) -> str:
    """One configuration in words: power (A/B) or the false-positive rate (A/A) of its headline."""
    name = row.get("headline") or "pooled"
    rejects = _rate(row, f"{name}_reject_with_lineage") or _rate(row, f"{name}_reject")
    if rejects is None:
        return f"{name}: no finished run with this estimator."
    if row["is_aa"]:
        return (
            f"A/A (no true effect): the {name} test declared a difference in {rejects}, "
            f"against a nominal {100 * alpha:.0f}%."
        )
    lift, launch = row.get(f"{name}_lift_mean"), row.get(f"{name}_launch_mean")
    launch_text = "" if launch is None else f", launch effect {100 * launch:+.2f}%"
    return (
        f"A/B: the {name} test detected a difference in {rejects} (power); mean estimate "
        f"{100 * (lift or math.nan):+.2f}%{launch_text}."
    )


def render_html(
    summary: pl.DataFrame,
    runs: pl.DataFrame,
    keys: list[str],
    lineage: Mapping[str, LineageVariance],
    ks: tuple[float, int] | None,
    alpha: float,
    skipped: Mapping[str, str],
    svgs: Mapping[str, str] | None,
) -> str:
    """The page; ``svgs``: the figures by name (``aggregate_report.figures``) as inline SVG."""
    title = "Sweep: what the simulated A/B tests say"
    grouping = ", ".join(keys) or "nothing (one configuration)"
    verdicts = [
        f"{configuration_title(row, keys)}: {configuration_verdict(row, alpha)}"
        for row in summary.iter_rows(named=True)
    ]
    header = "\n".join(
        [
            f"<h1>{esc(title)}</h1>",
            f'<div id="verdict" class="verdict flat">{unordered(verdicts)}</div>',
            paragraphs(
                f"{runs.height} runs grouped by {grouping}; seeds (and the salts derived from "
                "them) are the replicates. Rates count a run as rejecting when its interval, "
                "widened by the measured lineage variance, excludes zero.",
                css="muted",
            ),
        ]
    )
    sections = [
        _configuration(k, row, keys, alpha) for k, row in enumerate(summary.iter_rows(named=True))
    ]
    sections += [_lineage(lineage, ks), _figures(svgs), _skipped(skipped)]
    sections.append(section("method", "How to read it", paragraphs(HOW_TO_READ.replace("*", ""))))
    return page(title, header, sections, "Made by abtest-sim-aggregate from the sweep's runs.")


def _configuration(index: int, row: Mapping[str, Any], keys: list[str], alpha: float) -> str:
    header, rows = estimator_table(row, alpha)
    rows = [[f"{r[0][:-1]} (headline)" if r[0].endswith("*") else r[0], *r[1:]] for r in rows]
    return section(
        f"config-{index + 1}",
        configuration_title(row, keys),
        table(header, rows, css="estimators"),
        paragraphs(aa_week_line(row, alpha)),
    )


def _lineage(lineage: Mapping[str, LineageVariance], ks: tuple[float, int] | None) -> str:
    ks_text = paragraphs(ks_line(ks).replace("`", "")) if ks is not None else ""
    if not lineage:
        return section("lineage", "Lineage variance", paragraphs(NO_LINEAGE), ks_text)
    header, rows = lineage_table(lineage)
    return section(
        "lineage",
        "Lineage variance",
        paragraphs(LINEAGE_INTRO),
        table(header, rows, css="lineage"),
        ks_text,
    )


def _figures(svgs: Mapping[str, str] | None) -> str:
    parts = [figure(None if svgs is None else svgs.get(n), c, n) for n, c in CAPTIONS.items()]
    return section("figures", "Figures", *parts)


def _skipped(skipped: Mapping[str, str]) -> str:
    if not skipped:
        return ""
    header, rows = ["Run", "Why"], [[run, why] for run, why in skipped.items()]
    return section("skipped", f"Runs skipped ({len(skipped)})", table(header, rows))
