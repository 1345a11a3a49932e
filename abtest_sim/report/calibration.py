"""The report's section on model calibration (a simulator's ``calibration.csv``, computed by
``abtest_sim.sim.diagnostics``): per arm and phase, the mean of the daily diagnostics."""

from __future__ import annotations

import polars as pl

__all__ = ["calibration_section", "calibration_summary"]

SUMMARY_COLUMNS = {"arm", "phase", "pctr_over_ctr", "pctr_over_true", "share_rose"}


def calibration_summary(table: pl.DataFrame) -> pl.DataFrame:
    """Per arm and phase: the mean over days of pCTR / CTR, pCTR / true CTR and share rose."""
    return (
        table.group_by("arm", "phase", maintain_order=True)
        .agg(pl.col("pctr_over_ctr", "pctr_over_true", "share_rose").mean())
        .sort("arm", "phase")
    )


def calibration_section(table: pl.DataFrame | None) -> str:
    """Markdown: the per-arm summary with how to read it; empty without the simulator's table
    (report.html shows any per arm-day calibration table, also a partial one)."""
    if table is None or table.height == 0 or not SUMMARY_COLUMNS <= set(table.columns):
        return ""
    lines = [
        "", "## Model calibration", "",
        "Mean over the phase's days (`calibration.csv` has every day). pCTR / true CTR below 1: "
        "the serving model under-predicts. Share rose: impressions whose pCTR is above the "
        "previous version's prediction of them (ReLoop's loss makes raising a prediction "
        "costly, so a braked lineage shows a low share).", "",
        "| arm | phase | pCTR / CTR | pCTR / true CTR | share rose |", "|---|---|---|---|---|",
    ]  # fmt: skip
    for arm, phase, over_ctr, over_true, rose in calibration_summary(table).iter_rows():
        lines.append(f"| {arm} | {phase} | {_ratio(over_ctr)} | {_ratio(over_true)} | "
                     f"{'n/a' if rose is None else f'{rose:.0%}'} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
