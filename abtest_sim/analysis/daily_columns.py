"""The columns of daily.csv (**contract**) that are not an estimator's, and the builder that fills
them: one row per day of a compared pair, then one "Average" row per phase present; null where a
value does not exist.

An estimator's own columns (its lift, SE, interval and p-value) are declared by the estimator
(``abtest_sim.analysis.estimators``), which also puts every column group in daily.csv's order.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from abtest_sim.analysis.unit_days import Design
from abtest_sim.stats.influence import Linearized
from abtest_sim.stats.lift_floor import floor_interval, floor_p_value
from abtest_sim.stats.ratio import z_critical

__all__ = [
    "ALWAYS_DEFINED",
    "AVERAGE",
    "BASE_COLUMNS",
    "CHECK_COLUMNS",
    "LIFT_COLUMNS",
    "SHARED_CONTROL_COLUMNS",
    "Columns",
    "frame",
    "wald_names",
]


AVERAGE = "Average"
LIFT_COLUMNS = ("lift", "se", "ci_low", "ci_high", "p_value")


def wald_names(prefix: str, value: str) -> tuple[str, ...]:
    """An estimate's value column and its ``<prefix>_se``, ``_ci_low``, ``_ci_high``,
    ``_p_value`` columns (without a prefix: ``se``, ``ci_low``, ...)."""
    return (value, *(f"{prefix}_{s}" if prefix else s for s in LIFT_COLUMNS[1:]))


# Who was compared, the counts and CTRs, and the simulator's truths per day.
BASE_COLUMNS: tuple[str, ...] = (
    "day", "phase", "control", "treatment",
    "users_control", "users_treatment", "impressions_control", "impressions_treatment",
    "clicks_control", "clicks_treatment", "ctr_control", "ctr_treatment",
    "target_ctr_control", "target_ctr_treatment", "target_lift",
    "launch_ctr_control", "launch_ctr_treatment", "launch_lift", "test_to_launch_bias",
)  # fmt: skip
# The checks of the day's lift: coverage of the truths, adjusted p-values, the naive test, the
# other intervals and the SRM test.
CHECK_COLUMNS: tuple[str, ...] = (
    "covers_target", "covers_launch",
    "p_value_holm", "p_value_bh",
    "naive_p_value", "design_effect",
    "log_ci_low", "log_ci_high", "log_p_value", "fieller_ci_low", "fieller_ci_high",
    "fieller_p_value",
    "srm_p_value",
)  # fmt: skip
# A/B minus the concurrent A/A that shares the control (a second control arm, when given).
SHARED_CONTROL_COLUMNS: tuple[str, ...] = (
    "aa_control", "concurrent_aa_lift", *wald_names("shared_control", "shared_control_lift"),
)  # fmt: skip
_STRING_COLUMNS = {"day", "phase", "control", "treatment", "aa_control"}
# What a day row shows whatever its lift: counts, CTRs and the simulator's truths (and what an
# estimator declares so). Every other column of a day whose lift is undefined is null.
ALWAYS_DEFINED: frozenset[str] = frozenset({*BASE_COLUMNS, "aa_control"})
_COUNT_COLUMNS = {"users_control", "users_treatment"}


@dataclass
class Columns:
    """daily.csv columns of one compared pair: day rows, then one Average row per phase."""

    design: Design
    values: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return self.design.n_days + len(self.design.average_phases)

    def put(self, name: str, day_values: Any, average_values: Any = None) -> None:
        """A column from its day rows and (optionally) its Average rows; missing = null."""
        n_avg = len(self.design.average_phases)
        avg = np.full(n_avg, np.nan) if average_values is None else np.asarray(average_values)
        self.values[name] = np.concatenate([np.asarray(day_values, dtype=avg.dtype), avg])

    def empty(self, *names: str) -> None:
        for name in names:
            self.values[name] = np.full(self.n_rows, np.nan)

    def put_wald(
        self,
        lin: Linearized,
        alpha: float,
        rows: np.ndarray,
        names: Sequence[str],
        *,
        floor: bool = False,
    ) -> None:
        """Estimate, se, bounds and p of ``lin`` into ``rows`` of ``names``; other rows null.
        ``floor``: ``lin`` holds relative lifts, whose intervals stay above -100%
        (``abtest_sim.stats.lift_floor``: the log-ratio interval where the delta one breaks)."""
        wald = lin.wald(alpha)
        low, high, p = wald.ci_low, wald.ci_high, wald.p_value
        if floor:
            half = z_critical(alpha) * wald.se  # as Linearized.wald's
            low, high, kind = floor_interval(wald.estimate, half, low, high)
            p = floor_p_value(wald.estimate, wald.se, p, kind)
        parts = (wald.estimate, wald.se, low, high, p)
        for name, vals in zip(names, parts, strict=True):
            self.values[name] = np.full(self.n_rows, np.nan)
            self.values[name][rows] = vals

    def with_averages(self, lin: Linearized) -> Linearized:
        """Daily estimates followed by their per-phase averages over the days with a defined
        lift (covariance kept); undefined days must have been zeroed (``Linearized.without``)."""
        weights = np.vstack([np.eye(self.design.n_days), self.design.average_weights()])
        return lin.combine(weights)

    def blank_undefined_days(self, keep: Collection[str] = ()) -> None:
        """Null every estimate on the days whose lift is undefined, but the ``ALWAYS_DEFINED``
        columns and those in ``keep``."""
        rows = np.flatnonzero(self.design.undefined)
        if rows.size == 0:
            return
        for name, column in self.values.items():
            if name not in ALWAYS_DEFINED and name not in keep:
                column[rows] = np.nan

    @property
    def ab_average_row(self) -> int:
        return self.n_rows - 1  # "ab" is the last phase and always present


def frame(values: Mapping[str, np.ndarray], names: Sequence[str]) -> pl.DataFrame:
    """The columns ``names`` of ``values`` in that order, each with daily.csv's type."""
    series = []
    for name in names:
        column = values[name]
        if name in _STRING_COLUMNS:
            series.append(pl.Series(name, column.tolist(), dtype=pl.String))
        elif name in _COUNT_COLUMNS:
            series.append(pl.Series(name, column, dtype=pl.Int64))
        elif name.startswith("covers_"):
            series.append(pl.Series(name, column, nan_to_null=True).cast(pl.Boolean))
        else:
            series.append(_number_series(name, column))
    return pl.DataFrame(series)


def _number_series(name: str, column: np.ndarray) -> pl.Series:
    values = np.asarray(column, dtype=np.float64)
    series = pl.Series(name, values, nan_to_null=True)
    whole = np.array_equal(values, np.round(values), equal_nan=True)
    if name.startswith(("clicks_", "impressions_")) and whole:
        return series.cast(pl.Int64)  # integer counts print as integers
    return series
