"""The run dir of a simulation: where things live, atomic writes, and the config check on resume.

Layout (**contract**, relative to the run dir):

    logs/arm=<name>/day=<d>/part-0.parquet         the test arms' impressions (and warmup, burnin)
    launch/logs/arm=<name>/day=<d>/part-0.parquet  each arm's launch lineage (serves every user)
    models/arm=<name>/day=<d>.pt                   the version trained on night d (serves d+1)
    launch/models/arm=<name>/day=<d>.pt            the launch lineage's versions
    models/warmup.pt, models/start.pt              the warm-up model; every arm's version 0
    truth/day=<d>.parquet                          the launch lineages' expected clicks per arm
    checkpoint/, config.json, timings.json         resume state, resolved config, wall time
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import polars as pl
import torch

from abtest_sim.config import ConfigError, SimulationConfig

__all__ = [
    "STATE_FILE",
    "model_path",
    "prepare_run_dir",
    "truth_path",
    "warmup_key",
    "write_json_atomic",
    "write_parquet_atomic",
]

STATE_FILE = "state.json"
WARMUP_MODEL = "models/warmup.pt"
START_MODEL = "models/start.pt"


def model_path(run_dir: Path, arm: str, day: int, *, launch: bool = False) -> Path:
    root = run_dir / "launch" if launch else run_dir
    return root / "models" / f"arm={arm}" / f"day={day}.pt"


def truth_path(run_dir: Path, day: int) -> Path:
    return run_dir / "truth" / f"day={day}.parquet"


def warmup_key(config: SimulationConfig) -> str:
    """What determines the state at the split (world, seed, model, warm-up and burn-in design,
    the burn-in's training settings), hashed: runs that differ only in their arms' recipes share
    one warm-up and burn-in."""
    spec = config.experiment
    material: dict[str, Any] = {
        "world": config.world.to_dict(),
        "seed": config.seed,
        "model": asdict(config.model),
        "warmup": [spec.warmup_days, spec.warmup_epochs, spec.slate_size],
        "format": 2,
        "torch_threads": torch.get_num_threads(),  # the warm-up trains in this process
        # a new release may train the warm-up differently: never reuse another version's cache
        "version": _package_version(),
    }
    if spec.burnin_days:
        control = asdict(config.arm(spec.control))
        material["burnin"] = [spec.burnin_days, spec.epsilon, spec.swap_prob]
        material["burnin_training"] = {
            k: control[k] for k in ("window_days", "epochs", "lr", "batch_size", "warm_start")
        }
    text = json.dumps(material, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _package_version() -> str:
    try:
        return importlib.metadata.version("abtest-sim-reloop")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "unknown"


def write_parquet_atomic(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        frame.write_parquet(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def prepare_run_dir(config: SimulationConfig, run_dir: Path, resume: bool) -> bool:
    """Check the run dir against the config; True if a checkpoint exists to resume from."""
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
    write_json_atomic(config_file, {**config.to_dict(), "execution": execution})
    return resume and has_checkpoint


def _execution(config: SimulationConfig) -> dict[str, int]:
    """The execution settings a run's numbers depend on (float rounding of threaded kernels)."""
    return {"torch_threads": torch.get_num_threads(), "retrain_workers": config.retrain_workers}


def _json_roundtrip(data: dict[str, Any]) -> Any:
    return json.loads(json.dumps(data, sort_keys=True))
