"""Nightly retraining of every lineage of a run, in this process or in worker processes.

The loop hands the ``Retrainer`` a night's ``TrainTask``s (plain data: a lineage's spec, loss,
logs, serving version and where the new one goes) and gets back one ``Version`` per task; only
the lineage applies it (``Lineage.advance``). The retrainer knows the run dir, the model spec, the
feature columns and how many workers to use, nothing of the simulation.

With ``retrain_workers > 1`` the night's trainings (test arms, launch lineages, the burn-in
lineage) run at once in spawned worker processes with ``torch_threads // workers`` threads each;
otherwise they run in turn here with that same thread count, so both give the same numbers.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Iterator, MutableMapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import polars as pl
import torch

import reloop
from abtest_sim.sim import logs
from abtest_sim.sim.config import ArmSpec, ModelSpec
from abtest_sim.sim.health import ModelDiverged
from abtest_sim.sim.rundir import RunDir
from reloop.schema import TrainSpec

__all__ = [
    "Model",
    "RetrainJob",
    "Retrainer",
    "TrainTask",
    "Trainer",
    "Version",
    "can_spawn_workers",
    "run_retrain_job",
    "train_version",
    "train_warmup_model",
]

log = logging.getLogger(__name__)


class Model(Protocol):
    """What a lineage serves and the run dir keeps: a ``reloop.FittedModel`` in every real run."""

    def save(self, path: str | os.PathLike[str]) -> Any: ...


@dataclass(frozen=True)
class TrainTask:
    """One lineage's training tonight, as plain data."""

    kind: str  # burnin | test | launch
    spec: ArmSpec  # its training settings; spec.name is the arm whose logs it reads
    loss: str | dict[str, Any]  # a built-in name or a _target_ mapping (reloop.losses)
    logs_root: Path
    serving: Model  # the version serving today: the warm start
    serving_file: Path
    origin: Model  # version 0: where warm_start=false restarts
    origin_file: Path
    out: Path  # where the new version goes
    version: int  # the number of the version it trains


@dataclass(frozen=True)
class Version:
    """A lineage's new version: the model, its file (relative to the run dir), its number."""

    model: Model
    file: str
    number: int


class Trainer(Protocol):
    """What the day loop asks of training (``Retrainer``; a test can give a stub)."""

    def first_model(self, frame: pl.DataFrame, epochs: int, seed: int) -> Model: ...

    def retrain(self, tasks: Sequence[TrainTask], day: int, *, seed: int) -> list[Version]: ...

    def load(self, path: Path) -> Model: ...

    def close(self) -> None: ...


def train_version(
    task: TrainTask, day: int, features: Sequence[str], model: ModelSpec, seed: int
) -> reloop.FittedModel:
    """The next version with ``task.loss`` on the lineage's own logs of the window ending on
    ``day``: warm-started from the serving version, or (``warm_start=false``) from version 0."""
    spec = task.spec
    window = logs.window(task.logs_root, spec.name, day, spec.window_days)
    frame = window.select(logs.observable_columns(window)).collect()
    serving = task.serving
    assert isinstance(serving, reloop.FittedModel) and isinstance(task.origin, reloop.FittedModel)
    y_last = None
    if task.loss != "bce":
        y_last = "pctr" if spec.y_last == "logged" else reloop.predict(serving, frame)
    trained = reloop.fit(
        frame,
        list(features),
        label=logs.LABEL_COLUMN,
        model=model,
        train=spec.train,
        loss=task.loss,
        alpha=spec.alpha,
        y_last=y_last,
        seed=seed,
        warm_start=serving if spec.warm_start else task.origin,
    )
    if not trained.has_finite_weights():
        raise ModelDiverged(
            f"the model of arm {spec.name} diverged when retrained on day {day} (non-finite "
            f"weights with lr={spec.train.lr:g}); lower arm.{spec.name}.train.lr"
        )
    return trained


def train_warmup_model(
    frame: pl.DataFrame, features: Sequence[str], model: ModelSpec, epochs: int, seed: int
) -> reloop.FittedModel:
    """The shared starting model of every arm, trained with BCE on the exploring warm-up logs."""
    return reloop.fit(
        frame,
        list(features),
        label=logs.LABEL_COLUMN,
        model=model,
        train=TrainSpec(epochs=epochs),
        loss="bce",
        seed=seed,
    )


@dataclass(frozen=True)
class RetrainJob:
    """One lineage's nightly retraining as plain data, for a worker process: the serving model is
    read from ``serving_model`` and the new version written to ``out``."""

    spec: ArmSpec
    serving_model: Path
    warmup_model: Path  # version 0 of the lineage (read only for warm_start=false)
    logs_root: Path
    day: int
    loss: str | dict[str, Any]  # a built-in name or a _target_ mapping (reloop.losses)
    features: tuple[str, ...]
    model: ModelSpec
    seed: int
    out: Path


def run_retrain_job(job: RetrainJob) -> float:
    """Retrain (in a worker) and save the new version; returns the training seconds."""
    serving = reloop.load(job.serving_model)
    origin = serving if job.spec.warm_start else reloop.load(job.warmup_model)
    task = TrainTask(
        "worker", job.spec, job.loss, job.logs_root, serving, job.serving_model, origin,
        job.warmup_model, job.out, 0,
    )  # fmt: skip
    trained = train_version(task, job.day, job.features, job.model, job.seed)
    trained.save(job.out)
    return trained.history.seconds


class Retrainer:
    """Trains the warm-up model and a night's ``TrainTask``s with ``reloop``."""

    def __init__(
        self,
        run_dir: RunDir,
        model: ModelSpec,
        features: Sequence[str],
        workers: int,
        seconds: MutableMapping[str, float],
    ) -> None:
        self.run_dir = run_dir
        self.model = model
        self.features = tuple(features)
        self.workers = workers
        self.seconds = seconds
        self._pool: ProcessPoolExecutor | None = None  # started on first use

    def first_model(self, frame: pl.DataFrame, epochs: int, seed: int) -> reloop.FittedModel:
        return train_warmup_model(frame, self.features, self.model, epochs, seed)

    def load(self, path: Path) -> reloop.FittedModel:
        return reloop.load(path)

    def retrain(self, tasks: Sequence[TrainTask], day: int, *, seed: int) -> list[Version]:
        workers = min(self.workers, len(tasks))
        threads = max(1, torch.get_num_threads() // workers)  # per training
        started = time.perf_counter()
        if workers > 1 and can_spawn_workers():
            trained = self._in_workers(tasks, day, seed, workers, threads)
        else:
            with torch_threads(threads):  # in turn, with a worker's threads: the same numbers
                trained = [self._here(task, day, seed) for task in tasks]
        self.seconds["training"] += time.perf_counter() - started
        versions = []
        for task, (model, seconds) in zip(tasks, trained, strict=True):
            versions.append(Version(model, self.run_dir.relative(task.out), task.version))
            log.info(
                "night %d: %s %s trained version %d (%s, %.1f s)",
                day, task.kind, task.spec.name, task.version, task.loss, seconds,
            )  # fmt: skip
        return versions

    def _here(self, task: TrainTask, day: int, seed: int) -> tuple[reloop.FittedModel, float]:
        trained = train_version(task, day, self.features, self.model, seed)
        trained.save(task.out)
        return trained, trained.history.seconds

    def _in_workers(
        self, tasks: Sequence[TrainTask], day: int, seed: int, workers: int, threads: int
    ) -> list[tuple[reloop.FittedModel, float]]:
        """The lineages retrain at once in worker processes (one per core on a small machine:
        1.2-1.6x the throughput of one process with two threads on two cores)."""
        if self._pool is None:
            self._pool = retrain_pool(workers, threads)
        jobs = [
            RetrainJob(
                spec=task.spec,
                serving_model=task.serving_file,
                warmup_model=task.origin_file,
                logs_root=task.logs_root,
                day=day,
                loss=task.loss,
                features=self.features,
                model=self.model,
                seed=seed,
                out=task.out,
            )
            for task in tasks
        ]
        seconds = list(self._pool.map(run_retrain_job, jobs))
        return [(reloop.load(task.out), took) for task, took in zip(tasks, seconds, strict=True)]

    def close(self) -> None:
        """Stop the retraining workers, if any were started."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)  # after an error, queued jobs do not run
            self._pool = None


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


def retrain_pool(workers: int, threads: int) -> ProcessPoolExecutor:
    """Worker processes for ``run_retrain_job``, each with ``threads`` torch threads. Spawned, not
    forked: forking a process whose OpenMP threads have run can deadlock."""
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(threads, os.getpid()),
    )


def _start_worker(threads: int, parent: int) -> None:
    torch.set_num_threads(threads)
    # A killed run (SIGKILL, out of memory) cannot stop its workers: they stop themselves, so no
    # orphan keeps training, competes with the resumed run for the cores or holds its memory.
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int, every_seconds: float = 1.0) -> None:
    while os.getppid() == parent:
        time.sleep(every_seconds)
    os._exit(1)
