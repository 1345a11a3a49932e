"""What an estimator of the A/B lift is (``Estimator``) and what it gives (``Estimate``).

An estimator is one object: its key and label, its columns of daily.csv and how it fills them
(``fill``), how it reads its A/B lift, SE and truths back from the daily table (``source``,
``truths``), its ``estimate`` with the lineage component, and the cells it shows in the report's
Table 3 (``daily_cells``). The built-in ones and the registry are in
``abtest_sim.analysis.estimators``.

Each interval contains the noise of which users landed in which arm and of their clicks (the delta
method over users). It does not contain **model-lineage variance**: two arms with the same recipe
diverge because their models train on different users' logs, an arm-level random effect that no
per-user interval can see. ``stats.lineage_sd`` (measured by ``abtest-sim-aggregate`` on A/A
replicates) adds it as an independent component: se_total = sqrt(se^2 + lineage_sd^2).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import polars as pl
from scipy.special import ndtri

from abtest_sim.analysis.daily_columns import Columns, wald_names
from abtest_sim.analysis.unit_days import ArmLog, Design
from abtest_sim.stats.influence import Linearized
from abtest_sim.stats.lift_floor import KIND_NAMES, lift_interval
from abtest_sim.stats.ratio import LiftResult

__all__ = [
    "TRUTHS",
    "AbRows",
    "DailyCell",
    "Estimate",
    "Estimator",
    "PairData",
    "Slot",
    "SoFar",
    "linear_so_far",
    "running_means",
    "with_lineage",
]

TRUTHS = ("target", "launch")
# Where an estimator's block of columns sits in daily.csv: "lift" before the checks that read the
# day's lift, "contrast" after them, "end" after the shared-control block (the default: a new
# estimator's columns come last, so every earlier column keeps its place).
Slot = Literal["lift", "contrast", "end"]


@dataclass(frozen=True)
class Estimate:
    """One estimator's A/B lift: the delta interval, the interval with the lineage component (the
    same when none is configured), and its truths when simulated."""

    name: str
    lift: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    lineage_sd: float | None
    se_total: float
    total_ci_low: float
    total_ci_high: float
    total_p_value: float
    target: float | None = None  # the test's target for this estimator (simulations)
    launch: float | None = None  # the launch effect for this estimator (simulations)
    # How the reported interval (with the lineage component) was formed: "delta", or for a lift
    # whose delta interval reaches -100% "log-ratio" (or "clipped"; abtest_sim.stats.lift_floor)
    interval: str = "delta"
    label: str = ""  # the estimator's label in words (its key when not given)

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", self.name)

    def covers(self, truth: float | None) -> bool | None:
        """Whether the reported interval (with the lineage component when configured) contains
        ``truth``; None when the truth is unknown (a missing truth is not "not covered")."""
        if truth is None or not math.isfinite(truth):
            return None
        return bool(self.total_ci_low <= truth <= self.total_ci_high)

    def to_dict(self) -> dict[str, Any]:
        names = (
            "lift", "se", "ci_low", "ci_high", "p_value", "lineage_sd", "se_total",
            "total_ci_low", "total_ci_high", "total_p_value", "target", "launch", "interval",
        )  # fmt: skip
        out = {name: getattr(self, name) for name in names}
        out["covers_target"] = self.covers(self.target)
        out["covers_launch"] = self.covers(self.launch)
        return out


def with_lineage(
    name: str,
    lift: float,
    se: float,
    *,
    alpha: float,
    lineage_sd: float | None,
    target: float | None = None,
    launch: float | None = None,
    label: str = "",
    bounded: bool = True,
) -> Estimate:
    """An ``Estimate`` from its delta-method lift and SE, adding the lineage component if known.
    The intervals of a relative lift (``bounded``: every estimator but a difference of lifts) stay
    above -100% as daily.csv's do (``abtest_sim.stats.lift_floor``)."""
    z = float(ndtri(1 - alpha / 2))
    se_total = math.sqrt(se**2 + (lineage_sd or 0.0) ** 2)
    ci_low, ci_high, p_value, _ = _interval(lift, se, z, bounded)
    total_low, total_high, total_p, kind = _interval(lift, se_total, z, bounded)
    return Estimate(
        name=name,
        lift=lift,
        se=se,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p_value,
        lineage_sd=lineage_sd,
        se_total=se_total,
        total_ci_low=total_low,
        total_ci_high=total_high,
        total_p_value=total_p,
        target=_finite(target),
        launch=_finite(launch),
        interval=KIND_NAMES[kind],
        label=label,
    )


def _interval(lift: float, se: float, z: float, bounded: bool) -> tuple[float, float, float, int]:
    """Bounds, p-value and kind of the interval lift +- z se, kept above -100% if ``bounded``."""
    low, high, p, kind = lift_interval(lift, se, z, bounded=bounded)
    return float(low), float(high), float(p), int(kind)


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class SoFar:
    """An estimator's lift after each A/B day: ``lifts`` (a row per A/B day; the last row is its
    A/B lift), the A/B days on which it has no value yet (``undefined``), and its truths after
    each A/B day (``target_lift``, ``launch_lift``; None when not simulated)."""

    lifts: Linearized
    undefined: np.ndarray
    truths: Mapping[str, np.ndarray | None]


@dataclass(frozen=True)
class PairData:
    """What an estimator fills its daily.csv columns from: one compared pair's arm logs, the
    design, the daily lifts (undefined days zeroed, their influence kept), the lift of the CTR
    pooled over the A/B days so far (``pooled``) and its frame with bands and truths
    (``pooled_so_far``: ``abtest_sim.analysis.series.so_far_frame``)."""

    control: ArmLog
    treatment: ArmLog
    design: Design
    lifts: Linearized
    alpha: float
    pooled: SoFar
    pooled_so_far: pl.DataFrame
    cs_rho: float | None = None  # the tuning of the always-valid bands (None: the last day)


@dataclass(frozen=True)
class AbRows:
    """What an estimator reads its A/B lift back from: the treatment pair's A/B Average row of
    daily.csv, its A/A Average row (None without a pre-period), and the last row of the
    cumulative lift (every A/B day pooled)."""

    ab: Mapping[str, Any]
    aa: Mapping[str, Any] | None
    pooled: Mapping[str, Any]


def running_means(design: Design) -> tuple[np.ndarray, np.ndarray]:
    """(A/B days, days) weights whose row k is the mean over the A/B days up to the k-th with a
    defined lift (the last row: the A/B Average's weights), and the A/B days before any such day
    (no value yet)."""
    ab_rows = np.flatnonzero(design.mask("ab"))
    defined = ~design.undefined[ab_rows]
    counts = np.cumsum(defined)
    lower = np.tril(np.ones((ab_rows.size, ab_rows.size))) * defined[None, :]
    weights = np.zeros((ab_rows.size, design.n_days))
    weights[:, ab_rows] = lower / np.maximum(counts, 1)[:, None]
    return weights, counts == 0


def linear_so_far(
    weights: np.ndarray,
    undefined: np.ndarray,
    daily_lifts: Linearized,
    daily: pl.DataFrame | None,
    truth_columns: Mapping[str, str],
) -> SoFar:
    """The ``SoFar`` of an estimator linear in the daily lifts (a value per day, undefined days
    zeroed): ``weights`` (A/B days, days) applied to the lifts and to the daily truths of
    ``daily`` (the pair's day rows, columns ``truth_columns``: cumulative.csv name -> daily.csv
    column; None: no truths); a truth is unknown after a day whose weights touch a day without
    it."""
    truths: dict[str, np.ndarray | None] = {}
    for name, column in truth_columns.items():
        values = np.full(weights.shape[1], np.nan)
        if daily is not None:
            values = daily[column].cast(pl.Float64).fill_null(np.nan).to_numpy()
        if np.isnan(values).all():
            truths[name] = None
            continue
        missing = (weights != 0) @ np.isnan(values) > 0
        truths[name] = np.where(missing, np.nan, weights @ np.nan_to_num(values))
    return SoFar(daily_lifts.combine(weights), undefined, truths)


@dataclass(frozen=True)
class DailyCell:
    """A cell an estimator shows in each row of the report's Table 3: a ``header`` ("{level}"
    becomes the interval's level, e.g. 95%), a ``kind`` (interval: value, low, high; p: a
    p-value; percent: a lift; band: low, high) and the daily.csv ``columns`` it reads."""

    header: str
    kind: Literal["interval", "p", "percent", "band"]
    columns: tuple[str, ...]


class Estimator(ABC):
    """One estimator of the A/B lift (see the module docstring); subclasses set the class
    attributes and ``fill``, and override what differs from a lift read from the A/B Average
    row of ``<prefix>_*`` columns whose truths are the mean daily truths."""

    key: ClassVar[str]  # its name in summary.json, stats.headline and stats.lineage_sd
    label: ClassVar[str]  # in words, in the report
    short: ClassVar[str]  # its Table-3 column header and the warnings' name for its rows
    value_column: ClassVar[str]  # its lift's column in daily.csv
    prefix: ClassVar[str]  # of its se, ci_low, ci_high, p_value columns
    bounded: ClassVar[bool] = True  # a relative lift: intervals kept above -100%
    method: ClassVar[str] = "delta"  # summary.json's "method" of its LiftResult
    slot: ClassVar[Slot] = "end"
    leading_columns: ClassVar[tuple[str, ...]] = ()  # its columns before the Wald block
    always_defined: ClassVar[tuple[str, ...]] = ()  # kept on days whose lift is undefined
    # How the report's warnings name its daily rows whose interval left the delta method
    # ("CUPED day 3"); None: its daily rows are not checked
    row_label: ClassVar[str | None] = None

    @property
    def columns(self) -> tuple[str, ...]:
        """Every daily.csv column it fills, in order: by default the leading ones, then its
        lift, SE, bounds and p-value."""
        return (*self.leading_columns, *wald_names(self.prefix, self.value_column))

    @property
    def result_columns(self) -> tuple[str, ...]:
        """Its lift, SE, bounds and p-value in the row ``source`` gives."""
        return wald_names(self.prefix, self.value_column)

    @abstractmethod
    def fill(self, cols: Columns, pair: PairData) -> None:
        """Put every one of ``columns`` into ``cols`` (null where it has no value)."""

    def source(self, rows: AbRows) -> Mapping[str, Any] | None:
        """The row its A/B lift is read from."""
        return rows.ab

    def truths(self, rows: AbRows) -> dict[str, float | None]:
        """Its test target and launch effect: by default the mean of the daily truths."""
        return {truth: rows.ab[f"{truth}_lift"] for truth in TRUTHS}

    def lift_result(self, rows: AbRows, alpha: float) -> LiftResult | None:
        """Its A/B lift as read from the daily table (None when the log does not allow it)."""
        row = self.source(rows)
        if row is None:
            return None
        value, se, low, high, p = (row[name] for name in self.result_columns)
        if value is None:
            return None
        return LiftResult(value, low, high, p, se, method=self.method, alpha=alpha)

    def estimate(self, rows: AbRows, *, alpha: float, lineage_sd: float | None) -> Estimate | None:
        """Its ``Estimate`` with its truths and the lineage component (None when the log does
        not allow it)."""
        row = self.source(rows)
        if row is None:
            return None
        lift, se = row[self.result_columns[0]], row[self.result_columns[1]]
        if lift is None or se is None:
            return None
        truths = self.truths(rows)
        return with_lineage(
            self.key,
            float(lift),
            float(se),
            alpha=alpha,
            lineage_sd=lineage_sd,
            target=truths["target"],
            launch=truths["launch"],
            label=self.label,
            bounded=self.bounded,
        )

    def so_far(self, pair: PairData, daily: pl.DataFrame | None) -> SoFar | None:
        """Its lift after each A/B day, whose last value is its A/B lift: what the report's
        chart of the lift over the days, its always-valid band and cumulative.csv show when it is
        the headline. ``daily``: the pair's daily.csv rows of the days, for the truths (None:
        none). None: it has no such series (the report then draws no chart of it)."""
        return None

    def daily_cells(self) -> tuple[DailyCell, ...]:
        """Its cells in each row of Table 3: its interval and p-value."""
        value, _, low, high, p = wald_names(self.prefix, self.value_column)
        return (
            DailyCell(f"{self.short} [{{level}} CI]", "interval", (value, low, high)),
            DailyCell("p", "p", (p,)),
        )

    def shown(self, main: pl.DataFrame) -> bool:
        """Whether the report shows its cells: the treatment pair's rows hold a value of it."""
        column = main.get_column(self.value_column)
        return column.null_count() < column.len()
