"""A real interaction log, read and checked once, in the shape every fit below uses.

One row per impression (a shown item): who saw it, which item, when, and whether it was clicked;
optionally its position in the slate and an item attribute (a category). Ids become dense
indices; time (epoch numbers, datetimes or ISO-8601 text, see ``times.py``) becomes a day index
(from the log's first day), a weekday and an hour (UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from abtest_sim.world.fit.times import TimeError, read_times

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
    time: str = "timestamp"  # epoch numbers (see time_unit), datetimes or ISO-8601 text
    time_unit: str = "auto"  # of numeric times: auto (from their magnitude), s, ms, us or ns
    click: str = "click"
    click_min: float = 1.0
    position: str | None = None  # slot of the impression (top 0, or 1), if logged
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
    times: dict[str, str] = field(default_factory=dict)  # how the time column was read
    position_base: int | None = None  # the log's number of the top slot (0 or 1), if logged

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
    nulls, NaN or infinite numbers, times that are not moments (see ``times.py``), non-numeric
    clicks, bad positions, or fewer than two users, items, clicks or non-clicks."""
    frame = source if isinstance(source, pl.DataFrame) else _read_file(source)
    roles = {"user": columns.user, "item": columns.item, "time": columns.time,
             "click": columns.click, "position": columns.position}  # fmt: skip
    wanted = [columns.user, columns.item, columns.time, columns.click]
    wanted += [c for c in (columns.position, columns.category) if c is not None]
    missing = [c for c in dict.fromkeys(wanted) if c not in frame.columns]
    if missing:
        raise LogError(f"the log has no column(s) {missing}; columns: {frame.columns}")
    frame = frame.select(list(dict.fromkeys(wanted)))
    if frame.height == 0:
        raise LogError("the log has no rows (one row per impression: user, item, time, click)")
    _check_values(frame, {role: name for role, name in roles.items() if name})
    try:
        times = read_times(frame.get_column(columns.time), columns.time, columns.time_unit)
    except TimeError as error:
        raise LogError(str(error)) from None
    order = np.argsort(times.seconds, kind="stable")
    frame, seconds = frame[order], times.seconds[order]
    click = _clicks(frame.get_column(columns.click), columns)
    first_day = seconds[0] // SECONDS_PER_DAY
    day = seconds // SECONDS_PER_DAY - first_day
    user = _dense(frame.get_column(columns.user))
    item = _dense(frame.get_column(columns.item))
    _check_size(user, item, click)
    position, base = _positions(frame, columns.position)
    return InteractionLog(
        user=user,
        item=item,
        day=day,
        weekday=(day + (first_day + 3) % 7) % 7,  # 1970-01-01 was a Thursday (weekday 3)
        hour=(seconds % SECONDS_PER_DAY) // 3600,
        click=click,
        position=position,
        item_category=_categories(frame, item, columns.category),
        start_weekday=int((first_day + 3) % 7),
        times=times.describe(columns.time),
        position_base=base,
    )


def _read_file(path: str | Path) -> pl.DataFrame:
    """Files are read only by the one guarded reader (CSV, TSV, parquet) of ``reloop.datasets``."""
    from reloop.datasets import read_table_file

    try:
        return read_table_file(path)
    except ValueError as error:
        raise LogError(str(error)) from None


def _check_values(frame: pl.DataFrame, roles: dict[str, str]) -> None:
    """No nulls in the columns the fit uses, and no NaN or infinite numbers."""
    for role, name in roles.items():
        column = frame.get_column(name)
        problems = {"null": column.null_count()}
        if column.dtype.is_float():
            problems["NaN"] = int(column.is_nan().sum())
            problems["infinite"] = int(column.is_infinite().sum())
        for kind, count in problems.items():
            if count:
                raise LogError(
                    f"{role} column {name!r} holds {count} {kind} value(s) of {frame.height}"
                )


def _check_size(user: np.ndarray, item: np.ndarray, click: np.ndarray) -> None:
    clicks = int(click.sum())
    counts = {
        "user(s)": int(user.max()) + 1,
        "item(s)": int(item.max()) + 1,
        "click(s)": clicks,
        "non-click(s)": click.size - clicks,
    }
    if min(counts.values()) < 2:
        have = ", ".join(f"{n} {what}" for what, n in counts.items())
        raise LogError(f"the log has {have}; the click model needs at least two of each")


def _clicks(column: pl.Series, columns: LogColumns) -> np.ndarray:
    if column.dtype == pl.Boolean:
        return column.cast(pl.Int8).to_numpy()
    if not column.dtype.is_numeric():
        raise LogError(
            f"click column {columns.click!r} must hold 0/1 or numbers (click_min), got "
            f"{column.dtype}; the first value is {column[0]!r}"
        )
    return (column.cast(pl.Float64).to_numpy() >= columns.click_min).astype(np.int8)


def _dense(column: pl.Series) -> np.ndarray:
    """Dense 0..n-1 indices in the order of the sorted distinct ids."""
    return column.rank("dense").cast(pl.Int64).to_numpy() - 1


def _positions(frame: pl.DataFrame, name: str | None) -> tuple[np.ndarray | None, int | None]:
    """0-based slots and the number the log's top slot has: 0, or 1 (the Open Bandit Dataset's
    numbering, where slot 0 never occurs), shifted to 0."""
    if name is None:
        return None, None
    column = frame.get_column(name)
    if not column.dtype.is_integer():
        raise LogError(
            f"position column {name!r} must hold integer slots (0 or 1 for the top), got "
            f"{column.dtype}"
        )
    top = int(column.to_numpy().min())
    if top < 0:
        negative = int((column < 0).sum())
        raise LogError(f"position column {name!r} holds {negative} negative value(s) (min {top})")
    if top > 1:
        raise LogError(
            f"position column {name!r} starts at {top}: the top slot must be numbered 0 or 1 "
            "(the position curve is relative to it)"
        )
    return column.cast(pl.Int64).to_numpy() - top, top


def _categories(frame: pl.DataFrame, item: np.ndarray, name: str | None) -> np.ndarray | None:
    """The category index of every item: its attribute's first word (lists of genres, say)."""
    if name is None:
        return None
    text = frame.get_column(name).cast(pl.Utf8).fill_null("").str.split(" ").list.first()
    first_row = np.unique(item, return_index=True)[1]
    return _dense(text[first_row].fill_null(""))
