"""The one way this project writes a file (or a folder of files): into a hidden temp beside it,
then renamed over it, so that a reader (or a resumed run) sees the old content or the new one,
never a part. A killed write leaves only a hidden ``.<name>...tmp``, which run dirs sweep on
start."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "as_os_error",
    "atomic_dir",
    "atomic_path",
    "sweep_stale_staging",
    "write_json",
    "write_parquet",
    "write_text",
]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temp path to write ``path``'s new content to; on leaving the block it is fsynced and
    renamed onto ``path``, on an error removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        with as_os_error(path):
            yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, _created_mode(0o666))  # as a plain open() would make it (mkstemp: 0600)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True))


def write_parquet(frame: pl.DataFrame, path: str | os.PathLike[str]) -> None:
    with atomic_path(path) as tmp:
        frame.write_parquet(tmp)


@contextlib.contextmanager
def atomic_dir(
    path: str | os.PathLike[str], *, keep: Callable[[Path, Path], Iterable[str]] | None = None
) -> Iterator[Path]:
    """A hidden staging folder to fill with ``path``'s new content; on leaving the block it
    replaces ``path`` (the old folder is renamed aside first, then removed), on an error it is
    removed and ``path`` is left as it was. Readers see the old folder or the new one.

    ``keep(old, staging)``: names of the old folder's entries to move into the new one (called
    before the swap; an error there leaves ``path`` as it was). Staging folders of processes that
    died before finishing are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_staging(path)
    staging = Path(tempfile.mkdtemp(prefix=_staging_prefix(path), suffix=".tmp", dir=path.parent))
    try:
        with as_os_error(path):
            yield staging
        os.chmod(staging, _created_mode(0o777))  # as a plain mkdir would make it (mkdtemp: 0700)
        if path.exists():
            kept = [] if keep is None else list(keep(path, staging))
            retired = Path(tempfile.mkdtemp(prefix=_staging_prefix(path, "old"), suffix=".tmp",
                                            dir=path.parent))  # fmt: skip
            path.rename(retired / path.name)
            staging.rename(path)
            for name in kept:
                os.rename(retired / path.name / name, path / name)
            shutil.rmtree(retired)
        else:
            staging.rename(path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _staging_prefix(path: Path, kind: str = "new") -> str:
    """``.<name>-<kind>-<pid>-``: whose staging folder it is, so a later writer can tell a dead
    process's leftovers from a live writer's work in flight."""
    return f".{path.name}-{kind}-{os.getpid()}-"


def sweep_stale_staging(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the staging folders of ``path`` that processes no longer running left."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}-(?:new|old)-(\d+)-.*\.tmp")
    stale = []
    if path.parent.is_dir():
        for entry in path.parent.iterdir():
            match = pattern.fullmatch(entry.name)
            if match and entry.is_dir() and not _running(int(match.group(1))):
                shutil.rmtree(entry, ignore_errors=True)
                stale.append(entry)
    return stale


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process: its own earlier writes have all finished or failed
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_OS_ERROR = re.compile(r"\(os error (\d+)\)")


@contextlib.contextmanager
def as_os_error(path: str | os.PathLike[str]) -> Iterator[None]:
    """Inside the block, a failed read or write that a library reports as its own error (polars'
    ``ComputeError``: "... (os error 28)") is raised as the ``OSError`` it is, naming ``path``,
    so that every app tells a full or read-only disk in one line."""
    try:
        yield
    except OSError:
        raise
    except Exception as error:
        match = _OS_ERROR.search(str(error))
        if match is None:
            raise
        code = int(match.group(1))
        raise OSError(code, os.strerror(code), str(path)) from None


def _created_mode(base: int) -> int:
    """``base`` under the process's umask: the mode a plain create would give (a report is
    shared with colleagues; the temp-file functions make private files)."""
    umask = os.umask(0)
    os.umask(umask)
    return base & ~umask
