"""The multi-day A/A/B experiment: the day loop, nightly per-arm retraining and checkpoints.

One simulated day, in data-flow order:

1. ``world.begin_day(d)``: drift, traffic and candidate sets (shared by every arm).
2. For each arm: rank its users' candidates with its serving model, score the shown slates at
   their positions (the pCTR it logs), draw clicks with common random numbers, write the (arm, day)
   log partition.
3. Nightly, for each arm: retrain on a window of its own logs (the recipe's loss), save the model
   (with ``retrain_workers > 1``, the arms train at once in worker processes).
4. Checkpoint: world state, model versions and the last completed day, written atomically.

Days ``0 .. warmup_days-1`` are served to every user by an exploring policy (random slates); the
model trained on them is every arm's version 0. Then the A/A phase (everyone trains BCE) and the
A/B phase (treatment arms switch to their recipe). After the loop the logs are reduced to
per-(user, arm, day) sums and handed to the report.

Run dir (**contract**): ``logs/arm=<name>/day=<d>/part-0.parquet``, ``models/arm=<name>/day=<d>.pt``
(the version trained on night ``d``, which serves day ``d+1``), ``models/warmup.pt``,
``checkpoint/``, ``config.json`` and ``report/``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import multiprocessing
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from tqdm.auto import tqdm

import reloop
from abtest_sim import logs, serving
from abtest_sim.arms import (
    Arm,
    RetrainJob,
    assign_users,
    retrain_pool,
    run_retrain_job,
    train_warmup_model,
    truth_panel,
)
from abtest_sim.config import ConfigError, SimulationConfig
from abtest_sim.world import DayRequests, World
from reloop.metrics import auc

__all__ = ["DayResult", "run_experiment", "unit_day_table"]

log = logging.getLogger(__name__)

WARMUP_ARM = "warmup"
WARMUP_MODEL = "models/warmup.pt"  # relative to the run dir
STATE_FILE = "state.json"


@dataclass(frozen=True)
class DayResult:
    """What an arm saw on one day (for progress lines and the postfix)."""

    arm: str
    day: int
    impressions: int
    clicks: int
    online_auc: float

    @property
    def ctr(self) -> float:
        return self.clicks / max(self.impressions, 1)


class Simulation:
    """The state of a run: world, arms, user assignment and where things are written."""

    def __init__(
        self, config: SimulationConfig, run_dir: Path, warmup_cache: Path | None = None
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.warmup_cache = None if warmup_cache is None else warmup_cache / warmup_key(config)
        self.logs_root = run_dir / "logs"
        self.world = World(config.world, config.seed)
        self.features = self.world.feature_columns
        shares = [arm.share for arm in config.arms]
        self.assignment = assign_users(config.world.n_users, shares, config.experiment.salt)
        # Users on whom every arm's policy is evaluated for the true lift (a fixed hash panel).
        self.truth_panel = truth_panel(
            config.world.n_users, config.experiment.truth_panel, config.experiment.salt
        )
        self.arms: list[Arm] = []
        self.model_files: dict[str, str] = {}  # arm -> its serving model, relative to run_dir
        self.seconds: dict[str, float] = defaultdict(float)  # wall time per stage, this process
        self._pool: ProcessPoolExecutor | None = None  # retraining workers, started on first use

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - started

    # --------------------------------------------------------------- serving
    def rows_of(self, arm_index: int, requests: DayRequests) -> np.ndarray:
        if self.config.experiment.paired:
            return np.arange(requests.n)
        return np.flatnonzero(self.assignment[requests.user_id] == arm_index)

    def serve(
        self,
        scorer: serving.Scorer,
        arm: str,
        requests: DayRequests,
        rows: np.ndarray,
        version: int,
        exploration: serving.Exploration | None,
    ) -> pl.DataFrame:
        """Rank, show, click and log one arm's requests; returns the impression log."""
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
            # The logged pCTR is the serving model's prediction of the impression as shown (its
            # position included): the y_last a ReLoop retraining compares against.
            positions = np.arange(slates.slate_size, dtype=np.int16)
            pctr = serving.score_slates(
                scorer, self.world, requests, slates.request_rows, slates.items, positions
            )
        slates = serving.Slates(slates.items, pctr, slates.request_rows, slates.explored)
        with self.timed("world: clicks and logging"):
            impressions = self.world.click(requests, slates.items, slates.request_rows)
            frame = logs.impression_log(
                self.world, requests, slates, impressions, arm=arm, model_version=version
            )
            logs.write_partition(self.logs_root, arm, requests.day, frame)
        return frame

    # ----------------------------------------------------------------- phases
    def warmup_day(self, day: int) -> DayResult:
        with self.timed("world: drift and requests"):
            requests = self.world.begin_day(day)
        scorer = serving.random_scorer(self.config.seed)
        frame = self.serve(scorer, WARMUP_ARM, requests, np.arange(requests.n), 0, None)
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
        self.arms = [Arm(arm, model, warmup=model) for arm in self.config.arms]
        log.info(
            "warm-up model: %d impressions of random slates, %d epochs",
            frame.height,
            spec.warmup_epochs,
        )
        if (
            self.warmup_cache is not None
        ):  # world first: a cache entry is complete once its model is
            self.world.save(self.warmup_cache / "world.npz")
            model.save(self.warmup_cache / "model.pt")

    def load_cached_warmup(self) -> bool:
        """Skip the warm-up days if an identical warm-up (same world, seed, model, design) is
        cached: its world state after the warm-up and its model are all that later days use."""
        cache = self.warmup_cache
        if cache is None or not (cache / "model.pt").is_file():
            return False
        self.world = World.load(cache / "world.npz", self.config.world, self.config.seed)
        model = reloop.load(cache / "model.pt")
        model.save(self.run_dir / WARMUP_MODEL)
        self.arms = [Arm(arm, model, warmup=model) for arm in self.config.arms]
        log.info("warm-up model and world taken from the cache %s", cache)
        return True

    def test_day(self, day: int) -> list[DayResult]:
        with self.timed("world: drift and requests"):
            requests = self.world.begin_day(day)
        spec = self.config.experiment
        exploration = None
        if spec.epsilon > 0 or spec.swap_prob > 0:
            exploration = serving.Exploration(spec.epsilon, spec.swap_prob)
        results, truth = [], []
        for index, arm in enumerate(self.arms):
            rows = self.rows_of(index, requests)
            frame = self.serve(arm.scorer(), arm.name, requests, rows, arm.version, exploration)
            results.append(_day_result(arm.name, day, frame))
            truth.append(self.policy_truth(arm, requests, rows, frame, exploration))
        write_parquet_atomic(pl.DataFrame(truth), truth_path(self.run_dir, day))
        return results

    def policy_truth(
        self,
        arm: Arm,
        requests: DayRequests,
        served_rows: np.ndarray,
        served: pl.DataFrame,
        exploration: serving.Exploration | None,
    ) -> dict[str, float | int | str]:
        """The arm's policy evaluated on every request of the truth panel: its own users' slates
        as served, the other users' slates ranked in the shadow (never shown, never logged).
        Expected clicks come from p_true: what only a simulator knows."""
        panel = self.truth_panel[requests.user_id]
        own = np.zeros(requests.n, dtype=bool)
        own[served_rows] = True
        served_in_panel = panel[np.repeat(served_rows, self.config.experiment.slate_size)]
        true_clicks = float(served.get_column("p_true").to_numpy()[served_in_panel].sum())
        impressions = int(served_in_panel.sum())
        shadow_rows = np.flatnonzero(panel & ~own)
        if shadow_rows.size:
            with self.timed("truth: shadow ranking"):
                slates = serving.rank(
                    arm.scorer(),
                    self.world,
                    requests,
                    shadow_rows,
                    self.config.experiment.slate_size,
                    exploration=exploration,
                )
                true_clicks += float(
                    self.world.p_true(requests, slates.items, slates.request_rows).sum(
                        dtype=np.float64
                    )
                )
                impressions += slates.items.size
        return {
            "day": requests.day,
            "arm": arm.name,
            "true_clicks": true_clicks,
            "impressions": impressions,
        }

    def retrain(self, day: int) -> None:
        """Night ``day``: every arm trains the version that serves day ``day + 1``."""
        phase_tomorrow = self.config.experiment.phase_of(day + 1)
        losses = [arm.spec.loss_on(phase_tomorrow) for arm in self.arms]
        seed = self.config.seed * 1_000_003 + day
        workers = min(self.config.retrain_workers, len(self.arms))
        threads = max(1, torch.get_num_threads() // workers)  # per training
        with self.timed("training"):
            if workers > 1 and can_spawn_workers():
                seconds = self._retrain_in_workers(day, losses, seed, workers, threads)
            else:
                # In turn, with the threads a worker would have had: the same numbers either way.
                with torch_threads(threads):
                    seconds = [
                        self._retrain_here(arm, day, loss, seed)
                        for arm, loss in zip(self.arms, losses, strict=True)
                    ]
        for arm, loss, took in zip(self.arms, losses, seconds, strict=True):
            self.model_files[arm.name] = str(
                model_path(self.run_dir, arm.name, day).relative_to(self.run_dir)
            )
            log.info(
                "night %d: %s trained version %d (%s, %d-day window, %.1f s)",
                day,
                arm.name,
                arm.version,
                loss,
                arm.spec.window_days,
                took,
            )

    def _retrain_here(self, arm: Arm, day: int, loss: str, seed: int) -> float:
        arm.retrain(self.logs_root, day, loss, self.features, self.config.model, seed=seed)
        arm.model.save(model_path(self.run_dir, arm.name, day))
        return arm.model.history.seconds

    def _retrain_in_workers(
        self, day: int, losses: list[str], seed: int, workers: int, threads: int
    ) -> list[float]:
        """The arms retrain at once in worker processes (one arm per core on a small machine:
        1.2-1.6x the throughput of one process with two threads on two cores)."""
        if self._pool is None:
            self._pool = retrain_pool(workers, threads)
        jobs = [
            RetrainJob(
                spec=arm.spec,
                serving_model=self.run_dir / self.model_files.get(arm.name, WARMUP_MODEL),
                warmup_model=self.run_dir / WARMUP_MODEL,
                logs_root=self.logs_root,
                day=day,
                loss=loss,
                features=tuple(self.features),
                model=self.config.model,
                seed=seed,
                out=model_path(self.run_dir, arm.name, day),
            )
            for arm, loss in zip(self.arms, losses, strict=True)
        ]
        seconds = list(self._pool.map(run_retrain_job, jobs))
        for arm, job in zip(self.arms, jobs, strict=True):
            arm.model = reloop.load(job.out)
            arm.version += 1
        return seconds

    def close(self) -> None:
        """Stop the retraining workers, if any were started."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)  # after an error, queued jobs do not run
            self._pool = None

    # ------------------------------------------------------------ checkpoints
    def checkpoint(self, day: int) -> None:
        """Everything needed to continue after ``day``; ``state.json`` is written last, so a kill
        at any point leaves the previous complete checkpoint in force."""
        directory = self.run_dir / "checkpoint"
        world_file = directory / f"world-day={day}.npz"
        self.world.save(world_file)
        state = {
            "last_day": day,
            "world": world_file.name,
            "arms": {
                arm.name: {"version": arm.version, "model": self.model_files.get(arm.name)}
                for arm in self.arms
            },
        }
        _write_json_atomic(directory / STATE_FILE, state)
        for old in directory.glob("world-day=*.npz"):
            if old != world_file:
                old.unlink(missing_ok=True)

    def restore(self) -> int:
        """Load the last checkpoint; returns the first day still to simulate."""
        directory = self.run_dir / "checkpoint"
        state = json.loads((directory / STATE_FILE).read_text())
        day = int(state["last_day"])
        self.world = World.load(directory / state["world"], self.config.world, self.config.seed)
        spec = self.config.experiment
        if day >= spec.warmup_days - 1:
            warmup = reloop.load(self.run_dir / WARMUP_MODEL)
            self.arms = []
            for arm_spec in self.config.arms:
                saved = state["arms"][arm_spec.name]
                model = warmup
                if saved["model"] is not None:
                    model = reloop.load(self.run_dir / saved["model"])
                    self.model_files[arm_spec.name] = saved["model"]
                self.arms.append(Arm(arm_spec, model, int(saved["version"]), warmup))
        return day + 1


def can_spawn_workers() -> bool:
    """False inside a joblib (loky) sweep worker: its default start method is loky's, which a
    spawned child cannot set up, and the sweep already keeps the cores busy."""
    method = multiprocessing.get_start_method(allow_none=True)
    return method in (None, "fork", "spawn", "forkserver")


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` torch threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def warmup_key(config: SimulationConfig) -> str:
    """What determines the warm-up (world, seed, model, warm-up design), hashed: runs that differ
    only in their arms (alpha, recipe, shares) share one warm-up."""
    spec = config.experiment
    material = {
        "world": config.world.to_dict(),
        "seed": config.seed,
        "model": asdict(config.model),
        "warmup": [spec.warmup_days, spec.warmup_epochs, spec.slate_size],
        "format": 1,
        "torch_threads": torch.get_num_threads(),  # the warm-up trains in this process
        # a new release may train the warm-up differently: never reuse another version's cache
        "version": _package_version(),
    }
    text = json.dumps(material, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def truth_path(run_dir: Path, day: int) -> Path:
    return run_dir / "truth" / f"day={day}.parquet"


def policy_truth_table(run_dir: Path, config: SimulationConfig) -> pl.DataFrame | None:
    """Per-(test day, arm) expected clicks and impressions of each policy on the truth panel,
    with days numbered as in ``unit_day_table``; None if the run has no truth panel."""
    spec = config.experiment
    if spec.truth_panel <= 0:
        return None
    days = range(spec.warmup_days, spec.warmup_days + spec.test_days)
    frame = pl.concat([pl.read_parquet(truth_path(run_dir, day)) for day in days])
    return frame.with_columns((pl.col("day") - spec.warmup_days + 1).alias("day"))


def write_parquet_atomic(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        frame.write_parquet(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _package_version() -> str:
    try:
        return importlib.metadata.version("abtest-sim-reloop")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "unknown"


def model_path(run_dir: Path, arm: str, day: int) -> Path:
    return run_dir / "models" / f"arm={arm}" / f"day={day}.pt"


def run_experiment(
    config: SimulationConfig,
    run_dir: Path,
    *,
    resume: bool = False,
    warmup_cache: Path | None = None,
) -> pl.DataFrame:
    """Simulate every day of ``config`` into ``run_dir``; returns the per-(unit, arm, day) table.

    With ``resume``, continue after the last checkpoint in ``run_dir`` (a fresh start if there is
    none); the result is exactly that of an uninterrupted run. With ``warmup_cache``, the warm-up
    is taken from (or stored in) that directory, keyed by ``warmup_key``.
    """
    run_dir = Path(run_dir)
    simulation = Simulation(config, run_dir, warmup_cache)
    spec = config.experiment
    first_day = _prepare_run_dir(config, run_dir, resume)
    if first_day > 0:
        first_day = simulation.restore()
        log.info("resuming after day %d", first_day - 1)
    elif simulation.load_cached_warmup():
        first_day = spec.warmup_days
        simulation.checkpoint(first_day - 1)
    last_day = spec.warmup_days + spec.test_days - 1
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
        table = unit_day_table(run_dir / "logs", config)
    _log_timings(simulation.seconds)
    _write_json_atomic(run_dir / "timings.json", dict(simulation.seconds))
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
            results = simulation.test_day(day)
            if day < last_day:
                simulation.retrain(day)
        with simulation.timed("checkpoint"):
            simulation.checkpoint(day)
        _report_progress(days, phase, results)


def unit_day_table(logs_root: Path, config: SimulationConfig) -> pl.DataFrame:
    """Per-(user, arm, test day) clicks, impressions and expected clicks (sum of p_true), with the
    day's phase: the input of ``abtest_sim.report``. Days are numbered from 1 within the test."""
    spec = config.experiment
    test_days = range(spec.warmup_days, spec.warmup_days + spec.test_days)
    frame = (
        logs.scan(logs_root, config.arm_names, test_days)
        .group_by("user_id", "arm", "day")
        .agg(
            pl.col("click").sum().cast(pl.Int64).alias("clicks"),
            pl.len().cast(pl.Int64).alias("impressions"),
            pl.col("p_true").cast(pl.Float64).sum().alias("true_clicks"),
        )
        .with_columns((pl.col("day").cast(pl.Int32) - spec.warmup_days + 1).alias("day"))
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


def _prepare_run_dir(config: SimulationConfig, run_dir: Path, resume: bool) -> int:
    """Check the run dir against the config; returns 1 if a checkpoint exists to resume from."""
    config_file = run_dir / "config.json"
    has_checkpoint = (run_dir / "checkpoint" / STATE_FILE).exists()
    execution = _execution(config)
    if config_file.exists() and (has_checkpoint or not resume):
        saved = json.loads(config_file.read_text())
        saved_execution = saved.pop("execution", execution)
        if saved != _json_roundtrip(config.to_dict()):
            raise ConfigError(
                f"{run_dir} holds a run with a different config; choose another run_dir"
            )
        if not resume:
            raise ConfigError(
                f"{run_dir} already holds a run; pass resume=true to continue it "
                "or choose another run_dir"
            )
        if saved_execution != execution:
            settings = " ".join(f"{key}={value}" for key, value in saved_execution.items())
            raise ConfigError(
                f"{run_dir} was run with {settings}; resume with the same (another thread split "
                "rounds floats differently, so the result would not be the uninterrupted one)"
            )
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_json_atomic(config_file, {**config.to_dict(), "execution": execution})
    return 1 if (resume and has_checkpoint) else 0


def _execution(config: SimulationConfig) -> dict[str, int]:
    """The execution settings a run's numbers depend on (float rounding of threaded kernels)."""
    return {"torch_threads": torch.get_num_threads(), "retrain_workers": config.retrain_workers}


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


def _json_roundtrip(data: dict[str, Any]) -> Any:
    return json.loads(json.dumps(data, sort_keys=True))


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
