"""Nightly retraining of every lineage of a run, in this process or in worker processes.

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
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

import reloop
from abtest_sim.sim.config import ArmSpec, ModelSpec
from abtest_sim.sim.lineage import Arm
from abtest_sim.sim.rundir import START_MODEL, WARMUP_MODEL

if TYPE_CHECKING:  # pragma: no cover
    from abtest_sim.sim.loop import Simulation

__all__ = ["RetrainJob", "Retrainer", "TrainTask", "can_spawn_workers", "run_retrain_job"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainTask:
    """One lineage's training tonight: its loss, where its logs are, where the version goes."""

    lineage: Arm
    loss: str | dict[str, Any]  # a built-in name or a _target_ mapping (reloop.losses)
    logs_root: Path
    out: Path
    kind: str  # burnin | test | launch

    @property
    def base_model(self) -> str:
        """The model file of version 0 (and of warm_start=false restarts), relative to the run."""
        return WARMUP_MODEL if self.kind == "burnin" else START_MODEL


@dataclass(frozen=True)
class RetrainJob:
    """One lineage's nightly retraining as plain data, for a worker process: the serving model is
    read from ``serving_model`` and the new version written to ``out``."""

    spec: ArmSpec
    serving_model: Path
    warmup_model: Path
    logs_root: Path
    day: int
    loss: str | dict[str, Any]  # a built-in name or a _target_ mapping (reloop.losses)
    features: tuple[str, ...]
    model: ModelSpec
    seed: int
    out: Path


def run_retrain_job(job: RetrainJob) -> float:
    """Retrain (in a worker) and save the new version; returns the training seconds."""
    warmup = None if job.spec.warm_start else reloop.load(job.warmup_model)
    arm = Arm(job.spec, reloop.load(job.serving_model), warmup=warmup)
    arm.retrain(job.logs_root, job.day, job.loss, job.features, job.model, job.seed)
    arm.model.save(job.out)
    return arm.model.history.seconds


class Retrainer:
    """Runs a night's ``TrainTask``s for a simulation and updates its lineages."""

    def __init__(self, simulation: Simulation, seconds: dict[str, float]) -> None:
        self.simulation = simulation
        self.seconds = seconds
        self._pool: ProcessPoolExecutor | None = None  # started on first use

    def run(self, tasks: Sequence[TrainTask], day: int, *, seed: int) -> None:
        config = self.simulation.config
        workers = min(config.retrain_workers, len(tasks))
        threads = max(1, torch.get_num_threads() // workers)  # per training
        started = time.perf_counter()
        if workers > 1 and can_spawn_workers():
            took = self._in_workers(tasks, day, seed, workers, threads)
        else:
            with torch_threads(threads):  # in turn, with a worker's threads: the same numbers
                took = [self._here(task, day, seed) for task in tasks]
        self.seconds["training"] += time.perf_counter() - started
        run_dir = self.simulation.run_dir
        for task, seconds in zip(tasks, took, strict=True):
            task.lineage.model_file = str(task.out.relative_to(run_dir))
            log.info(
                "night %d: %s %s trained version %d (%s, %.1f s)",
                day,
                task.kind,
                task.lineage.name,
                task.lineage.version,
                task.loss,
                seconds,
            )

    def _here(self, task: TrainTask, day: int, seed: int) -> float:
        simulation = self.simulation
        lineage = task.lineage
        lineage.retrain(
            task.logs_root, day, task.loss, simulation.features, simulation.config.model, seed
        )
        lineage.model.save(task.out)
        return lineage.model.history.seconds

    def _in_workers(
        self, tasks: Sequence[TrainTask], day: int, seed: int, workers: int, threads: int
    ) -> list[float]:
        """The lineages retrain at once in worker processes (one per core on a small machine:
        1.2-1.6x the throughput of one process with two threads on two cores)."""
        if self._pool is None:
            self._pool = retrain_pool(workers, threads)
        simulation = self.simulation
        run_dir = simulation.run_dir
        jobs = [
            RetrainJob(
                spec=task.lineage.spec,
                serving_model=run_dir / (task.lineage.model_file or task.base_model),
                warmup_model=run_dir / task.base_model,
                logs_root=task.logs_root,
                day=day,
                loss=task.loss,
                features=tuple(simulation.features),
                model=simulation.config.model,
                seed=seed,
                out=task.out,
            )
            for task in tasks
        ]
        seconds = list(self._pool.map(run_retrain_job, jobs))
        for task in tasks:
            task.lineage.model = reloop.load(task.out)
            task.lineage.version += 1
        return seconds

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
