"""A real interaction log, read and checked once, in the shape every fit below uses.

One row per impression (a shown item): who saw it, which item, when, and whether it was clicked;
optionally its position in the slate and an item attribute (a category). Ids become dense
indices; time becomes a day index (from the log's first day), a weekday and an hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

__all__ = ["InteractionLog", "LogColumns", "LogError", "read_log"]

SECONDS_PER_DAY = 86_400


class LogError(ValueError):
    """A log the fit cannot use; the message names the column or the file."""


@dataclass(frozen=True)
class LogColumns:
    """Column names of the log. ``click`` holds 0/1, or any number that counts as a click from
    ``click_min`` on (a rating of 4 or more: ``click_min=4``)."""

    user: str = "user_id"
    item: str = "item_id"
    time: str = "timestamp"  # seconds since the epoch, or a datetime column
    click: str = "click"
    click_min: float = 1.0
    position: str | None = None  # 0-based slot of the impression, if logged
    category: str | None = None  # an item attribute (its first token when a list of words)


@dataclass(frozen=True)
class InteractionLog:
    """The log as dense arrays (one entry per impression, sorted by time)."""

    user: np.ndarray  # int64 dense user index
    item: np.ndarray  # int64 dense item index
    day: np.ndarray  # int64, days since the log's first day
    weekday: np.ndarray  # int64, 0 = Monday
    hour: np.ndarray  # int64, 0..23 (UTC)
    click: np.ndarray  # int8
    position: np.ndarray | None  # int64 or None
    item_category: np.ndarray | None  # int64 [n_items] category index of each item, or None
    start_weekday: int  # weekday of day 0

    @property
    def n_users(self) -> int:
        return int(self.user.max()) + 1

    @property
    def n_items(self) -> int:
        return int(self.item.max()) + 1

    @property
    def n_days(self) -> int:
        return int(self.day.max()) + 1

    def __len__(self) -> int:
        return self.user.size


def read_log(source: str | Path | pl.DataFrame, columns: LogColumns) -> InteractionLog:
    """The log of a CSV/TSV/parquet file (or a frame), checked: ``LogError`` on missing columns,
    nulls, non-numeric clicks or times, or fewer than two users, items or clicks."""
    frame = source if isinstance(source, pl.DataFrame) else _read_file(source)
    wanted = [columns.user, columns.item, columns.time, columns.click]
    wanted += [c for c in (columns.position, columns.category) if c is not None]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise LogError(f"the log has no column(s) {missing}; columns: {frame.columns}")
    frame = frame.select(wanted)
    nulls = [c for c in wanted[:4] if frame.get_column(c).null_count()]
    if nulls:
        raise LogError(f"column(s) {nulls} hold null values")
    seconds = _seconds(frame.get_column(columns.time), columns.time)
    order = np.argsort(seconds, kind="stable")
    frame, seconds = frame[order], seconds[order]
    click = _clicks(frame.get_column(columns.click), columns)
    first_day = seconds[0] // SECONDS_PER_DAY
    day = seconds // SECONDS_PER_DAY - first_day
    user = _dense(frame.get_column(columns.user))
    item = _dense(frame.get_column(columns.item))
    if user.max() < 1 or item.max() < 1 or click.sum() < 2:
        raise LogError("the log needs at least two users, two items and two clicks")
    return InteractionLog(
        user=user,
        item=item,
        day=day,
        weekday=(day + (first_day + 3) % 7) % 7,  # 1970-01-01 was a Thursday (weekday 3)
        hour=(seconds % SECONDS_PER_DAY) // 3600,
        click=click,
        position=_positions(frame, columns.position),
        item_category=_categories(frame, item, columns.category),
        start_weekday=int((first_day + 3) % 7),
    )


def _read_file(path: str | Path) -> pl.DataFrame:
    from reloop.datasets import read_table_file

    try:
        return read_table_file(path)
    except ValueError as error:
        raise LogError(str(error)) from None


def _seconds(column: pl.Series, name: str) -> np.ndarray:
    if column.dtype.is_temporal():
        return column.cast(pl.Datetime("ms")).cast(pl.Int64).to_numpy() // 1000
    if not column.dtype.is_numeric():
        raise LogError(f"time column {name!r} must hold seconds or datetimes, got {column.dtype}")
    values = column.cast(pl.Float64).to_numpy()
    if not np.isfinite(values).all():
        raise LogError(f"time column {name!r} holds non-finite values")
    return np.floor(values).astype(np.int64)


def _clicks(column: pl.Series, columns: LogColumns) -> np.ndarray:
    if column.dtype == pl.Boolean:
        return column.cast(pl.Int8).to_numpy()
    if not column.dtype.is_numeric():
        raise LogError(f"click column {columns.click!r} must be numeric, got {column.dtype}")
    return (column.cast(pl.Float64).to_numpy() >= columns.click_min).astype(np.int8)


def _dense(column: pl.Series) -> np.ndarray:
    """Dense 0..n-1 indices in the order of the sorted distinct ids."""
    return column.rank("dense").cast(pl.Int64).to_numpy() - 1


def _positions(frame: pl.DataFrame, name: str | None) -> np.ndarray | None:
    if name is None:
        return None
    column = frame.get_column(name)
    if column.null_count() or not column.dtype.is_integer() or column.min() < 0:
        raise LogError(f"position column {name!r} must hold integers >= 0 without nulls")
    return column.cast(pl.Int64).to_numpy()


def _categories(frame: pl.DataFrame, item: np.ndarray, name: str | None) -> np.ndarray | None:
    """The category index of every item: its attribute's first word (lists of genres, say)."""
    if name is None:
        return None
    text = frame.get_column(name).cast(pl.Utf8).fill_null("").str.split(" ").list.first()
    first_row = np.unique(item, return_index=True)[1]
    return _dense(text[first_row].fill_null(""))
