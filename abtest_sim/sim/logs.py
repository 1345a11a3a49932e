"""Impression logs (**contract**): one parquet partition per (arm, day), written atomically.

Layout: ``<root>/arm=<name>/day=<d>/part-0.parquet``. Each file also holds its ``arm`` and ``day``
columns, so a file read on its own is self-describing. A partition is written into a hidden temp
directory beside its final place and renamed into it, so readers see the whole partition or none
of it; ``scan`` lists only well-formed ``arm=*/day=*`` directories and never sees a temp one.

``impression_log`` is what a production log holds, built from what serving observed (an
``Observation``), the served slates and their clicks: the oracle's ``TRUTH_COLUMNS`` (p_true) never
enter it. The simulator's truth evaluation writes them apart, keyed by ``TRUTH_KEYS`` (under
``truth/served/``), so no reader of the logs can see the oracle. ``observable_columns(frame)``
stays the guard of every training path.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from abtest_sim.sim.serving import Slates
from abtest_sim.world import Observation
from reloop.atomic import as_os_error

__all__ = [
    "LABEL_COLUMN",
    "PART_FILE",
    "TRUTH_COLUMNS",
    "Partition",
    "impression_log",
    "list_partitions",
    "observable_columns",
    "partition_path",
    "scan",
    "window",
    "write_partition",
]

TRUTH_COLUMNS: tuple[str, ...] = ("p_true",)
TRUTH_KEYS: tuple[str, ...] = ("day", "arm", "user_id", "request_id", "position")
LABEL_COLUMN = "click"
PART_FILE = "part-0.parquet"
_ARM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_ARM_DIR = re.compile(r"^arm=([A-Za-z0-9][A-Za-z0-9_.-]*)$")
_DAY_DIR = re.compile(r"^day=(-?\d+)$")


@dataclass(frozen=True)
class Partition:
    arm: str
    day: int
    path: Path  # the parquet file


def observable_columns(frame: pl.DataFrame | pl.LazyFrame | Iterable[str]) -> list[str]:
    """The columns of ``frame`` (or the names given) that a model may read: all but the truth."""
    if isinstance(frame, pl.DataFrame | pl.LazyFrame):
        names = frame.collect_schema().names()
    else:
        names = list(frame)
    return [name for name in names if name not in TRUTH_COLUMNS]


def impression_log(
    observation: Observation,
    slates: Slates,
    clicks: np.ndarray,
    *,
    arm: str,
    model_version: int,
) -> pl.DataFrame:
    """One row per impression (request-major, then position) with compact dtypes:

    ``day`` i16, ``arm`` str, ``user_id`` i32, ``request_id`` i32, ``request_index`` i16,
    ``position`` i16, ``item_id`` i32, ``item_category`` i16, ``weekday`` i16, ``hour`` i16,
    ``user_attr_*`` i16, ``pctr`` f32, ``click`` i8, ``model_version`` i32, ``explored`` i8.
    ``clicks``: int [n, K], aligned with the slates.
    """
    _check_arm(arm)
    n, k = slates.items.shape
    if clicks.shape != (n, k):
        raise ValueError(f"clicks {clicks.shape} do not match slates {(n, k)}")
    requests = observation.requests
    features = observation.slate_features(slates.request_rows, slates.items)
    rows = slates.request_rows
    head = pl.DataFrame(
        {
            "day": np.full(n * k, requests.day, dtype=np.int16),
            "arm": pl.repeat(arm, n * k, dtype=pl.String, eager=True),
            "request_id": np.repeat(requests.request_id[rows], k),
            "request_index": np.repeat(requests.request_index[rows], k),
        }
    )
    tail = pl.DataFrame(
        {
            "pctr": slates.pctr.reshape(-1).astype(np.float32, copy=False),
            "click": clicks.reshape(-1).astype(np.int8, copy=False),
            "model_version": np.full(n * k, model_version, dtype=np.int32),
            "explored": np.repeat(slates.explored.astype(np.int8, copy=False), k),
        }
    )
    frame = pl.concat([head, features, tail], how="horizontal")
    first = ["day", "arm", "user_id", "request_id", "request_index", "position", "item_id"]
    return frame.select(first + [c for c in frame.columns if c not in first])


def partition_path(root: str | os.PathLike[str], arm: str, day: int) -> Path:
    """The parquet file of (arm, day) under ``root``."""
    _check_arm(arm)
    return Path(root) / f"arm={arm}" / f"day={int(day)}" / PART_FILE


def write_partition(root: str | os.PathLike[str], arm: str, day: int, frame: pl.DataFrame) -> Path:
    """Write ``frame`` as the (arm, day) partition, atomically; an existing one is replaced.

    The file is written and fsynced in a hidden temp directory next to the final one, which is then
    renamed into place. A crash before the rename leaves only the hidden directory (invisible to
    ``scan``). When replacing, the old partition is first renamed aside: an exception between the
    two renames puts it back; a hard kill there leaves the partition absent (the old copy kept
    under ``.old-*``), never partial.
    """
    frame = _with_partition_columns(frame, arm, int(day))
    final = partition_path(root, arm, day).parent
    final.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:12]
    tmp = final.parent / f".tmp-{final.name}-{tag}"
    old = final.parent / f".old-{final.name}-{tag}"
    tmp.mkdir()
    try:
        _write_file(frame, tmp / PART_FILE)
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        if old.exists() and not final.exists():
            os.replace(old, final)  # an error between the two renames: put the old one back
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return final / PART_FILE


def list_partitions(
    root: str | os.PathLike[str],
    arms: Iterable[str] | None = None,
    days: Iterable[int] | None = None,
) -> list[Partition]:
    """Complete partitions under ``root``, sorted by (arm, day), optionally filtered."""
    root = Path(root)
    wanted_arms = None if arms is None else set(arms)
    wanted_days = None if days is None else {int(d) for d in days}
    found: list[Partition] = []
    if not root.is_dir():
        return found
    for arm_dir in root.iterdir():
        arm_match = _ARM_DIR.match(arm_dir.name)
        if not arm_match or not arm_dir.is_dir():
            continue
        arm = arm_match.group(1)
        if wanted_arms is not None and arm not in wanted_arms:
            continue
        for day_dir in arm_dir.iterdir():
            day_match = _DAY_DIR.match(day_dir.name)
            if not day_match or not (day_dir / PART_FILE).is_file():
                continue
            day = int(day_match.group(1))
            if wanted_days is None or day in wanted_days:
                found.append(Partition(arm, day, day_dir / PART_FILE))
    return sorted(found, key=lambda p: (p.arm, p.day))


def scan(
    root: str | os.PathLike[str],
    arms: Iterable[str] | None = None,
    days: Iterable[int] | None = None,
) -> pl.LazyFrame:
    """A polars lazy scan of the selected partitions (all if None). Raises FileNotFoundError if
    none matches, naming what was asked for."""
    arms = None if arms is None else list(arms)
    days = None if days is None else list(days)
    parts = list_partitions(root, arms, days)
    if not parts:
        raise FileNotFoundError(f"no log partitions under {root} for arms={arms} days={days}")
    return pl.scan_parquet([str(p.path) for p in parts])


def window(root: str | os.PathLike[str], arm: str, last_day: int, n_days: int) -> pl.LazyFrame:
    """The arm's logs of days ``last_day - n_days + 1 .. last_day`` (those that exist)."""
    return scan(root, [arm], range(last_day - n_days + 1, last_day + 1))


def _with_partition_columns(frame: pl.DataFrame, arm: str, day: int) -> pl.DataFrame:
    _check_arm(arm)
    for name, value in (("arm", arm), ("day", day)):
        if name in frame.columns and frame.height:
            values = frame.get_column(name).unique().to_list()
            if values != [value]:
                raise ValueError(f"frame column {name!r} holds {values}, partition is {value!r}")
    return frame.with_columns(
        pl.lit(day, dtype=pl.Int16).alias("day"), pl.lit(arm, dtype=pl.String).alias("arm")
    )


def _write_file(frame: pl.DataFrame, path: Path) -> None:
    with as_os_error(path), open(path, "wb") as handle:
        frame.write_parquet(handle, compression="zstd", compression_level=1, statistics=True)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_arm(arm: str) -> None:
    if not isinstance(arm, str) or not _ARM_NAME.match(arm):
        raise ValueError(f"invalid arm name {arm!r}: use letters, digits, '_', '-', '.'")
