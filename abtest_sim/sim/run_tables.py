"""The tables a simulated run hands to its report: per (user, arm, test day) sums of its logs,
and per (test day, arm) the launch lineages' truth. Test days are numbered from 1, and their
phase is ``ExperimentSpec.phase_of``'s (``phase_column``)."""

from __future__ import annotations

import os

import polars as pl

from abtest_sim.sim import logs
from abtest_sim.sim.config import ExperimentSpec, SimulationConfig
from abtest_sim.sim.rundir import RunDir

__all__ = ["launch_truth_table", "phase_column", "unit_day_table"]


def phase_column(spec: ExperimentSpec, day: str = "day") -> pl.Expr:
    """The phase (``aa`` or ``ab``) of the test day (numbered from 1) in column ``day``."""
    return pl.col(day).replace_strict(spec.test_day_phases(), return_dtype=pl.String)


def unit_day_table(
    run_dir: RunDir | str | os.PathLike[str], config: SimulationConfig
) -> pl.DataFrame:
    """Per-(user, arm, test day) clicks and impressions (from the logs) and expected clicks (the
    sum of p_true, from the served truth kept apart), with the day's phase: the input of
    ``abtest_sim.report.writer``. Days are numbered from 1 within the test."""
    run_dir = RunDir.of(run_dir)
    spec = config.experiment
    test_days = spec.test_day_range
    keys = ["user_id", "arm", "day"]
    counts = (
        logs.scan(run_dir.logs, config.arm_names, test_days)
        .group_by(keys)
        .agg(
            pl.col("click").sum().cast(pl.Int64).alias("clicks"),
            pl.len().cast(pl.Int64).alias("impressions"),
        )
    )
    truth = (
        logs.scan(run_dir.served_truth, config.arm_names, test_days)
        .group_by(keys)
        .agg(pl.col("p_true").cast(pl.Float64).sum().alias("true_clicks"))
    )
    frame = (
        counts.join(truth, on=keys, how="left")
        .with_columns((pl.col("day").cast(pl.Int32) - spec.first_test_day + 1).alias("day"))
        .with_columns(phase_column(spec).alias("phase"))
        .rename({"user_id": "unit"})
        .sort("day", "arm", "unit")
        .collect()
    )
    return frame.select("unit", "arm", "day", "phase", "clicks", "impressions", "true_clicks")


def launch_truth_table(
    run_dir: RunDir | str | os.PathLike[str], config: SimulationConfig
) -> pl.DataFrame | None:
    """Per-(test day, arm) expected clicks and impressions of each arm's launch lineage, with days
    numbered as in ``unit_day_table``; None if the run simulated no launch lineages."""
    run_dir = RunDir.of(run_dir)
    spec = config.experiment
    if not spec.launch_truth or spec.paired:
        return None
    frame = pl.concat([pl.read_parquet(run_dir.truth(day)) for day in spec.test_day_range])
    return frame.with_columns((pl.col("day") - spec.first_test_day + 1).alias("day"))
