"""The A/B test report, for simulated and real logs alike: one entry point, ``write_report``.

Input: one row per (unit, arm, day) with ``clicks`` and ``impressions``, an optional ``phase`` ("aa"
for the pre-period A/A days on the same users, "ab" for the treatment days) and optional
``true_clicks`` (the sum of the simulator's p_true). Output under ``<out_dir>/report/``:

- ``daily.csv`` (**contract**, columns ``DAILY_COLUMNS``), ``summary.json``, ``report.md``
  (rendered by ``abtest_sim.report.markdown``),
  ``arms.csv`` (CTR per arm and day), ``cumulative.csv`` (lift of the pooled CTR so far, with its
  always-valid confidence sequence);
- ``report.html`` (``abtest_sim.report.html``): one self-contained page with the figures inline;
- ``daily_lift.png``, ``cumulative_lift.png``, ``ctr_per_arm.png``.

Everything is computed before anything is written; the folder is written beside its final place and
renamed into it, so a failed run leaves no half-written report. The same input gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
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
from abtest_sim.report.calibration import calibration_section
from abtest_sim.report.html import render_html
from abtest_sim.report.markdown import render_markdown
from reloop.owned import check_writable, replace_owned_dir

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["DAILY_COLUMNS", "ReportInputError", "ReportOptions", "ReportSummary", "write_report"]


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
    calibration: pl.DataFrame | None = None,
    owner: str = "abtest-analyze",
) -> ReportSummary:
    """Analyse a per-(unit, arm, day) table and write ``<out_dir>/report/``.

    ``unit_days``: columns unit, arm, day, clicks, impressions; optional phase ("aa" / "ab") and
    true_clicks. ``aa_control``: a concurrent second control (A/A'), giving the shared-control
    A/B minus A/A. ``shares``: the designed share of users per arm for the SRM test (default:
    equal). ``metadata`` goes into summary.json (e.g. where the log came from). Raises
    ``ReportInputError`` (a ``ValueError``) with a one-line message when the table is unusable.
    ``options``: level, headline estimator, lineage components and the confidence sequence's
    tuning (``conf/stats``). ``launch_truth`` (day, arm, true_clicks, impressions): a simulator's
    launch lineages (each arm's recipe serving and trained on every user); ``paired``: every unit
    in every arm. ``plots``: draw the figures (PNGs, and inline in report.html; large sweeps skip
    them: the aggregate has its own). ``diverged``: arms whose model diverged
    (``abtest_sim.sim.health``), the first warning. ``calibration``: a per-(arm, day) table with any
    of ``report_html_parts.CALIBRATION_COLUMNS`` (a simulator's ``abtest_sim.sim.diagnostics``),
    written as calibration.csv, summarised in report.md and shown in report.html's diagnostics.
    ``owner``: the app writing; an existing ``report/`` is replaced only if that app wrote it
    (``reloop.owned``: files it did not write are kept, another app's or a user's folder is
    refused with ``NotOwned`` before any work).
    """
    report_dir = Path(out_dir) / "report"
    check_writable(report_dir, owner, legacy=_unmarked_report, what="report folder")
    options = options or ReportOptions()
    table = daily_table(
        unit_days,
        control=control,
        treatment=treatment,
        aa_control=aa_control,
        alpha=options.alpha,
        shares=shares,
        launch_truth=launch_truth,
        paired=paired,
        cs_rho=options.cs_rho,
    )
    summary = _summary(table, unit_days, options, report_dir, diverged)
    per_arm = arm_days(table.logs, table.design)
    svgs, pngs = _figures(table, per_arm, options.alpha) if plots else (None, {})
    source = _source_line(metadata or {})
    html = render_html(summary, table, per_arm, method_note=METHOD_NOTE, figures=svgs,
                       source=source, calibration=calibration)  # fmt: skip
    writers = _writers(summary, table, per_arm, metadata, html, calibration) | pngs
    with replace_owned_dir(
        report_dir, owner, legacy=_unmarked_report, what="report folder"
    ) as staging:
        for name, write in writers.items():
            write(staging / name)
    return summary


def _unmarked_report(folder: Path) -> bool:
    """A report folder of an earlier version (no marker): its summary.json is a report's."""
    return (folder / "summary.json").is_file() and (folder / "daily.csv").is_file()


def _summary(
    table: DailyTable,
    unit_days: pl.DataFrame,
    options: ReportOptions,
    report_dir: Path,
    diverged: Mapping[str, str] | None,
) -> ReportSummary:
    try:
        summary = summarise(table, unit_days, options=options, report_dir=report_dir)
    except ReportOptionsError as error:
        raise ReportInputError(str(error)) from None
    return with_diverged(summary, diverged) if diverged else summary


def _figures(
    table: DailyTable, per_arm: pl.DataFrame, alpha: float
) -> tuple[dict[str, str], dict[str, Callable[[Path], Any]]]:
    """The figures as inline SVGs for report.html and as writers of their PNGs."""
    from abtest_sim.report import plots  # matplotlib loads only when a report is drawn

    drawn: dict[str, Figure] = {
        "daily_lift": plots.daily_lift_figure(table.main, alpha=alpha),
        "cumulative_lift": plots.cumulative_lift_figure(table.cumulative, alpha=alpha),
        "ctr_per_arm": plots.ctr_per_arm_figure(per_arm),
    }
    svgs = {name: plots.svg_text(figure, name) for name, figure in drawn.items()}
    pngs = {f"{name}.png": partial(plots.save_png, figure) for name, figure in drawn.items()}
    return svgs, pngs


def _writers(
    summary: ReportSummary,
    table: DailyTable,
    per_arm: pl.DataFrame,
    metadata: Mapping[str, Any] | None,
    html: str,
    calibration: pl.DataFrame | None,
) -> dict[str, Callable[[Path], Any]]:
    summary_json = {
        # No paths: the same log gives the same bytes wherever the report is written.
        "summary": {k: v for k, v in summary.to_dict().items() if k != "report_dir"},
        "method": METHOD_NOTE,
        "input": json_ready(dict(metadata or {})),
    }
    markdown = render_markdown(summary, table, METHOD_NOTE) + calibration_section(calibration)
    writers: dict[str, Callable[[Path], Any]] = {
        "daily.csv": table.frame.write_csv,
        "arms.csv": per_arm.write_csv,
        "cumulative.csv": table.cumulative.write_csv,
        "summary.json": lambda p: p.write_text(json.dumps(summary_json, indent=2) + "\n"),
        "report.md": lambda p: p.write_text(markdown),
        "report.html": lambda p: p.write_text(html, encoding="utf-8"),
    }
    if calibration is not None:
        writers["calibration.csv"] = calibration.write_csv
    return writers


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
