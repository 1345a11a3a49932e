"""The multi-day A/A/B experiment: the day loop, nightly retraining and checkpoints.

One simulated day, in data-flow order:

1. ``world.begin_day(d)``: drift, traffic and candidate sets (shared by every lineage).
2. Serve: each test arm ranks its own users' candidates with its serving model, scores the shown
   slates at their positions (the pCTR it logs), the world draws clicks with common random
   numbers, and the (arm, day) log partition is written. Each launch lineage does the same for
   every user (``abtest_sim.sim.launch``); its expected clicks are the day's launch truth.
3. Nightly, every lineage retrains on a window of its own logs with its recipe's loss (with
   ``retrain_workers > 1``, in worker processes).
4. Checkpoint: world state, model versions and the last completed day, written atomically.

Phases: warm-up days (random slates to everyone; the first model is trained on them), burn-in
days (one shared lineage serves everyone and retrains nightly, so that the test starts near a
production system's steady state), then the split: the A/A phase (everyone trains BCE) and the A/B
phase (treatment arms switch to their recipe). After the loop the logs are reduced to per-(user,
arm, day) sums and handed to the report (``abtest_sim.sim.run_tables``). Run-dir layout:
``abtest_sim.sim.rundir``; checkpoints: ``abtest_sim.sim.checkpoint``.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from tqdm.auto import tqdm

import reloop
from abtest_sim.sim import logs, serving
from abtest_sim.sim.checkpoint import Checkpointer
from abtest_sim.sim.config import SimulationConfig
from abtest_sim.sim.launch import LaunchLineages
from abtest_sim.sim.lineage import Arm, assign_users, train_warmup_model
from abtest_sim.sim.retraining import Retrainer, TrainTask
from abtest_sim.sim.run_tables import unit_day_table
from abtest_sim.sim.rundir import (
    START_MODEL,
    WARMUP_MODEL,
    model_path,
    prepare_run_dir,
    served_truth_root,
    truth_path,
    warmup_key,
)
from abtest_sim.world import DayRequests, World
from reloop.atomic import write_json, write_parquet
from reloop.metrics import auc

__all__ = ["DayResult", "run_experiment"]

log = logging.getLogger(__name__)

WARMUP_ARM = "warmup"
BURNIN_ARM = "burnin"


@dataclass(frozen=True)
class DayResult:
    """What a lineage saw on one day (for progress lines and the postfix)."""

    arm: str
    day: int
    impressions: int
    clicks: int
    online_auc: float

    @property
    def ctr(self) -> float:
        return self.clicks / max(self.impressions, 1)


class Simulation:
    """The state of a run: world, lineages, user assignment and where things are written."""

    def __init__(
        self, config: SimulationConfig, run_dir: Path, warmup_cache: Path | None = None
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.warmup_cache = None if warmup_cache is None else warmup_cache / warmup_key(config)
        self.logs_root = run_dir / "logs"
        self.launch_logs_root = run_dir / "launch" / "logs"
        self.world = World(config.world, config.seed)
        self.features = self.world.feature_columns
        shares = [arm.share for arm in config.arms]
        self.assignment = assign_users(config.world.n_users, shares, config.salt)
        self.arms: list[Arm] = []
        self.launch: LaunchLineages | None = None
        self.burnin: Arm | None = None
        self.seconds: dict[str, float] = defaultdict(float)  # wall time per stage, this process
        self.retrainer = Retrainer(self, self.seconds)
        self.checkpointer = Checkpointer(run_dir, config, BURNIN_ARM)

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - started

    @property
    def exploration(self) -> serving.Exploration | None:
        spec = self.config.experiment
        if spec.epsilon > 0 or spec.swap_prob > 0:
            return serving.Exploration(spec.epsilon, spec.swap_prob)
        return None

    # --------------------------------------------------------------- serving
    def rows_of(self, arm_index: int, requests: DayRequests) -> np.ndarray:
        if self.config.experiment.paired:
            return np.arange(requests.n)
        return np.flatnonzero(self.assignment[requests.user_id] == arm_index)

    def serve(
        self,
        scorer: serving.Scorer,
        requests: DayRequests,
        rows: np.ndarray,
        version: int,
        exploration: serving.Exploration | None,
    ) -> pl.DataFrame:
        """Rank, show and click one lineage's requests; returns its impression log (no arm)."""
        with self.timed("serving: rank candidates"):
            slates = serving.rank(
                scorer,
                self.world,
                requests,
                rows,
                self.config.experiment.slate_size,
                exploration=exploration,
            )
        with self.timed("serving: score shown slates"):
            slates = serving.with_shown_pctr(scorer, self.world, requests, slates)
        with self.timed("world: clicks and logging"):
            impressions = self.world.click(requests, slates.items, slates.request_rows)
            return logs.impression_log(
                self.world, requests, slates, impressions, arm="unlogged", model_version=version
            ).drop("arm")

    def write_log(self, root: Path, arm: str, day: int, frame: pl.DataFrame) -> None:
        """Write one lineage's day as ``arm``'s partition under ``root`` (a ``logs`` folder; the arm
        column second, as logged); the oracle's p_true goes apart, to ``truth/served`` beside it."""
        named = frame.select(
            pl.col("day"), pl.lit(arm, dtype=pl.String).alias("arm"), pl.all().exclude("day")
        )
        log_part, truth_part = logs.split_truth(named)
        with self.timed("world: clicks and logging"):
            logs.write_partition(root, arm, day, log_part)
            logs.write_partition(served_truth_root(root.parent), arm, day, truth_part)

    # ----------------------------------------------------------------- phases
    def warmup_day(self, day: int) -> DayResult:
        with self.timed("world: drift and requests"):
            requests = self.world.begin_day(day)
        scorer = serving.random_scorer(self.config.seed)
        frame = self.serve(scorer, requests, np.arange(requests.n), 0, None)
        self.write_log(self.logs_root, WARMUP_ARM, day, frame)
        return _day_result(WARMUP_ARM, day, frame)

    def train_warmup(self) -> None:
        spec = self.config.experiment
        frame = logs.scan(self.logs_root, [WARMUP_ARM], range(spec.warmup_days))
        frame = frame.select(logs.observable_columns(frame)).collect()
        with self.timed("training"):
            model = train_warmup_model(
                frame, self.features, self.config.model, spec.warmup_epochs, self.config.seed
            )
        model.save(self.run_dir / WARMUP_MODEL)
        log.info("warm-up model: %d impressions of random slates", frame.height)
        if spec.burnin_days:
            control = self.config.arm(spec.control)
            burnin_spec = replace(control, name=BURNIN_ARM, recipe="baseline")
            self.burnin = Arm(burnin_spec, model, warmup=model)
        else:
            self.split(model)

    def split(self, start: reloop.FittedModel, *, store: bool = True) -> None:
        """The test starts: every arm (and launch lineage) serves version 0 = ``start``."""
        start.save(self.run_dir / START_MODEL)
        self.arms = [Arm(arm, start, warmup=start) for arm in self.config.arms]
        self.burnin = None
        if self.needs_launch_lineages:
            self.launch = LaunchLineages.start(self.config.arms, self.arms[0])
        if (
            store and self.warmup_cache is not None
        ):  # world first: an entry is complete once its model is
            self.world.save(self.warmup_cache / "world.npz")
            start.save(self.warmup_cache / "model.pt")

    @property
    def needs_launch_lineages(self) -> bool:
        """Paired arms already serve every user on every user's logs: they are the launch."""
        spec = self.config.experiment
        return spec.launch_truth and not spec.paired

    def load_cached_start(self) -> bool:
        """Skip warm-up and burn-in if an identical one (same world, seed, model, design) is
        cached: the world state at the split and the start model are all that later days use."""
        cache = self.warmup_cache
        if cache is None or not (cache / "model.pt").is_file():
            return False
        self.world = World.load(cache / "world.npz", self.config.world, self.config.seed)
        self.split(reloop.load(cache / "model.pt"), store=False)
        log.info("warm-up and burn-in taken from the cache %s", cache)
        return True

    def burnin_day(self, day: int) -> DayResult:
        assert self.burnin is not None
        with self.timed("world: drift and requests"):
            requests = self.world.begin_day(day)
        lineage = self.burnin
        frame = self.serve(
            lineage.scorer(), requests, np.arange(requests.n), lineage.version, self.exploration
        )
        self.write_log(self.logs_root, BURNIN_ARM, day, frame)
        return _day_result(BURNIN_ARM, day, frame)

    def test_day(self, day: int) -> list[DayResult]:
        with self.timed("world: drift and requests"):
            requests = self.world.begin_day(day)
        results = []
        for index, arm in enumerate(self.arms):
            rows = self.rows_of(index, requests)
            frame = self.serve(arm.scorer(), requests, rows, arm.version, self.exploration)
            self.write_log(self.logs_root, arm.name, day, frame)
            results.append(_day_result(arm.name, day, frame))
        if self.launch is not None:
            self.serve_launch(requests)
        return results

    def serve_launch(self, requests: DayRequests) -> None:
        """Every launch lineage serves every user; its expected clicks are the launch truth."""
        assert self.launch is not None
        truth = []
        everyone = np.arange(requests.n)
        for lineage, names in self.launch.groups():
            frame = self.serve(
                lineage.scorer(), requests, everyone, lineage.version, self.exploration
            )
            true_clicks = float(frame.get_column("p_true").cast(pl.Float64).sum())
            for name in names:
                self.write_log(self.launch_logs_root, name, requests.day, frame)
                truth.append(
                    {
                        "day": requests.day,
                        "arm": name,
                        "true_clicks": true_clicks,
                        "impressions": frame.height,
                    }
                )
        write_parquet(pl.DataFrame(truth), truth_path(self.run_dir, requests.day))

    def retrain(self, day: int) -> None:
        """Night ``day``: every lineage trains the version that serves day ``day + 1``."""
        spec = self.config.experiment
        phase_tomorrow = spec.phase_of(day + 1)
        tasks = []
        if self.burnin is not None:
            tasks.append(self._task(self.burnin, day, "bce", self.logs_root, launch=False))
        for arm in self.arms:
            tasks.append(
                self._task(arm, day, arm.spec.loss_on(phase_tomorrow), self.logs_root, launch=False)
            )
        if self.launch is not None:
            self.launch.fork(self.config.arms, phase_tomorrow)
            for lineage, _ in self.launch.groups():
                loss = lineage.spec.loss_on(phase_tomorrow)
                tasks.append(self._task(lineage, day, loss, self.launch_logs_root, launch=True))
        self.retrainer.run(tasks, day, seed=self.config.seed * 1_000_003 + day)
        if self.burnin is not None and phase_tomorrow != "burnin":
            self.split(self.burnin.model)

    def _task(
        self, lineage: Arm, day: int, loss: str | dict[str, Any], root: Path, *, launch: bool
    ) -> TrainTask:
        out = model_path(self.run_dir, lineage.name, day, launch=launch)
        return TrainTask(lineage, loss, root, out, "launch" if launch else "test")

    def close(self) -> None:
        self.retrainer.close()

    # ------------------------------------------------------------ checkpoints
    def checkpoint(self, day: int) -> None:
        self.checkpointer.save(day, self.world, self.arms, self.burnin, self.launch)

    def restore(self) -> int:
        """Load the last checkpoint; returns the first day still to simulate."""
        state = self.checkpointer.load()
        self.world = state.world
        if state.burnin is not None:
            self.burnin = state.burnin
        if state.arms is not None:
            self.arms, self.launch = state.arms, state.launch
        return state.last_day + 1


def run_experiment(
    config: SimulationConfig,
    run_dir: Path,
    *,
    resume: bool = False,
    warmup_cache: Path | None = None,
) -> pl.DataFrame:
    """Simulate every day of ``config`` into ``run_dir``; returns the per-(unit, arm, day) table.

    With ``resume``, continue after the last checkpoint in ``run_dir`` (a fresh start if there is
    none); the result is exactly that of an uninterrupted run. With ``warmup_cache``, the state at
    the split (after warm-up and burn-in) is taken from (or stored in) that directory, keyed by
    ``warmup_key``.
    """
    run_dir = Path(run_dir)
    simulation = Simulation(config, run_dir, warmup_cache)
    spec = config.experiment
    first_day = 0
    if prepare_run_dir(config, run_dir, resume):
        first_day = simulation.restore()
        log.info("resuming after day %d", first_day - 1)
    elif simulation.load_cached_start():
        first_day = spec.first_test_day
        simulation.checkpoint(first_day - 1)
    last_day = spec.first_test_day + spec.test_days - 1
    days = tqdm(
        range(first_day, last_day + 1),
        desc="days",
        unit="day",
        initial=first_day,
        total=last_day + 1,
        disable=not config.progress,
    )
    try:
        _simulate_days(simulation, days, last_day)
    finally:
        simulation.close()
    with simulation.timed("per-user aggregation of the logs"):
        table = unit_day_table(run_dir, config)
    _log_timings(simulation.seconds)
    write_json(run_dir / "timings.json", dict(simulation.seconds))
    return table


def _simulate_days(simulation: Simulation, days: Any, last_day: int) -> None:
    """The day loop: serve, retrain overnight, checkpoint; ``days`` is the progress bar."""
    spec = simulation.config.experiment
    for day in days:
        phase = spec.phase_of(day)
        if phase == "warmup":
            results = [simulation.warmup_day(day)]
            if day == spec.warmup_days - 1:
                simulation.train_warmup()
        else:
            if phase == "burnin":
                results = [simulation.burnin_day(day)]
            else:
                results = simulation.test_day(day)
            if day < last_day:
                simulation.retrain(day)
        with simulation.timed("checkpoint"):
            simulation.checkpoint(day)
        _report_progress(days, phase, results)


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


def _day_result(arm: str, day: int, frame: pl.DataFrame) -> DayResult:
    clicks = frame.get_column("click").to_numpy()
    pctr = frame.get_column("pctr").to_numpy()
    return DayResult(arm, day, len(clicks), int(clicks.sum()), auc(clicks, pctr))
