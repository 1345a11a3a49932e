"""Metrics beyond the CTR, as configuration: what is summed per (unit, arm, day) into a numerator
and a denominator, so that every metric goes through the CTR's machinery (the delta method over
units with the cross-day covariance, A/B - A/A, CUPED with the unit's pre-period value of the same
metric, the always-valid band; ``abtest_sim.analysis.daily_table``).

- ``Metric.ratio(name, numerator, denominator)``: sum of one column over the sum of another, per
  arm (the CTR is clicks / impressions; revenue / sessions);
- ``Metric.mean(name, column)``: the column's sum per unit and day it is active, averaged over
  active units (revenue, clicks or impressions per active user-day);
- ``Metric.proportion(name, column)``: the share of active units with a positive value that day
  (converted at least once that day).

A lift is relative (treatment over control minus one), so a metric whose control mean is 0 on
every A/B day has no lift; a unit is active on a day it has a row of the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

__all__ = ["KINDS", "Metric", "MetricError"]

Kind = Literal["ratio", "mean", "proportion"]
KINDS: tuple[Kind, ...] = ("ratio", "mean", "proportion")


class MetricError(ValueError):
    """A metric that cannot be computed from the log; the message is one line for the user."""


@dataclass(frozen=True)
class Metric:
    """One metric: its ``name``, ``kind`` and the log columns it sums (see the module)."""

    name: str
    kind: Kind
    numerator: str
    denominator: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise MetricError(f"metric {self.name!r}: kind must be one of {', '.join(KINDS)}")
        if (self.kind == "ratio") != (self.denominator is not None):
            raise MetricError(
                f"metric {self.name!r}: a ratio metric has a denominator column, a "
                f"{self.kind} metric none"
            )

    @classmethod
    def ratio(cls, name: str, numerator: str, denominator: str) -> Metric:
        return cls(name, "ratio", numerator, denominator)

    @classmethod
    def mean(cls, name: str, column: str) -> Metric:
        return cls(name, "mean", column)

    @classmethod
    def proportion(cls, name: str, column: str) -> Metric:
        return cls(name, "proportion", column)

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.numerator,) if self.denominator is None else (self.numerator, self.denominator)

    def unit_days(self, log: pl.DataFrame, keys: tuple[str, ...]) -> pl.DataFrame:
        """One row per ``keys`` (unit, arm, day and the phase where there is one) with the
        metric's numerator as ``clicks`` and denominator as ``impressions``, the names the daily
        table reads (``daily_table(..., counts=False)``)."""
        self._check(log)
        value = pl.col(self.numerator).cast(pl.Float64)
        if self.kind == "ratio":
            assert self.denominator is not None
            parts = [value.sum(), pl.col(self.denominator).cast(pl.Float64).sum()]
        elif self.kind == "mean":
            parts = [value.sum(), pl.lit(1.0)]
        else:
            parts = [(value.sum() > 0).cast(pl.Float64), pl.lit(1.0)]
        sums = log.group_by(list(keys)).agg(parts[0].alias("clicks"), parts[1].alias("impressions"))
        return sums.sort(list(keys))

    def _check(self, log: pl.DataFrame) -> None:
        for column in self.columns:
            if column not in log.columns:
                have = ", ".join(log.columns)
                raise MetricError(f"metric {self.name!r}: no column {column!r} (have: {have})")
            values = log[column]
            if not values.dtype.is_numeric():
                raise MetricError(
                    f"metric {self.name!r}: column {column!r} must be numeric, got {values.dtype}"
                )
            bad = values.null_count() + int(values.cast(pl.Float64).is_nan().sum())
            bad += int(values.cast(pl.Float64).is_infinite().sum())
            if bad:
                raise MetricError(
                    f"metric {self.name!r}: column {column!r} has {bad} missing or infinite "
                    "value(s)"
                )
        if self.denominator is not None and (log[self.denominator] < 0).any():
            raise MetricError(
                f"metric {self.name!r}: column {self.denominator!r} has a negative value; a "
                "denominator counts something"
            )
