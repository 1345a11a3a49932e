"""The days of a real log: read so that they sort in time order, and the first ones marked as the
A/A pre-period."""

from __future__ import annotations

import polars as pl

__all__ = ["LogDaysError", "ordered_days", "with_aa_days"]


class LogDaysError(ValueError):
    """Days that cannot be ordered or split; the message is one line for the user."""


def ordered_days(day: pl.Series, column: str, day_format: str | None) -> pl.Series:
    """Days that sort in time order: numbers and dates as they are, text parsed as ISO dates or
    with ``day_format=``; other text is refused (sorted as text, 10/1 would come before 9/30)."""
    if day.dtype != pl.String:
        if day_format is not None:
            raise LogDaysError(f"day_format= is for text days; column {column} is {day.dtype}")
        return day
    form = day_format or "%Y-%m-%d"
    parsed = day.str.strptime(pl.Date, form, strict=False)
    bad = day.filter(parsed.is_null())
    if bad.len() and day_format is not None:
        raise LogDaysError(
            f"{bad.len()} day value(s) do not match day_format={form} (first: {bad[0]!r})"
        )
    if bad.len() and _timestamps(bad):
        raise LogDaysError(
            f"column {column} holds timestamps such as {bad[0]!r}, not days: give dates "
            "(2024-09-30), or day_format= to read the date part, e.g. day_format='%Y-%m-%d "
            "%H:%M:%S'"
        )
    if bad.len():
        raise LogDaysError(
            f"column {column} holds text days such as {bad[0]!r}, which do not sort in time "
            "order; write days as numbers or ISO dates (2024-09-30), or give their format, "
            "e.g. day_format=%m/%d/%Y"
        )
    return parsed


def _timestamps(values: pl.Series) -> bool:
    """Whether every value reads as a date and a time (polars infers the format)."""
    try:
        return bool(values.str.to_datetime(strict=False).is_not_null().all())
    except pl.exceptions.PolarsError:  # no format fits
        return False


def with_aa_days(table: pl.DataFrame, aa_days: int) -> pl.DataFrame:
    days = table.select("day").unique().sort("day")["day"]
    if not 1 <= aa_days < days.len():
        raise LogDaysError(
            f"aa_days= must lie between 1 and {days.len() - 1} (the log has {days.len()} days)"
        )
    first = days.head(aa_days).implode()
    phase = pl.when(pl.col("day").is_in(first)).then(pl.lit("aa")).otherwise(pl.lit("ab"))
    return table.with_columns(phase.alias("phase"))
