"""The calibration diagnostic of a simulated run: per test arm and day, how the serving model's
pCTR compares with what happened, and how its predictions moved from the previous version.

- ``pctr_over_ctr``: mean logged pCTR over the observed CTR (1: calibrated on the day's clicks);
- ``pctr_over_true``: mean pCTR over the mean true click probability (the oracle, noise-free);
- ``share_rose``: the share of the day's impressions whose pCTR under the serving version is
  above the previous version's prediction of the same impression. ReLoop's self-correction term
  makes raising a prediction above ``y_last`` cost about (1 - q) / q times as much as lowering
  it at a CTR of q, so a ReLoop lineage lets fewer predictions rise: this is where its brake
  shows in any run.

Computed after the run from the logs, the served truth and the saved versions (one forward pass of
the previous version over each arm-day's impressions), so a resumed run gives the same table.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import polars as pl

import reloop
from abtest_sim.sim import logs
from abtest_sim.sim.config import SimulationConfig
from abtest_sim.sim.run_tables import phase_column
from abtest_sim.sim.rundir import RunDir

__all__ = ["calibration_table"]


def calibration_table(
    run_dir: RunDir | str | os.PathLike[str], config: SimulationConfig
) -> pl.DataFrame:
    """One row per (test arm, test day), days numbered from 1 as in the report."""
    run_dir = RunDir.of(run_dir)
    spec = config.experiment
    first = spec.first_test_day
    rows = []
    for arm in config.arm_names:  # a loop over arm-days, each one vectorised
        previous = None  # the version that served the day before (none before the split)
        for day in spec.test_day_range:
            serving = _serving_model(run_dir, arm, day, first)
            frame = _day_frame(run_dir, arm, day)
            rows.append(_row(arm, day - first + 1, frame, previous))
            previous = serving
    table = pl.DataFrame(rows, schema=SCHEMA, orient="row")
    return table.with_columns(phase_column(spec).alias("phase"))


SCHEMA = {
    "arm": pl.String, "day": pl.Int64, "impressions": pl.Int64, "mean_pctr": pl.Float64,
    "ctr": pl.Float64, "pctr_over_ctr": pl.Float64, "pctr_over_true": pl.Float64,
    "share_rose": pl.Float64,
}  # fmt: skip


def _serving_model(run_dir: RunDir, arm: str, day: int, first: int) -> Path:
    """The file of the version that served ``day``: trained on night day - 1, or the start."""
    return run_dir.start_model if day == first else run_dir.test.model(arm, day - 1)


def _day_frame(run_dir: RunDir, arm: str, day: int) -> pl.DataFrame:
    served = pl.read_parquet(logs.partition_path(run_dir.logs, arm, day))
    truth_file = logs.partition_path(run_dir.served_truth, arm, day)
    truth = pl.read_parquet(truth_file).select(*logs.TRUTH_KEYS[2:], "p_true")
    keys = list(logs.TRUTH_KEYS[2:])  # user, request, position: the row's identity on the day
    return served.join(truth, on=keys, how="left", maintain_order="left")


def _row(arm: str, day: int, frame: pl.DataFrame, previous: Path | None) -> tuple:
    if frame.height == 0:
        return (arm, day, 0, None, None, None, None, None)
    pctr = frame.get_column("pctr").cast(pl.Float64).to_numpy()
    clicks = frame.get_column("click").cast(pl.Float64).to_numpy()
    p_true = frame.get_column("p_true").cast(pl.Float64).to_numpy()
    share_rose = None
    if previous is not None and previous.is_file():
        before = reloop.predict(reloop.load(previous), frame.select(logs.observable_columns(frame)))
        share_rose = float(np.mean(pctr > before))
    ctr = float(clicks.mean())
    return (
        arm, day, frame.height, float(pctr.mean()), ctr,
        float(pctr.mean() / ctr) if ctr > 0 else None, float(pctr.mean() / p_true.mean()),
        share_rose,
    )  # fmt: skip
