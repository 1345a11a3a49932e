"""The A/B test report, for simulated and real logs alike: one entry point, ``write_report``.

Input: one row per (unit, arm, day) with ``clicks`` and ``impressions``, an optional ``phase`` ("aa"
for the pre-period A/A days on the same users, "ab" for the treatment days) and optional
``true_clicks`` (the sum of the simulator's p_true). Output under ``<out_dir>/report/``:

- ``daily.csv`` (**contract**, columns ``DAILY_COLUMNS``), ``summary.json``, ``report.md``
  (rendered by ``abtest_sim.report_md``),
  ``arms.csv`` (CTR per arm and day), ``cumulative.csv`` (lift of the pooled CTR so far);
- ``daily_lift.png``, ``cumulative_lift.png``, ``ctr_per_arm.png``.

Everything is computed before anything is written; the folder is written beside its final place and
renamed into it, so a failed run leaves no half-written report. The same input gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from abtest_sim.estimates import (
    ReportOptions,
    ReportOptionsError,
)
from abtest_sim.report_calibration import calibration_section
from abtest_sim.report_md import render_markdown
from abtest_sim.report_summary import ReportSummary, json_ready, summarise, with_diverged
from abtest_sim.stats.daily_columns import DAILY_COLUMNS
from abtest_sim.stats.daily_table import daily_table
from abtest_sim.stats.series import arm_days, cumulative_lift
from abtest_sim.stats.unit_days import ReportInputError
from reloop.atomic import atomic_dir

__all__ = ["DAILY_COLUMNS", "ReportInputError", "ReportOptions", "ReportSummary", "write_report"]


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


def write_report(
    unit_days: pl.DataFrame,
    out_dir: Path | str,
    *,
    control: str,
    treatment: str,
    aa_control: str | None = None,
    options: ReportOptions | None = None,
    shares: Mapping[str, float] | None = None,
    metadata: Mapping[str, Any] | None = None,
    launch_truth: pl.DataFrame | None = None,
    paired: bool = False,
    plots: bool = True,
    diverged: Mapping[str, str] | None = None,
    model_calibration: pl.DataFrame | None = None,
) -> ReportSummary:
    """Analyse a per-(unit, arm, day) table and write ``<out_dir>/report/``.

    ``unit_days``: columns unit, arm, day, clicks, impressions; optional phase ("aa" / "ab") and
    true_clicks. ``aa_control``: a concurrent second control (A/A'), giving the shared-control
    A/B minus A/A. ``shares``: the designed share of users per arm for the SRM test (default:
    equal). ``metadata`` goes into summary.json (e.g. where the log came from). Raises
    ``ReportInputError`` (a ``ValueError``) with a one-line message when the table is unusable.
    ``options``: level, headline estimator and lineage components (``conf/stats``).
    ``launch_truth`` (day, arm, true_clicks, impressions): a simulator's launch lineages (each
    arm's recipe serving and trained on every user); ``paired``: every unit in every arm.
    ``plots``: write the PNG figures (large sweeps skip them: the aggregate has its own).
    ``diverged``: arms whose model diverged (``abtest_sim.health``), the first warning.
    ``model_calibration``: a simulator's per arm-day calibration diagnostic
    (``abtest_sim.model_calibration``), written as ``calibration.csv`` and summarised in report.md.
    """
    options = options or ReportOptions()
    alpha = options.alpha
    table = daily_table(
        unit_days,
        control=control,
        treatment=treatment,
        aa_control=aa_control,
        alpha=alpha,
        shares=shares,
        launch_truth=launch_truth,
        paired=paired,
    )
    report_dir = Path(out_dir) / "report"
    control_log, treatment_log = list(table.logs.values())[:2]
    cumulative = cumulative_lift(control_log, treatment_log, table.design, alpha)
    try:
        summary = summarise(table, cumulative, unit_days, options=options, report_dir=report_dir)
    except ReportOptionsError as error:
        raise ReportInputError(str(error)) from None
    if diverged:
        summary = with_diverged(summary, diverged)
    per_arm = arm_days(table.logs, table.design)
    summary_json = {
        # No paths: the same log gives the same bytes wherever the report is written.
        "summary": {k: v for k, v in summary.to_dict().items() if k != "report_dir"},
        "method": METHOD_NOTE,
        "input": json_ready(dict(metadata or {})),
    }
    writers: dict[str, Callable[[Path], Any]] = {
        "daily.csv": table.frame.write_csv,
        "arms.csv": per_arm.write_csv,
        "cumulative.csv": cumulative.write_csv,
        "summary.json": lambda p: p.write_text(json.dumps(summary_json, indent=2) + "\n"),
        "report.md": lambda p: p.write_text(
            render_markdown(summary, table, METHOD_NOTE) + calibration_section(model_calibration)
        ),
    }
    if model_calibration is not None:
        writers["calibration.csv"] = model_calibration.write_csv

    def figures_into(folder: Path) -> None:
        if not plots:
            return
        from abtest_sim import plots as figures  # matplotlib loads only when a report is written

        figures.daily_lift(table.main, folder / "daily_lift.png", alpha=alpha)
        figures.cumulative_lift(cumulative, folder / "cumulative_lift.png", alpha=alpha)
        figures.ctr_per_arm(per_arm, folder / "ctr_per_arm.png")

    _publish(report_dir, writers, figures_into)
    return summary


def _publish(
    report_dir: Path, writers: Mapping[str, Callable[[Path], Any]], extra: Callable[[Path], None]
) -> None:
    """Write every file into a staging folder beside ``report_dir``, then swap it into place."""
    with atomic_dir(report_dir) as staging:
        for name, write in writers.items():
            write(staging / name)
        extra(staging)
