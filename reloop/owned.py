"""What an app may write into: a folder it created, or one that holds its own earlier output.

Every folder an app writes as a whole (a run dir, a report folder, an aggregate) carries a marker,
``.written-by.json``: the app that wrote it and, for a folder replaced as a whole, the names it
wrote. An app writes into a folder only if the folder is new, empty, or marked as its own; a
user's folder is refused with one line, before any work. Replacing its own folder, an app carries
over what it did not write (a user's notes saved beside a report), so it never deletes a file it
did not write.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from reloop.atomic import atomic_dir, write_json

__all__ = ["MARKER", "NotOwned", "check_writable", "claim_dir", "owner_of", "replace_owned_dir"]

MARKER = ".written-by.json"
# Entries a folder may hold and still count as empty: the lock file of the app that is starting.
STARTUP_ENTRIES = frozenset({".lock"})


class NotOwned(ValueError):
    """The folder holds files the app did not write; the message is one line for the user."""


def owner_of(path: Path) -> dict[str, Any] | None:
    """The marker of ``path`` (the app that wrote it and the names it wrote), or None."""
    try:
        marker = json.loads((Path(path) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) and isinstance(marker.get("app"), str) else None


def _foreign_entries(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if p.name not in STARTUP_ENTRIES | {MARKER})


def check_writable(
    path: Path, app: str, *, legacy: Callable[[Path], bool] | None = None, what: str = "folder"
) -> None:
    """Raise ``NotOwned`` unless ``path`` is absent, an empty folder, marked as ``app``'s, or
    (``legacy``) recognised as ``app``'s output from before markers existed."""
    path = Path(path)
    if not path.exists():
        return
    if not path.is_dir():
        raise NotOwned(f"{what} {path} is a file, not a folder")
    marker = owner_of(path)
    if marker is not None and marker["app"] == app:
        return
    entries = _foreign_entries(path)
    if not entries or (marker is None and legacy is not None and legacy(path)):
        return
    by = f" (written by {marker['app']})" if marker is not None else ""
    shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
    raise NotOwned(
        f"{what} {path} holds files {app} did not write{by}: {shown}; choose a new or empty folder"
    )


def claim_dir(
    path: Path, app: str, *, legacy: Callable[[Path], bool] | None = None, what: str = "folder"
) -> None:
    """Make ``path`` ``app``'s folder (``check_writable`` first): create it and mark it."""
    path = Path(path)
    check_writable(path, app, legacy=legacy, what=what)
    marker = owner_of(path)
    if marker is None or marker["app"] != app:
        path.mkdir(parents=True, exist_ok=True)
        write_json(path / MARKER, {"app": app})


@contextlib.contextmanager
def replace_owned_dir(
    path: Path, app: str, *, legacy: Callable[[Path], bool] | None = None, what: str = "folder"
) -> Iterator[Path]:
    """``atomic_dir`` for a folder ``app`` replaces as a whole: refused unless ``check_writable``
    allows it, marked with the names written, and the old folder's entries that ``app`` did not
    write are carried into the new one (an unmarked folder that ``legacy`` recognises as
    ``app``'s earlier output is all ``app``'s)."""
    path = Path(path)
    check_writable(path, app, legacy=legacy, what=what)

    def not_written_by_app(old: Path, staging: Path) -> list[str]:
        return _carried_over(old, staging, app)

    with atomic_dir(path, keep=not_written_by_app) as staging:
        yield staging
        written = sorted(p.name for p in staging.iterdir())
        write_json(staging / MARKER, {"app": app, "files": written})


def _carried_over(old: Path, staging: Path, app: str) -> list[str]:
    """The old folder's entries its writer did not write (a user's), to keep in the new one."""
    marker = owner_of(old)
    if marker is None:
        return []  # empty, or an earlier version's output (check_writable allowed it): all ours
    ours = set(marker.get("files") or [])
    kept = [
        entry.name
        for entry in sorted(old.iterdir())
        if entry.name not in ours | STARTUP_ENTRIES | {MARKER}
    ]
    clashes = [name for name in kept if (staging / name).exists()]
    if clashes:
        raise NotOwned(
            f"{old / clashes[0]} was not written by {app} and its new output has a file of that "
            "name; move it out and run again"
        )
    return kept
