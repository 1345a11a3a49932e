"""A log's time column as seconds since the epoch (UTC), with the unit it was read in said.

Numbers are epoch times in seconds, milliseconds, microseconds or nanoseconds: ``time_unit=auto``
takes the one unit in which every value falls between ``EPOCH_RANGE`` (1980 to 2100; the units'
ranges do not overlap, so at most one fits) and refuses numbers that fit none, such as times
counted from the start of an experiment: ``time_unit=s`` (or ms, us, ns) reads those from their
own origin, counted as if from 1970-01-01 (so their weekdays are arbitrary). An explicit unit is
refused when another unit, not it, gives epoch dates, and any reading spanning more than
``MAX_SPAN_YEARS``. Datetime and date columns are read as they are (zoned ones in UTC), and text
as ISO-8601 date-times ("2024-09-30T12:00:00", "2024-09-30 12:00", with or without "Z" or an
offset such as "+02:00": converted to UTC; a date alone is its midnight).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import polars as pl

__all__ = ["TIME_UNITS", "TimeError", "Times", "read_times"]

TIME_UNITS = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}  # per second
UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
EPOCH_RANGE = (315_532_800, 4_102_444_800)  # 1980-01-01 and 2100-01-01 UTC, in seconds
MAX_SPAN_YEARS = 50
SECONDS_PER_YEAR = 365.25 * 86_400
NOT_EPOCH = "; not epoch times: counted from 1970-01-01, so weekdays and hours are arbitrary"
_ZONED = "%Y-%m-%d %H:%M:%S%.f%:z"
_NAIVE = "%Y-%m-%d %H:%M:%S%.f"


class TimeError(ValueError):
    """A time column that cannot be read as moments in time."""


@dataclass(frozen=True)
class Times:
    seconds: np.ndarray  # int64 seconds since 1970-01-01 UTC (or since the values' own origin)
    unit: str  # s, ms, us, ns, datetime or iso-8601 text
    how: str  # how the unit was decided

    def describe(self, column: str) -> dict[str, str]:
        """What fit.json says about the time column."""
        first, last = (_iso(int(s)) for s in (self.seconds.min(), self.seconds.max()))
        return {"column": column, "unit": self.unit, "how": self.how, "first": first, "last": last}


def read_times(column: pl.Series, name: str, unit: str) -> Times:
    """The column's times in seconds (``TimeError`` naming the column on anything else)."""
    if unit != "auto" and unit not in TIME_UNITS:
        raise TimeError(f"time_unit must be auto, s, ms, us or ns, got {unit!r}")
    if column.dtype.is_numeric():
        times = _numeric(column, name, unit)
    elif unit != "auto":
        raise TimeError(
            f"time_unit={unit} is for numeric times, but time column {name!r} holds "
            f"{column.dtype}: leave time_unit=auto"
        )
    elif column.dtype in (pl.Date, pl.Datetime):
        times = Times(_epoch_seconds(column), "datetime", "a datetime column (UTC)")
    elif column.dtype == pl.String:
        times = Times(_epoch_seconds(_parse_iso(column, name)), "iso-8601 text", "parsed, in UTC")
    else:
        raise TimeError(
            f"time column {name!r} must hold epoch numbers, datetimes or ISO-8601 text, "
            f"got {column.dtype}"
        )
    span = float(times.seconds.max() - times.seconds.min()) / SECONDS_PER_YEAR
    if span > MAX_SPAN_YEARS:
        read = f"read as {UNIT_NAMES[times.unit]}" if times.unit in TIME_UNITS else "its times"
        raise TimeError(
            f"time column {name!r} {read} spans {span:,.0f} years (more than {MAX_SPAN_YEARS}): "
            "a wrong time_unit, or wrong values?"
        )
    return times


def _numeric(column: pl.Series, name: str, unit: str) -> Times:
    values = column.to_numpy()
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        bad = int(np.count_nonzero(~np.isfinite(values)))
        raise TimeError(f"time column {name!r} holds {bad} NaN or infinite value(s)")
    low, high = float(values.min()), float(values.max())
    epoch_units = [u for u, per in TIME_UNITS.items() if _is_epoch(low / per, high / per)]
    if unit == "auto":
        if not epoch_units:
            raise TimeError(
                f"time column {name!r} holds numbers from {low:g} to {high:g}, which are epoch "
                "times (1980 to 2100) in none of s, ms, us, ns: set time_unit=s (or ms, us, ns) "
                "to read them as times from their own origin"
            )
        unit, how = epoch_units[0], "inferred from the values' magnitude: time_unit=auto"
    elif epoch_units and unit not in epoch_units:
        other = epoch_units[0]
        raise TimeError(
            f"time_unit={unit} reads time column {name!r} as {_iso(int(low / TIME_UNITS[unit]))}"
            f" to {_iso(int(high / TIME_UNITS[unit]))}, while as {UNIT_NAMES[other]} its values "
            f"are dates from {_iso(int(low / TIME_UNITS[other]))}: set time_unit={other} or auto"
        )
    else:
        how = "set by time_unit" + ("" if epoch_units else NOT_EPOCH)
    per = TIME_UNITS[unit]
    if values.dtype.kind in "iu":
        seconds = values.astype(np.int64) // per
    else:
        seconds = np.floor(values / per).astype(np.int64)
    return Times(seconds, unit, how)


def _is_epoch(low: float, high: float) -> bool:
    return EPOCH_RANGE[0] <= low and high <= EPOCH_RANGE[1]


def _epoch_seconds(column: pl.Series) -> np.ndarray:
    """Seconds since the epoch of a date or datetime column (a zoned one's UTC instant)."""
    return column.dt.epoch("ms").to_numpy() // 1000


def _parse_iso(column: pl.Series, name: str) -> pl.Series:
    """ISO-8601 text as naive UTC datetimes; ``TimeError`` naming the first value that is not."""
    text = (
        column.str.strip_chars()
        .str.replace(r"^(\d{4}-\d{2}-\d{2})$", "${1} 00:00:00")
        .str.replace(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2})([^:\d]|$)", "${1} ${2}:00${3}")
        .str.replace(r"^(\d{4}-\d{2}-\d{2})[Tt]", "${1} ")
        .str.replace(r"[Zz]$", "+00:00")
        .str.replace(r"([+-]\d{2}):?(\d{2})$", "${1}:${2}")
        .str.replace(r"( \d{2}:\d{2}:\d{2}(?:\.\d+)?[+-]\d{2})$", "${1}:00")
    )
    zoned = text.str.to_datetime(_ZONED, strict=False, time_unit="ms", time_zone="UTC")
    naive = text.str.to_datetime(_NAIVE, strict=False, time_unit="ms")
    parsed = pl.select(pl.coalesce(zoned.dt.replace_time_zone(None), naive)).to_series()
    bad = parsed.is_null().arg_true()
    if bad.len():
        first = int(bad[0])
        raise TimeError(
            f"time column {name!r} holds text that is not an ISO-8601 date-time in {bad.len()} "
            f"row(s), the first {column[first]!r} (row {first + 1}); e.g. 2024-09-30T12:00:00Z"
        )
    return parsed


def _iso(seconds: int) -> str:
    """The moment as ISO-8601 UTC text, or a count of seconds outside the calendar's years."""
    try:
        return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"{seconds:.4g} s after 1970"
