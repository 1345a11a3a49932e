"""The report's blocks on the models' calibration: a simulator's ``calibration.csv`` (computed by
``abtest_sim.sim.diagnostics``) summarised per arm and phase, and any per-(arm, day) table that
carries the diagnostic shown day by day."""

from __future__ import annotations

import polars as pl

from abtest_sim.analysis.unit_days import PHASE_NAMES
from abtest_sim.report.blocks import Block, Table
from abtest_sim.report.format import number, pct

__all__ = ["CALIBRATION_COLUMNS", "calibration_blocks", "calibration_frame", "calibration_summary"]

# The calibration diagnostic per arm and day (mean pCTR, over CTR and over the true CTR, and the
# share of predictions that rose against the previous version); a per-(arm, day) table carrying
# any of these columns (``ReportContext.calibration``, or arms.csv) is shown.
CALIBRATION_COLUMNS = ("mean_pctr", "pctr_over_ctr", "pctr_over_true", "share_rose")
RATIO_COLUMNS = ("pctr_over_ctr", "pctr_over_true")
LABELS = {
    "mean_pctr": "mean pCTR",
    "pctr_over_ctr": "mean pCTR / CTR",
    "pctr_over_true": "mean pCTR / true CTR",
    "share_rose": "share of pCTRs that rose",
}
SUMMARY_COLUMNS = {"arm", "phase", "pctr_over_ctr", "pctr_over_true", "share_rose"}
SUMMARY_NOTE = (
    "Mean over the phase's days (`calibration.csv` has every day). pCTR / true CTR below 1: the "
    "serving model under-predicts. Share rose: impressions whose pCTR is above the previous "
    "version's prediction of them (ReLoop's loss makes raising a prediction costly, so a braked "
    "lineage shows a low share)."
)


def calibration_summary(table: pl.DataFrame) -> pl.DataFrame:
    """Per arm and phase: the mean over days of pCTR / CTR, pCTR / true CTR and share rose."""
    return (
        table.group_by("arm", "phase", maintain_order=True)
        .agg(pl.col("pctr_over_ctr", "pctr_over_true", "share_rose").mean())
        .sort("arm", "phase")
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


def calibration_blocks(per_arm: pl.DataFrame, given: pl.DataFrame | None) -> tuple[Block, ...]:
    """The summary per arm and phase (the simulator's whole table only), then every day; none
    where no table carries the diagnostic."""
    frame = calibration_frame(per_arm, given)
    if frame is None:
        return ()  # a log without the models' predictions: nothing to say
    blocks: list[Block] = []
    if given is not None and given.height and SUMMARY_COLUMNS <= set(given.columns):
        rows = tuple(
            (str(arm), PHASE_NAMES.get(phase, str(phase)), _ratio(over_ctr), _ratio(over_true),
             "n/a" if rose is None else pct(rose, False, digits=0))
            for arm, phase, over_ctr, over_true, rose in calibration_summary(given).iter_rows()
        )  # fmt: skip
        summary_header = ("Arm", "Phase", "pCTR / CTR", "pCTR / true CTR", "Share rose")
        blocks.append(Table("calibration-summary", summary_header, rows, caption=SUMMARY_NOTE))
    header, days = _by_day(frame)
    folded = "Every day, per arm" if blocks else ""  # unfolded where it is all there is
    blocks.append(Table("calibration", header, days, caption="Every day of the test:",
                        folded=folded))  # fmt: skip
    return tuple(blocks)


def _by_day(frame: pl.DataFrame) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """The per-(arm, day) diagnostic pivoted: one row per day, a column per measure and arm."""
    columns = [c for c in CALIBRATION_COLUMNS if c in frame.columns]
    arms = list(dict.fromkeys(frame["arm"].cast(pl.String).to_list()))
    days = list(dict.fromkeys(frame["day"].to_list()))
    cells = {(str(r["arm"]), r["day"]): r for r in frame.iter_rows(named=True)}
    header = ("Day", *(f"{LABELS[c]}: {arm}" for c in columns for arm in arms))

    def cell(row: dict | None, column: str) -> str:
        if row is None:
            return ""
        value = row[column]
        return number(value) if column in RATIO_COLUMNS else pct(value, False)

    rows = tuple(
        (str(day), *(cell(cells.get((arm, day)), c) for c in columns for arm in arms))
        for day in days
    )
    return header, rows


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
