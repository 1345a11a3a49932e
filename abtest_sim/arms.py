"""Arms: who is in which arm, and how an arm's model lineage is retrained every night.

An arm learns only from its own logs. Its nightly retraining is a ``reloop.fit`` warm-started from
yesterday's model on a sliding window of those logs, with the loss of its recipe (everyone trains
BCE during the A/A phase). ``y_last`` is either the pCTR the serving model logged for each
impression (``logged``) or the previous version's prediction recomputed on the window
(``rescore``): they differ when the window spans days served by older versions.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import torch

import reloop
from abtest_sim import logs
from abtest_sim.config import ArmSpec, ModelSpec
from abtest_sim.serving import ModelScorer
from abtest_sim.world.rng import keyed_uniform

__all__ = [
    "Arm",
    "RetrainJob",
    "assign_users",
    "retrain_pool",
    "run_retrain_job",
    "salt_key",
    "train_warmup_model",
    "truth_panel",
]


def salt_key(salt: str) -> int:
    """A stable 64-bit key from a salt string (Python's ``hash`` is randomised per process)."""
    return int.from_bytes(hashlib.sha256(salt.encode()).digest()[:8], "little")


def assign_users(n_users: int, shares: Sequence[float], salt: str) -> np.ndarray:
    """int8 [n_users]: the arm index of every user, from a salted hash of the user id.

    A user's arm depends only on (user id, salt, shares), as in production bucketing: the same user
    lands in the same arm in every run and on every day.
    """
    u = keyed_uniform(salt_key(salt), np.arange(n_users, dtype=np.uint64))
    edges = np.cumsum(np.asarray(shares, dtype=np.float64))
    edges[-1] = np.inf  # floating shares summing to 0.9999999 still cover every user
    return np.searchsorted(edges, u, side="right").astype(np.int8)


def truth_panel(n_users: int, share: float, salt: str) -> np.ndarray:
    """bool [n_users]: a fixed ``share`` of users, by a hash independent of the arm assignment."""
    if share >= 1:
        return np.ones(n_users, dtype=bool)
    u = keyed_uniform(salt_key(f"truth-panel:{salt}"), np.arange(n_users, dtype=np.uint64))
    return u < share


@dataclass
class Arm:
    """An arm's spec and the model version that serves it now."""

    spec: ArmSpec
    model: reloop.FittedModel
    version: int = 0  # 0 = the shared warm-up model; +1 every night
    warmup: reloop.FittedModel | None = None  # where warm_start=false restarts every night

    @property
    def name(self) -> str:
        return self.spec.name

    def scorer(self) -> ModelScorer:
        """The serving model as a ``serving.SlateScorer`` (candidates -> pCTRs)."""
        return ModelScorer(self.model)

    def retrain(
        self,
        logs_root: Path,
        day: int,
        loss: str,
        features: Sequence[str],
        model: ModelSpec,
        seed: int,
    ) -> None:
        """Train the next version with ``loss`` on the arm's own logs of the window ending on
        ``day``: warm-started from the serving model, or (``warm_start=false``) from the shared
        warm-up model every night."""
        spec = self.spec
        window = logs.window(logs_root, spec.name, day, spec.window_days)
        frame = window.select(logs.observable_columns(window)).collect()
        y_last = None
        if loss != "bce":
            y_last = "pctr" if spec.y_last == "logged" else reloop.predict(self.model, frame)
        self.model = reloop.fit(
            frame,
            list(features),
            label=logs.LABEL_COLUMN,
            loss=loss,
            alpha=spec.alpha,
            y_last=y_last,
            epochs=spec.epochs,
            batch_size=spec.batch_size,
            lr=spec.lr,
            seed=seed,
            warm_start=self.model if spec.warm_start else self._warmup(),
            **_architecture(model),
        )
        self.version += 1

    def _warmup(self) -> reloop.FittedModel:
        if self.warmup is None:
            raise ValueError(f"arm {self.name!r} has warm_start=false but no warm-up model")
        return self.warmup


@dataclass(frozen=True)
class RetrainJob:
    """One arm's nightly retraining as plain data, for a worker process: the serving model is read
    from ``serving_model`` and the new version written to ``out``."""

    spec: ArmSpec
    serving_model: Path
    warmup_model: Path
    logs_root: Path
    day: int
    loss: str
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


def train_warmup_model(
    frame: pl.DataFrame, features: Sequence[str], model: ModelSpec, epochs: int, seed: int
) -> reloop.FittedModel:
    """The shared starting model of every arm, trained with BCE on the exploring warm-up logs."""
    return reloop.fit(
        frame,
        list(features),
        label=logs.LABEL_COLUMN,
        loss="bce",
        epochs=epochs,
        seed=seed,
        **_architecture(model),
    )


def _architecture(model: ModelSpec) -> dict:
    return {
        "model": model.name,
        "embedding_dim": model.embedding_dim,
        "hidden_units": model.hidden_units,
        "dropout": model.dropout,
        "model_options": dict(model.options),
    }
