"""Hydra-style ``_target_`` references: the object at a dotted path, found without Hydra's own
error logging, so that a wrong path is one readable line."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

__all__ = ["locate", "target_path"]


def locate(path: str) -> Any:
    """The object at a dotted path (the longest importable module prefix, then attributes)."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        try:
            for name in parts[cut:]:
                found = getattr(found, name)
        except AttributeError:
            break
        return found
    raise ValueError(f"cannot import {path!r} (is its module on the Python path?)")


def target_path(spec: Mapping[str, Any], what: str) -> str:
    """The ``_target_`` of a mapping, checked to be a dotted path."""
    path = spec.get("_target_")
    if not isinstance(path, str) or not path:
        raise ValueError(f"{what} mapping needs a _target_ (a dotted path), got {dict(spec)!r}")
    return path
