"""What a model may see: ids, user attributes, item category, weekday, hour, position.

Built column by column from numpy gathers (no per-row Python) with compact integer dtypes; every
column is categorical for ``reloop`` (integers). The latent factors and ``p_true`` are not here and
cannot be: this module only receives observable arrays.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from abtest_sim.world.requests import DayRequests

__all__ = [
    "BASE_FEATURES",
    "SLOT_FEATURES",
    "feature_names",
    "observable_frame",
    "request_frame",
    "slot_frame",
    "user_attr_names",
]

BASE_FEATURES = ("user_id", "item_id", "item_category", "weekday", "hour", "position")
SLOT_FEATURES = ("item_id", "item_category", "position")  # the rest is the same for a request


def user_attr_names(n_attrs: int) -> list[str]:
    return [f"user_attr_{a}" for a in range(n_attrs)]


def feature_names(n_attrs: int) -> list[str]:
    """The observable feature columns, in frame order."""
    return [*BASE_FEATURES, *user_attr_names(n_attrs)]


def observable_frame(
    requests: DayRequests,
    rows: np.ndarray,
    items: np.ndarray,
    positions: np.ndarray,
    item_category: np.ndarray,
    user_attrs: np.ndarray,
) -> pl.DataFrame:
    """One frame row per (request row, slot), row-major: ``items [len(rows), S]`` shown at
    ``positions [S]``. ``item_category [I]`` and ``user_attrs [m, U]`` are observable tables."""
    s = items.shape[1]
    request = _request_columns(requests, rows, user_attrs)
    slot = _slot_columns(items, positions, item_category)
    names = feature_names(len(user_attrs))
    return pl.DataFrame(
        {name: slot[name] if name in slot else np.repeat(request[name], s) for name in names}
    )


def request_frame(requests: DayRequests, rows: np.ndarray, user_attrs: np.ndarray) -> pl.DataFrame:
    """The features shared by every slot of a request, one row per request of ``rows``."""
    return pl.DataFrame(_request_columns(requests, rows, user_attrs))


def slot_frame(items: np.ndarray, positions: np.ndarray, item_category: np.ndarray) -> pl.DataFrame:
    """The per-slot features (``SLOT_FEATURES``) of ``items [n, S]`` at ``positions [S]``,
    row-major: one row per (request, slot)."""
    return pl.DataFrame(_slot_columns(items, positions, item_category))


def _request_columns(
    requests: DayRequests, rows: np.ndarray, user_attrs: np.ndarray
) -> dict[str, np.ndarray]:
    users = requests.user_id[rows]
    columns = {
        "user_id": users,
        "weekday": np.full(len(rows), requests.weekday, dtype=np.int16),
        "hour": requests.hour[rows].astype(np.int16),
    }
    for a, name in enumerate(user_attr_names(len(user_attrs))):
        columns[name] = user_attrs[a][users]
    return columns


def _slot_columns(
    items: np.ndarray, positions: np.ndarray, item_category: np.ndarray
) -> dict[str, np.ndarray]:
    return {
        "item_id": items.reshape(-1).astype(np.int32, copy=False),
        "item_category": item_category[items].reshape(-1),
        "position": np.tile(np.asarray(positions, dtype=np.int16), len(items)),
    }
