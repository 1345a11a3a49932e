"""The tables a simulated run hands to its report: per (user, arm, test day) sums of its logs,
and per (test day, arm) the launch lineages' truth. Test days are numbered from 1."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from abtest_sim.sim import logs
from abtest_sim.sim.config import SimulationConfig
from abtest_sim.sim.rundir import served_truth_root, truth_path

__all__ = ["launch_truth_table", "unit_day_table"]


def unit_day_table(run_dir: Path, config: SimulationConfig) -> pl.DataFrame:
    """Per-(user, arm, test day) clicks and impressions (from the logs) and expected clicks (the
    sum of p_true, from the served truth kept apart), with the day's phase: the input of
    ``abtest_sim.report.writer``. Days are numbered from 1 within the test."""
    spec = config.experiment
    first = spec.first_test_day
    test_days = range(first, first + spec.test_days)
    keys = ["user_id", "arm", "day"]
    counts = (
        logs.scan(run_dir / "logs", config.arm_names, test_days)
        .group_by(keys)
        .agg(
            pl.col("click").sum().cast(pl.Int64).alias("clicks"),
            pl.len().cast(pl.Int64).alias("impressions"),
        )
    )
    truth = (
        logs.scan(served_truth_root(run_dir), config.arm_names, test_days)
        .group_by(keys)
        .agg(pl.col("p_true").cast(pl.Float64).sum().alias("true_clicks"))
    )
    frame = (
        counts.join(truth, on=keys, how="left")
        .with_columns((pl.col("day").cast(pl.Int32) - first + 1).alias("day"))
        .with_columns(
            pl.when(pl.col("day") <= spec.aa_days)
            .then(pl.lit("aa"))
            .otherwise(pl.lit("ab"))
            .alias("phase")
        )
        .rename({"user_id": "unit"})
        .sort("day", "arm", "unit")
        .collect()
    )
    return frame.select("unit", "arm", "day", "phase", "clicks", "impressions", "true_clicks")


def launch_truth_table(run_dir: Path, config: SimulationConfig) -> pl.DataFrame | None:
    """Per-(test day, arm) expected clicks and impressions of each arm's launch lineage, with days
    numbered as in ``unit_day_table``; None if the run simulated no launch lineages."""
    spec = config.experiment
    if not spec.launch_truth or spec.paired:
        return None
    first = spec.first_test_day
    days = range(first, first + spec.test_days)
    frame = pl.concat([pl.read_parquet(truth_path(run_dir, day)) for day in days])
    return frame.with_columns((pl.col("day") - first + 1).alias("day"))
