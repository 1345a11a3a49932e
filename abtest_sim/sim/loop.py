"""The multi-day A/A/B experiment: the day loop, with a checkpoint after every night.

One simulated day, in data-flow order (``abtest_sim.sim.simulation``):

1. ``world.begin_day(d)``, once: drift, traffic and candidate sets (shared by every lineage), seen
   by serving as an ``Observation``.
2. Serve: each lineage of the stage chooses its slates with its policy (by default, its model's
   top K), logs its model's pCTR of each shown impression, the truth draws the clicks with common
   random numbers (``p_true`` kept apart, in ``truth/served``), and the (arm, day) log partition
   is written. Each launch lineage does the same for every user (``abtest_sim.sim.launch``); its
   expected clicks are the day's launch truth.
3. Night: the stage's transition (the end of the warm-up, the split), or every lineage retraining
   on a window of its own logs with its recipe's loss (``retrain_workers > 1``: in worker
   processes); the retrainer returns the new versions and each lineage applies its own.
4. Checkpoint: world state, model versions and the last completed day, written atomically.

Phases (``ExperimentSpec.phase_of``): warm-up days (random slates to everyone; the first model is
trained on them), burn-in days (one shared lineage serves everyone and retrains nightly, so that
the test starts near a production system's steady state), then the split: the A/A phase (everyone
trains BCE) and the A/B phase (treatment arms switch to their recipe). After the loop the logs are
reduced to per-(user, arm, day) sums and handed to the report (``abtest_sim.sim.run_tables``).
Run-dir layout: ``abtest_sim.sim.rundir.RunDir``; checkpoints: ``abtest_sim.sim.checkpoint``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import polars as pl
from tqdm.auto import tqdm

from abtest_sim.sim.config import SimulationConfig
from abtest_sim.sim.retraining import Trainer
from abtest_sim.sim.run_tables import unit_day_table
from abtest_sim.sim.rundir import RunDir, prepare_run_dir
from abtest_sim.sim.simulation import DayResult, Simulation
from reloop.atomic import write_json

__all__ = ["DayResult", "Simulation", "run_experiment"]

log = logging.getLogger(__name__)


def run_experiment(
    config: SimulationConfig,
    run_dir: RunDir | str | os.PathLike[str],
    *,
    resume: bool = False,
    warmup_cache: Path | None = None,
    trainer: Trainer | None = None,
) -> pl.DataFrame:
    """Simulate every day of ``config`` into ``run_dir``; returns the per-(unit, arm, day) table.

    With ``resume``, continue after the last checkpoint in ``run_dir`` (a fresh start if there is
    none); the result is exactly that of an uninterrupted run. With ``warmup_cache``, the state at
    the split (after warm-up and burn-in) is taken from (or stored in) that directory, keyed by
    ``warmup_key``. ``trainer``: how models are trained and loaded (default: ``reloop``, with
    ``config.retrain_workers`` workers).
    """
    run_dir = RunDir.of(run_dir)
    simulation = Simulation(config, run_dir, warmup_cache, trainer)
    spec = config.experiment
    first_day = 0
    if prepare_run_dir(config, run_dir.root, resume):
        first_day = simulation.restore()
        log.info("resuming after day %d", first_day - 1)
    elif simulation.load_cached_start():
        first_day = spec.first_test_day
        simulation.checkpoint(first_day - 1)
    days = tqdm(
        range(first_day, spec.last_day + 1),
        desc="days",
        unit="day",
        initial=first_day,
        total=spec.last_day + 1,
        disable=not config.progress,
    )
    try:
        for day in days:
            results = simulation.simulate_day(day)
            with simulation.timed("checkpoint"):
                simulation.checkpoint(day)
            _report_progress(days, spec.phase_of(day), results)
    finally:
        simulation.close()
    with simulation.timed("per-user aggregation of the logs"):
        table = unit_day_table(run_dir, config)
    _log_timings(simulation.seconds)
    write_json(run_dir.timings, dict(simulation.seconds))
    return table


def _report_progress(bar: Any, phase: str, results: list[DayResult]) -> None:
    bar.set_postfix({r.arm: f"{100 * r.ctr:.2f}%" for r in results} | {"phase": phase})
    for r in results:
        log.info(
            "day %d (%s) %s: %d impressions, CTR %.3f%%, online AUC %.4f",
            r.day,
            phase,
            r.arm,
            r.impressions,
            100 * r.ctr,
            r.online_auc,
        )


def _log_timings(seconds: dict[str, float]) -> None:
    total = sum(seconds.values())
    for stage, value in sorted(seconds.items(), key=lambda item: -item[1]):
        log.info("time in %-36s %8.1f s (%4.1f%%)", stage, value, 100 * value / max(total, 1e-9))
