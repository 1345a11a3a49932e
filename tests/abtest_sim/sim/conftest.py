"""Fixtures for fast in-process tests of the day loop: a tiny world's config, and a stub trainer
whose model is a fixed scoring function and whose retraining only bumps the version (no torch
training, no subprocess); it checks, as it goes, that no training frame holds the truth."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from abtest_sim.sim import logs
from abtest_sim.sim.config import SimulationConfig
from abtest_sim.sim.retraining import TrainTask, Version

TINY_WORLD: dict[str, Any] = dict(
    n_users=300, n_items=150, n_categories=4, latent_dim=4, n_user_attrs=2,
    item_lifetime_days=30, n_candidates=8,
)  # fmt: skip


def tiny_config(*, arms: dict[str, Any] | None = None, **experiment: Any) -> SimulationConfig:
    """A few hundred users; 2 warm-up, 1 burn-in, 1 A/A and 2 A/B days unless told."""
    design = dict(warmup_days=2, burnin_days=1, aa_days=1, ab_days=2, slate_size=3)
    arms = arms or {"control": {}, "treatment": {"recipe": "reloop"}}
    return SimulationConfig.from_hydra(
        {
            "world": TINY_WORLD,
            "arm": arms,
            "experiment": design | experiment,
            "progress": False,
        }
    )


class Interrupted(Exception):
    """What the stub raises to stop a run on a chosen night (a kill, in process)."""


@dataclass(frozen=True)
class StubModel:
    """A fixed scoring function (it prefers some items, the same for everyone); the version is a
    label, saved and loaded as JSON."""

    version: int = 0

    def __call__(self, frame: pl.DataFrame) -> np.ndarray:
        items = frame.get_column("item_id").to_numpy()
        return (0.02 + 0.5 * (items * 37 % 101) / 101).astype(np.float32)

    def save(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"version": self.version}))
        return path


class StubTrainer:
    """``retraining.Trainer`` without training: a night gives every lineage its next version of
    the same scoring function. Records each night's tasks as (kind, name, loss)."""

    Interrupted = Interrupted

    def __init__(self, run_dir: Path, *, stop_on_night: int | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.stop_on_night = stop_on_night
        self.nights: dict[int, list[tuple[str, str, Any]]] = {}

    def first_model(self, frame: pl.DataFrame, epochs: int, seed: int) -> StubModel:
        assert not set(logs.TRUTH_COLUMNS) & set(frame.columns)
        if self.stop_on_night == -1:
            raise Interrupted("stopped while training the warm-up model")
        return StubModel(0)

    def retrain(self, tasks: Sequence[TrainTask], day: int, *, seed: int) -> list[Version]:
        if day == self.stop_on_night:
            raise Interrupted(f"stopped on night {day}")
        self.nights[day] = [(task.kind, task.spec.name, task.loss) for task in tasks]
        versions = []
        for task in tasks:
            window = logs.window(task.logs_root, task.spec.name, day, task.spec.window_days)
            assert not set(logs.TRUTH_COLUMNS) & set(window.collect_schema().names())
            model = StubModel(task.version)
            model.save(task.out)
            versions.append(Version(model, str(task.out.relative_to(self.run_dir)), task.version))
        return versions

    def load(self, path: Path) -> StubModel:
        return StubModel(json.loads(Path(path).read_text())["version"])

    def close(self) -> None:
        pass


def parquet_frames(root: Path) -> dict[str, pl.DataFrame]:
    """Every parquet file under ``root`` by its relative path."""
    return {str(p.relative_to(root)): pl.read_parquet(p) for p in sorted(root.rglob("*.parquet"))}


@pytest.fixture(scope="session")
def tiny():
    """``tiny_config``: a simulation config of a few hundred users (overrides as arguments)."""
    return tiny_config


@pytest.fixture(scope="session")
def stub_trainer():
    """``StubTrainer(run_dir, stop_on_night=None)``: that night (-1: the warm-up model's) stops
    the run with ``StubTrainer.Interrupted``."""
    return StubTrainer


@pytest.fixture(scope="session")
def frames_of():
    """``parquet_frames(root)``: every parquet file under ``root`` by its relative path."""
    return parquet_frames
