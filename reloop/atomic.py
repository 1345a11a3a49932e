"""The one way this project writes a file (or a folder of files): into a hidden temp beside it,
then renamed over it, so that a reader (or a resumed run) sees the old content or the new one,
never a part. A killed write leaves only a hidden ``.<name>...tmp``, which run dirs sweep on
start."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

__all__ = ["atomic_dir", "atomic_path", "write_json", "write_parquet", "write_text"]


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
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A hidden staging folder to fill with ``path``'s new content; on leaving the block it
    replaces ``path`` (the old folder is renamed aside first, then removed), on an error it is
    removed and ``path`` is left as it was. Readers see the old folder or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent))
    try:
        yield staging
        os.chmod(staging, _created_mode(0o777))  # as a plain mkdir would make it (mkdtemp: 0700)
        if path.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{path.name}-old-", suffix=".tmp",
                                            dir=path.parent))  # fmt: skip
            path.rename(retired / path.name)
            staging.rename(path)
            shutil.rmtree(retired)
        else:
            staging.rename(path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _created_mode(base: int) -> int:
    """``base`` under the process's umask: the mode a plain create would give (a report is
    shared with colleagues; the temp-file functions make private files)."""
    umask = os.umask(0)
    os.umask(umask)
    return base & ~umask
