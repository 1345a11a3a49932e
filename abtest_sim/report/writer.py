"""The A/B test report, for simulated and real logs alike: one entry point, ``write_report``.

Input (``abtest_sim.report.inputs.ReportInput``): one row per (unit, arm, day) with ``clicks`` and
``impressions``, an optional ``phase`` ("aa" for the pre-period A/A days on the same users, "ab" for
the treatment days) and optional ``true_clicks`` (the sum of the simulator's p_true); the compared
``Arms``; the ``ReportOptions``; the ``ReportContext``. Output under ``<out_dir>/report/``:

- ``daily.csv`` (**contract**, columns ``DAILY_COLUMNS``), ``summary.json``, ``arms.csv`` (CTR per
  arm and day), ``cumulative.csv`` (the headline estimator's lift after each A/B day, with its
  always-valid confidence sequence: what the chart of the lift over the days shows; the pooled
  lift so far is in daily.csv),
  ``calibration.csv`` (when the context carries it);
- ``report.md`` and ``report.html``: one document (``abtest_sim.report.document``) laid out by
  ``abtest_sim.report.markdown`` and ``abtest_sim.report.html`` (one self-contained page with the
  figures inline);
- ``daily_lift.png``, ``cumulative_lift.png`` (with cumulative.csv, where the headline estimator
  has a lift after each A/B day: every built-in one does), ``ctr_per_arm.png``.

Everything is computed before anything is written; the folder is written beside its final place and
renamed into it, so a failed run leaves no half-written report. The same input gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from abtest_sim.analysis.daily_table import DailyTable, daily_table
from abtest_sim.analysis.estimators import DAILY_COLUMNS
from abtest_sim.analysis.options import ReportOptions, ReportOptionsError
from abtest_sim.analysis.series import arm_days
from abtest_sim.analysis.summary import ReportSummary, json_ready, summarise, with_diverged
from abtest_sim.analysis.unit_days import ReportInputError
from abtest_sim.analysis.warnings import LINEAGE_HINT
from abtest_sim.report.document import METHOD_NOTE, report_document
from abtest_sim.report.html import render_html
from abtest_sim.report.inputs import Arms, ReportContext, ReportInput
from abtest_sim.report.markdown import render_markdown
from reloop.owned import check_writable, replace_owned_dir

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "DAILY_COLUMNS",
    "Arms",
    "ReportContext",
    "ReportInput",
    "ReportInputError",
    "ReportOptions",
    "ReportSummary",
    "write_report",
]

Writer = Callable[[Path], Any]


def write_report(report: ReportInput, out_dir: Path | str, *, plots: bool = True) -> ReportSummary:
    """Analyse ``report.unit_days`` and write ``<out_dir>/report/``.

    Raises ``ReportInputError`` (a ``ValueError``) with a one-line message when the table is
    unusable, and ``NotOwned`` before any work when ``report/`` is another app's or a user's.
    ``plots``: draw the figures (PNGs, and inline in report.html; large sweeps skip them: the
    aggregate has its own).
    """
    report_dir = Path(out_dir) / "report"
    owner = report.context.owner
    check_writable(report_dir, owner, legacy=_unmarked_report, what="report folder")
    table = _table(report)
    summary = _summary(table, report, report_dir)
    per_arm = arm_days(table.logs, table.design)
    # the headline's lift after each A/B day: the chart of the lift over the days, cumulative.csv
    so_far = table.so_far(summary.lead.name, summary.lead.lineage_sd)
    document = report_document(summary, table, so_far, per_arm, report.context, figures=plots)
    alpha = report.options.alpha
    svgs, pngs = _figures(table.main, so_far, per_arm, alpha) if plots else (None, {})
    writers = _writers(summary, table, so_far, per_arm, report.context) | pngs
    writers["report.md"] = _text(render_markdown(document))
    writers["report.html"] = _text(render_html(document, svgs))
    with replace_owned_dir(
        report_dir, owner, legacy=_unmarked_report, what="report folder"
    ) as staging:
        for name, write in writers.items():
            write(staging / name)
    return summary


def _table(report: ReportInput) -> DailyTable:
    arms, context = report.arms, report.context
    return daily_table(
        report.unit_days,
        control=arms.control,
        treatment=arms.treatment,
        aa_control=arms.aa_control,
        alpha=report.options.alpha,
        shares=arms.shares,
        launch_truth=context.launch_truth,
        paired=context.paired,
        cs_rho=report.options.cs_rho,
    )


def _unmarked_report(folder: Path) -> bool:
    """A report folder of an earlier version (no marker): its summary.json is a report's."""
    return (folder / "summary.json").is_file() and (folder / "daily.csv").is_file()


def _summary(table: DailyTable, report: ReportInput, report_dir: Path) -> ReportSummary:
    try:
        summary = summarise(
            table, report.unit_days, options=report.options, report_dir=report_dir,
            lineage_note=report.context.lineage_note or LINEAGE_HINT,
        )  # fmt: skip
    except ReportOptionsError as error:
        raise ReportInputError(str(error)) from None
    diverged = report.context.diverged
    return with_diverged(summary, diverged) if diverged else summary


def _figures(
    main: pl.DataFrame, so_far: pl.DataFrame | None, per_arm: pl.DataFrame, alpha: float
) -> tuple[dict[str, str], dict[str, Writer]]:
    """The figures as inline SVGs for report.html and as writers of their PNGs (the lift over
    the days only when the headline has such a series)."""
    from abtest_sim.report import plots  # matplotlib loads only when a report is drawn

    drawn: dict[str, Figure] = {"daily_lift": plots.daily_lift_figure(main, alpha=alpha)}
    if so_far is not None:
        drawn["cumulative_lift"] = plots.cumulative_lift_figure(so_far, alpha=alpha)
    drawn["ctr_per_arm"] = plots.ctr_per_arm_figure(per_arm)
    svgs = {name: plots.svg_text(figure, name) for name, figure in drawn.items()}
    pngs: dict[str, Writer] = {
        f"{name}.png": partial(plots.save_png, figure) for name, figure in drawn.items()
    }
    return svgs, pngs


def _text(text: str) -> Writer:
    return lambda path: path.write_text(text, encoding="utf-8")


def _writers(
    summary: ReportSummary,
    table: DailyTable,
    so_far: pl.DataFrame | None,
    per_arm: pl.DataFrame,
    context: ReportContext,
) -> dict[str, Writer]:
    summary_json = {
        # No paths: the same log gives the same bytes wherever the report is written.
        "summary": {k: v for k, v in summary.to_dict().items() if k != "report_dir"},
        "method": METHOD_NOTE,
        "input": json_ready(dict(context.metadata)),
    }
    writers: dict[str, Writer] = {
        "daily.csv": table.frame.write_csv,
        "arms.csv": per_arm.write_csv,
        "summary.json": _text(json.dumps(summary_json, indent=2) + "\n"),
    }
    if so_far is not None:
        writers["cumulative.csv"] = so_far.write_csv
    if context.calibration is not None:
        writers["calibration.csv"] = context.calibration.write_csv
    return writers
