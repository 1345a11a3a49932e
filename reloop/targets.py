"""Hydra-style ``_target_`` references: the object at a dotted path, found without Hydra's own
error logging, so that a wrong path is one readable line."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from typing import Any

__all__ = ["build", "locate", "target_path"]


def locate(path: str) -> Any:
    """The object at a dotted path (the longest importable module prefix, then attributes)."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        try:
            found: Any = importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name and not module.startswith(error.name):  # the module itself fails
                raise ValueError(f"cannot import {path!r}: {error}") from None
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


def build(spec: Mapping[str, Any], what: str) -> Any:
    """The object a ``_target_`` mapping names, built Hydra's way: a function with the mapping's
    other keys bound as keyword arguments, or a class instantiated with them."""
    target = locate(target_path(spec, what))
    arguments = {k: v for k, v in spec.items() if k != "_target_"}
    if not isinstance(target, type):
        return functools.partial(target, **arguments) if arguments else target
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        return instantiate(dict(spec))
    except InstantiationException as error:
        raise ValueError(" ".join(str(error).split())) from None
