"""The run dir of a simulation: where things live (``RunDir``, the one owner of the layout), who
owns it, and the config check on resume.

Layout (**contract**, relative to the run dir):

    logs/arm=<name>/day=<d>/part-0.parquet         the test arms' impressions (and warmup, burnin
                                                   when simulated here, not taken from the cache)
    launch/logs/arm=<name>/day=<d>/part-0.parquet  each arm's launch lineage (serves every user),
                                                   its p_true in launch/truth/served/
    models/arm=<name>/day=<d>.pt                   the version trained on night d (serves d+1)
    launch/models/arm=<name>/day=<d>.pt            the launch lineage's versions
    models/start.pt, models/warmup.pt              every arm's version 0; the warm-up model (when
                                                   simulated here)
    truth/day=<d>.parquet                          the launch lineages' expected clicks per arm
    truth/served/arm=<name>/day=<d>/part-0.parquet p_true of every logged impression (the oracle,
                                                   kept out of logs/; keyed by logs.TRUTH_KEYS)
    unit_days.parquet, report/                     the report's input; the report
    checkpoint/, config.json, timings.json         resume state, resolved config, wall time
    .lock                                          held by the one process that owns the run dir

Hidden temporaries (``.tmp-*``, ``.old-*``, ``.*.tmp``) exist only while a write is in flight;
a run that starts or resumes sweeps away those an earlier, killed attempt left.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from abtest_sim.sim.config import ConfigError, SimulationConfig
from abtest_sim.sim.errors import RunFailure
from reloop.atomic import write_json
from reloop.owned import MARKER, check_writable, claim_dir

__all__ = [
    "LOCK_FILE",
    "STATE_FILE",
    "LineageArea",
    "RunDir",
    "RunDirBusy",
    "check_resumable",
    "check_run_dir",
    "claim_run_dir",
    "owned_run_dir",
    "prepare_run_dir",
    "record_report_settings",
    "sweep_temporaries",
    "warmup_key",
]

STATE_FILE = "state.json"
LOCK_FILE = ".lock"
APP = "abtest-sim"
# What a write in flight leaves if killed: partition dirs being written or replaced
# (logs.write_partition), and reloop.atomic's temp files and staging folders (hidden, *.tmp),
# swept inside the folders the run fills; at the top, only its own files' and the report's.
TEMPORARY_PATTERNS = (".tmp-*", ".old-*", ".*.tmp")
OWNED_FOLDERS = (".hydra", "checkpoint", "launch", "logs", "models", "truth")
TOP_FILES = ("config.json", "timings.json", "unit_days.parquet", MARKER)
TOP_TEMPORARIES = (*(f".{name}.*.tmp" for name in TOP_FILES), ".report-*.tmp")
_HELD: dict[Path, int] = {}  # run dirs this process owns -> lock file descriptor


class RunDirBusy(RunFailure):
    """Another live process owns the run dir."""


@dataclass(frozen=True)
class LineageArea:
    """Where one kind of lineage keeps its logs, the served truth of those logs (``p_true``, apart
    from them) and its versions: the run dir itself for the test arms (and the warm-up and burn-in
    days), ``launch/`` for the launch lineages."""

    base: Path

    @property
    def logs(self) -> Path:
        return self.base / "logs"

    @property
    def served_truth(self) -> Path:
        return self.base / "truth" / "served"

    def model(self, arm: str, day: int) -> Path:
        """The version of ``arm``'s lineage trained on night ``day`` (it serves ``day + 1``)."""
        return self.base / "models" / f"arm={arm}" / f"day={day}.pt"


@dataclass(frozen=True)
class RunDir:
    """A simulation's run dir: every path of the layout above comes from here."""

    root: Path

    @classmethod
    def of(cls, path: RunDir | str | os.PathLike[str]) -> RunDir:
        return path if isinstance(path, RunDir) else cls(Path(path))

    @property
    def test(self) -> LineageArea:
        """The test arms' area (the warm-up and burn-in lineages log here too)."""
        return LineageArea(self.root)

    @property
    def launch(self) -> LineageArea:
        return LineageArea(self.root / "launch")

    def area(self, *, launch: bool) -> LineageArea:
        return self.launch if launch else self.test

    @property
    def logs(self) -> Path:
        return self.test.logs

    @property
    def served_truth(self) -> Path:
        return self.test.served_truth

    @property
    def start_model(self) -> Path:
        """Every arm's version 0 (the model at the split)."""
        return self.root / "models" / "start.pt"

    @property
    def warmup_model(self) -> Path:
        """The model trained on the warm-up days (in runs that simulated them)."""
        return self.root / "models" / "warmup.pt"

    def truth(self, day: int) -> Path:
        """The launch lineages' expected clicks per arm on ``day``."""
        return self.root / "truth" / f"day={day}.parquet"

    @property
    def unit_days(self) -> Path:
        return self.root / "unit_days.parquet"

    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint"

    @property
    def checkpoint_state(self) -> Path:
        return self.checkpoint / STATE_FILE

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def timings(self) -> Path:
        return self.root / "timings.json"

    @property
    def lock(self) -> Path:
        return self.root / LOCK_FILE

    def relative(self, path: Path) -> str:
        """``path`` relative to the run dir, as checkpoints record model files."""
        return str(path.relative_to(self.root))

    def resolve(self, relative: str) -> Path:
        return self.root / relative


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
        "format": 3,
        "torch_threads": torch.get_num_threads(),  # the warm-up trains in this process
        # a new release may train the warm-up differently: never reuse another version's cache
        "version": _package_version(),
    }
    if spec.burnin_days:
        control = asdict(config.arm(spec.control))
        material["burnin"] = [spec.burnin_days, spec.epsilon, spec.swap_prob]
        material["burnin_training"] = {
            k: control[k] for k in ("window_days", "warm_start", "train")
        }
    text = json.dumps(material, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _package_version() -> str:
    try:
        return importlib.metadata.version("abtest-sim-reloop")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "unknown"


@contextlib.contextmanager
def owned_run_dir(run_dir: Path) -> Iterator[None]:
    """Own ``run_dir`` for the block: an exclusive OS lock on ``run_dir/.lock``, released on any
    exit (the kernel drops it when the process dies, so a killed run leaves no stale lock).
    Re-entrant within a process. Raises ``RunDirBusy`` if another process owns it."""
    key = Path(run_dir).resolve()
    if key in _HELD:
        yield
        return
    key.mkdir(parents=True, exist_ok=True)
    fd = os.open(RunDir(key).lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunDirBusy(
            f"{run_dir} is in use by another running process; wait for it or choose another run_dir"
        ) from None
    _HELD[key] = fd
    try:
        yield
    finally:
        del _HELD[key]
        os.close(fd)  # releases the lock; the file stays (removing it would race a new owner)


def sweep_temporaries(run_dir: Path) -> list[Path]:
    """Remove what killed writes left in ``run_dir`` (call only while owning it), only where this
    app writes: its own files' temporaries at the top, and inside the folders it fills. A user's
    files anywhere else in the run dir are never looked at."""
    found = {path for pattern in TOP_TEMPORARIES for path in run_dir.glob(pattern)}
    for folder in (run_dir / name for name in OWNED_FOLDERS):
        if folder.is_dir():
            found |= {p for pattern in TEMPORARY_PATTERNS for p in folder.rglob(pattern)}
    for path in sorted(found):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return sorted(found)


def _is_earlier_run(path: Path) -> bool:
    """A run dir written before run dirs were marked: its config.json is a simulation's."""
    try:
        saved = json.loads(RunDir(path).config.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(saved, dict) and {"world", "experiment", "arms"} <= set(saved)


def claim_run_dir(run_dir: Path) -> None:
    """Refuse (``NotOwned``) a run dir holding anything but an abtest-sim run; mark it as one."""
    claim_dir(run_dir, APP, legacy=_is_earlier_run, what="run_dir")


def check_run_dir(run_dir: Path) -> None:
    """``claim_run_dir``'s check alone, before anything is written (``NotOwned`` if refused)."""
    check_writable(run_dir, APP, legacy=_is_earlier_run, what="run_dir")


def check_resumable(config: SimulationConfig, run_dir: Path, resume: bool) -> dict[str, Any]:
    """Refuse (``ConfigError``) a run dir holding a run of another config, a finished or killed
    run without ``resume``, or one run with other execution settings; writes nothing. Returns
    the saved run's recorded report settings (empty for a new run)."""
    config_file = RunDir(run_dir).config
    if not config_file.exists():
        return {}
    saved = json.loads(config_file.read_text())
    execution = _execution(config)
    saved_execution = saved.pop("execution", execution)
    report = saved.pop("report", {})
    if saved != _json_roundtrip(config.to_dict()):
        raise ConfigError(f"{run_dir} holds a run with a different config; choose another run_dir")
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
    return report


def prepare_run_dir(config: SimulationConfig, run_dir: Path, resume: bool) -> bool:
    """Check the run dir against the config (from the moment it holds a config.json, checkpoint
    or not), claim it and sweep earlier attempts' temporaries; True if a checkpoint exists to
    resume from."""
    report = check_resumable(config, run_dir, resume)
    has_checkpoint = RunDir(run_dir).checkpoint_state.exists()
    claim_run_dir(run_dir)
    sweep_temporaries(run_dir)
    recorded = {**config.to_dict(), "execution": _execution(config)}
    write_json(RunDir(run_dir).config, recorded | ({"report": report} if report else {}))
    return resume and has_checkpoint


def record_report_settings(run_dir: Path, settings: Mapping[str, Any]) -> None:
    """Record in config.json how the report was read (a resumed run may change these), before
    the report is written."""
    config_file = RunDir(run_dir).config
    write_json(config_file, json.loads(config_file.read_text()) | {"report": dict(settings)})


def _execution(config: SimulationConfig) -> dict[str, int]:
    """The execution settings a run's numbers depend on (float rounding of threaded kernels)."""
    return {"torch_threads": torch.get_num_threads(), "retrain_workers": config.retrain_workers}


def _json_roundtrip(data: dict[str, Any]) -> Any:
    return json.loads(json.dumps(data, sort_keys=True))
