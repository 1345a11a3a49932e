"""The columns of daily.csv (**contract**) and the builder that fills them: one row per day of a
compared pair, then one "Average" row per phase present; null where a value does not exist."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from abtest_sim.analysis.unit_days import Design
from abtest_sim.stats.influence import Linearized
from abtest_sim.stats.lift_floor import floor_interval, floor_p_value
from abtest_sim.stats.ratio import z_critical

__all__ = [
    "AVERAGE",
    "CUMULATIVE_COLUMNS",
    "DAILY_COLUMNS",
    "LIFT_COLUMNS",
    "Columns",
    "frame",
    "wald_names",
]


AVERAGE = "Average"
DAILY_COLUMNS: tuple[str, ...] = (
    "day", "phase", "control", "treatment",
    "users_control", "users_treatment", "impressions_control", "impressions_treatment",
    "clicks_control", "clicks_treatment", "ctr_control", "ctr_treatment",
    "target_ctr_control", "target_ctr_treatment", "target_lift",
    "launch_ctr_control", "launch_ctr_treatment", "launch_lift", "test_to_launch_bias",
    "lift", "se", "ci_low", "ci_high", "p_value", "covers_target", "covers_launch",
    "p_value_holm", "p_value_bh",
    "naive_p_value", "design_effect",
    "log_ci_low", "log_ci_high", "log_p_value", "fieller_ci_low", "fieller_ci_high",
    "fieller_p_value",
    "srm_p_value",
    "aa_lift", "ab_minus_aa", "ab_minus_aa_se", "ab_minus_aa_ci_low", "ab_minus_aa_ci_high",
    "ab_minus_aa_p_value",
    "cuped_lift", "cuped_se", "cuped_ci_low", "cuped_ci_high", "cuped_p_value",
    "aa_control", "concurrent_aa_lift", "shared_control_lift", "shared_control_se",
    "shared_control_ci_low", "shared_control_ci_high", "shared_control_p_value",
    "cumulative_lift", "cumulative_ci_low", "cumulative_ci_high", "cs_low", "cs_high",
)  # fmt: skip
# The lift of the CTR pooled over the A/B days up to each A/B day (cumulative.csv's), with its
# fixed-horizon interval and its always-valid confidence sequence (abtest_sim.stats.sequential):
# defined or not whatever the day's own lift, null on A/A days and Average rows.
CUMULATIVE_COLUMNS = ("cumulative_lift", "cumulative_ci_low", "cumulative_ci_high", "cs_low",
                      "cs_high")  # fmt: skip
_STRING_COLUMNS = {"day", "phase", "control", "treatment", "aa_control"}
# What a day row shows whatever its lift: counts, CTRs and the simulator's truths. Every other
# column of a day whose lift is undefined is null.
_ALWAYS_DEFINED = {
    *_STRING_COLUMNS, "users_control", "users_treatment", "impressions_control",
    "impressions_treatment", "clicks_control", "clicks_treatment", "ctr_control", "ctr_treatment",
    "target_ctr_control", "target_ctr_treatment", "target_lift", "launch_ctr_control",
    "launch_ctr_treatment", "launch_lift", "test_to_launch_bias", "aa_lift", *CUMULATIVE_COLUMNS,
}  # fmt: skip
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

    def blank_undefined_days(self) -> None:
        """Null every estimate on the days whose lift is undefined."""
        rows = np.flatnonzero(self.design.undefined)
        if rows.size == 0:
            return
        for name, column in self.values.items():
            if name not in _ALWAYS_DEFINED:
                column[rows] = np.nan

    @property
    def ab_average_row(self) -> int:
        return self.n_rows - 1  # "ab" is the last phase and always present


LIFT_COLUMNS = ("lift", "se", "ci_low", "ci_high", "p_value")


def wald_names(prefix: str, value: str) -> tuple[str, ...]:
    return (value, *(f"{prefix}_{s}" for s in LIFT_COLUMNS[1:]))


def frame(values: Mapping[str, np.ndarray]) -> pl.DataFrame:
    series = []
    for name in DAILY_COLUMNS:
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
