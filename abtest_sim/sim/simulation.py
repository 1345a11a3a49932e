"""The state of a simulated run and its transitions, one day at a time.

A run moves through three stages, each a set of lineages serving the day's requests:

    warm-up  (no lineage: random slates to everyone)
        --end_warmup-->  burn-in  (one shared lineage serves everyone; if burnin_days > 0)
        --split-->       test     (each arm's lineage serves its users; launch lineages everyone)

``simulate_day(d)`` is one day in data-flow order: ``world.begin_day(d)`` (once), serve every
lineage of the stage (its policy chooses slates from the day's ``Observation``, its model logs its
pCTR of each shown impression, the truth answers with clicks and keeps ``p_true`` apart), then the
night: the transition the phases call for, or every lineage retraining (the retrainer returns the
new versions; each lineage applies its own). Phases come from ``ExperimentSpec.phase_of`` alone.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from abtest_sim.sim import logs, serving
from abtest_sim.sim.checkpoint import Checkpointer
from abtest_sim.sim.config import SimulationConfig
from abtest_sim.sim.launch import LaunchLineages
from abtest_sim.sim.lineage import WARMUP_ARM, Lineage, assign_users, burnin_spec
from abtest_sim.sim.policies import ModelRanking, PluggedPolicy
from abtest_sim.sim.retraining import Model, Retrainer, Trainer, TrainTask
from abtest_sim.sim.rundir import LineageArea, RunDir, warmup_key
from abtest_sim.sim.truth import Response, Truth
from abtest_sim.world import Observation, World
from reloop.metrics import auc

__all__ = ["DayResult", "Simulation"]

log = logging.getLogger(__name__)


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
    """World, truth, lineages, user assignment and where things are written."""

    def __init__(
        self,
        config: SimulationConfig,
        run_dir: RunDir,
        warmup_cache: Path | None = None,
        trainer: Trainer | None = None,
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.warmup_cache = None if warmup_cache is None else warmup_cache / warmup_key(config)
        self.seconds: dict[str, float] = defaultdict(float)  # wall time per stage, this process
        self._use_world(World(config.world, config.seed))
        self.features = self.world.feature_columns
        shares = [arm.share for arm in config.arms]
        self.assignment = assign_users(config.world.n_users, shares, config.salt)
        self.burnin: Lineage | None = None
        self.arms: list[Lineage] = []
        self.launch: LaunchLineages | None = None
        self.trainer: Trainer = trainer or Retrainer(
            run_dir, config.model, self.features, config.retrain_workers, self.seconds
        )
        self.checkpointer = Checkpointer(run_dir, config, self.trainer.load)

    def _use_world(self, world: World) -> None:
        """The world (for days and observations) and the truth, the only holder of its oracle."""
        self.world = world
        self.truth = Truth(world.oracle, self.run_dir)

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - started

    @property
    def stage(self) -> str:
        """``warmup``, ``burnin`` or ``test``: which lineages serve now."""
        if self.arms:
            return "test"
        return "warmup" if self.burnin is None else "burnin"

    @property
    def exploration(self) -> serving.Exploration | None:
        spec = self.config.experiment
        if spec.epsilon > 0 or spec.swap_prob > 0:
            return serving.Exploration(spec.epsilon, spec.swap_prob)
        return None

    # ------------------------------------------------------------------ a day
    def simulate_day(self, day: int) -> list[DayResult]:
        """Serve ``day`` with the stage's lineages, then its night."""
        with self.timed("world: drift and requests"):
            requests = self.world.begin_day(day)
        observation = self.world.observe(requests)
        everyone = np.arange(observation.n)
        if self.stage == "warmup":  # the built-in ranking by a random score: random slates
            scorer = serving.random_scorer(self.config.seed)
            frame, response = self.serve(observation, everyone, scorer, ModelRanking(), 0)
            results = [self.log(self.run_dir.test, [WARMUP_ARM], day, frame, response)]
        elif self.stage == "burnin":
            assert self.burnin is not None
            results = [self.serve_lineage(self.burnin, observation, everyone)]
        else:
            results = [
                self.serve_lineage(arm, observation, self.rows_of(index, observation))
                for index, arm in enumerate(self.arms)
            ]
            if self.launch is not None:
                self.serve_launch(observation)
        self.night(day)
        return results

    def night(self, day: int) -> None:
        """The transition the phases of ``day`` and ``day + 1`` call for, else retraining."""
        spec = self.config.experiment
        today, tomorrow = spec.phase_of(day), spec.phase_of(day + 1)
        if today == "warmup":
            if tomorrow != "warmup":
                self.end_warmup()
            return
        if day == spec.last_day:
            return  # no version would serve
        self.retrain(day, tomorrow)
        if self.burnin is not None and tomorrow != "burnin":
            self.split(self.burnin.model)

    # ----------------------------------------------------------------- serving
    def phase_of(self, observation: Observation) -> str:
        return self.config.experiment.phase_of(observation.day)

    def rows_of(self, arm_index: int, observation: Observation) -> np.ndarray:
        if self.config.experiment.paired:
            return np.arange(observation.n)
        users = observation.requests.user_id
        return np.flatnonzero(self.assignment[users] == arm_index)

    def serve(
        self,
        observation: Observation,
        rows: np.ndarray,
        scorer: serving.Scorer,
        policy: ModelRanking | PluggedPolicy,
        version: int,
    ) -> tuple[pl.DataFrame, Response]:
        """Choose, show and click one lineage's requests: its impression log and the response."""
        slate_size = self.config.experiment.slate_size
        with self.timed("serving: rank candidates"):
            slates = policy(observation, rows, scorer, slate_size)
        with self.timed("serving: score shown slates"):
            slates = serving.with_shown_pctr(scorer, observation, slates)
        with self.timed("world: clicks and logging"):
            response = self.truth.respond(observation.requests, slates)
            frame = logs.impression_log(  # named as it is written (under each sharing arm)
                observation, slates, response.clicks, arm="unlogged", model_version=version
            )
        return frame, response

    def serve_lineage(
        self, lineage: Lineage, observation: Observation, rows: np.ndarray
    ) -> DayResult:
        """A test arm's or the burn-in lineage's day, logged under its name."""
        policy = lineage.policy(self.phase_of(observation), self.exploration)
        frame, response = self.serve(observation, rows, lineage.scorer(), policy, lineage.version)
        return self.log(self.run_dir.test, [lineage.name], observation.day, frame, response)

    def serve_launch(self, observation: Observation) -> None:
        """Every launch lineage serves every user; its expected clicks are the launch truth."""
        assert self.launch is not None
        truth: list[dict[str, Any]] = []
        day, everyone = observation.day, np.arange(observation.n)
        for lineage, names in self.launch.groups():
            policy = lineage.policy(self.phase_of(observation), self.exploration)
            scorer = lineage.scorer()
            frame, response = self.serve(observation, everyone, scorer, policy, lineage.version)
            with self.timed("world: clicks and logging"):
                true_clicks = self._write(self.run_dir.launch, names, day, frame, response)
            truth += [
                {"day": day, "arm": name, "true_clicks": true_clicks,
                 "impressions": frame.height}
                for name in names
            ]  # fmt: skip
        self.truth.write_launch_day(day, truth)

    def log(
        self,
        area: LineageArea,
        names: list[str],
        day: int,
        frame: pl.DataFrame,
        response: Response,
    ) -> DayResult:
        """Write a lineage's day (its log, its served truth apart) and summarise it."""
        with self.timed("world: clicks and logging"):
            self._write(area, names, day, frame, response)
        return _day_result(names[0], day, frame)

    def _write(
        self,
        area: LineageArea,
        names: list[str],
        day: int,
        frame: pl.DataFrame,
        response: Response,
    ) -> float:
        """Log ``frame`` under each of ``names``; the truth records its ``p_true`` apart."""
        for name in names:
            named = frame.with_columns(pl.lit(name, dtype=pl.String).alias("arm"))
            logs.write_partition(area.logs, name, day, named)
        return self.truth.record(area, names, day, frame, response)

    # ------------------------------------------------------------- transitions
    def end_warmup(self) -> None:
        """The warm-up's random slates train the first model: the burn-in lineage's version 0,
        or (without burn-in) the start of the test."""
        spec = self.config.experiment
        scan = logs.scan(self.run_dir.logs, [WARMUP_ARM], range(spec.warmup_days))
        frame = scan.select(logs.observable_columns(scan)).collect()
        with self.timed("training"):
            model = self.trainer.first_model(frame, spec.warmup_epochs, self.config.seed)
        model.save(self.run_dir.warmup_model)
        log.info("warm-up model: %d impressions of random slates", frame.height)
        if spec.burnin_days:
            origin = self.run_dir.relative(self.run_dir.warmup_model)
            self.burnin = Lineage(burnin_spec(self.config), model, model, origin)
        else:
            self.split(model)

    def split(self, start: Model, *, store: bool = True) -> None:
        """The test starts: every arm (and launch lineage) serves version 0 = ``start``."""
        start.save(self.run_dir.start_model)
        origin = self.run_dir.relative(self.run_dir.start_model)
        self.arms = [Lineage(arm, start, start, origin) for arm in self.config.arms]
        self.burnin = None
        if self.needs_launch_lineages:
            first = self.config.experiment.phase_of(self.config.experiment.first_test_day)
            self.launch = LaunchLineages.start(self.config.arms, self.arms[0], first)
        if store and self.warmup_cache is not None:
            # world first: an entry is complete once its model is
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
        self._use_world(World.load(cache / "world.npz", self.config.world, self.config.seed))
        self.split(self.trainer.load(cache / "model.pt"), store=False)
        log.info("warm-up and burn-in taken from the cache %s", cache)
        return True

    # ------------------------------------------------------------------ nights
    def retrain(self, day: int, phase: str) -> None:
        """Night ``day``: every lineage trains the version that serves day ``day + 1``, whose
        phase is ``phase``; each lineage applies its new version."""
        test, launch = self.run_dir.test, self.run_dir.launch
        lineages: list[tuple[Lineage, TrainTask]] = []
        if self.burnin is not None:
            lineages.append((self.burnin, self._task(self.burnin, day, "bce", test, "burnin")))
        for arm in self.arms:
            loss = arm.spec.loss_on(phase)
            lineages.append((arm, self._task(arm, day, loss, test, "test")))
        if self.launch is not None:
            self.launch.fork(self.config.arms, phase)
            for lineage, _ in self.launch.groups():
                loss = lineage.spec.loss_on(phase)
                lineages.append((lineage, self._task(lineage, day, loss, launch, "launch")))
        tasks = [task for _, task in lineages]
        versions = self.trainer.retrain(tasks, day, seed=self.config.seed * 1_000_003 + day)
        for (lineage, _), version in zip(lineages, versions, strict=True):
            lineage.advance(version)

    def _task(
        self, lineage: Lineage, day: int, loss: str | dict[str, Any], area: LineageArea, kind: str
    ) -> TrainTask:
        return lineage.train_task(day, loss, area, kind, self.run_dir)

    def close(self) -> None:
        self.trainer.close()

    # ------------------------------------------------------------- checkpoints
    def checkpoint(self, day: int) -> None:
        self.checkpointer.save(day, self.world, self.arms, self.burnin, self.launch)

    def restore(self) -> int:
        """Load the last checkpoint; returns the first day still to simulate."""
        state = self.checkpointer.load()
        self._use_world(state.world)
        self.burnin, self.arms, self.launch = state.burnin, state.arms, state.launch
        return state.last_day + 1


def _day_result(arm: str, day: int, frame: pl.DataFrame) -> DayResult:
    clicks = frame.get_column("click").to_numpy()
    pctr = frame.get_column("pctr").to_numpy()
    return DayResult(arm, day, len(clicks), int(clicks.sum()), auc(clicks, pctr))
