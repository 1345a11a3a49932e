"""The estimators of the treatment's lift over the A/B days, in one registry.

- ``pooled``: the lift of the CTR pooled over the A/B days (ratio of summed clicks to summed
  impressions per arm); consistent whatever the daily click counts;
- ``mean_daily``: the mean of the daily lifts (the paper's Table 3 "Average"); with few clicks a
  day, a mean of daily ratios is biased;
- ``ab_minus_aa``: the mean daily lift minus the mean daily lift of the A/A pre-period on the same
  users (removes what the buckets differed by before the treatment);
- ``cuped``: the mean daily lift with each user's pre-period CTR as covariate.

For simulations every estimator is set beside two truths: the **test target** (what the arms'
lineages served their own users, in true CTR: what the estimator converges to) and the **launch
effect** (every user on a lineage of the recipe trained on every user: what shipping does).

The daily table, the summary, the report and the sweep read this registry (``estimators()``), so
**adding an estimator touches this file only**: a subclass of ``Estimator``
(``abtest_sim.analysis.estimator_base``: key, label, daily.csv columns, ``fill``, and what differs
from the defaults) and its instance in ``BUILTIN``. Its columns come after every existing column
of daily.csv (``slot = "end"``), so the contract's earlier columns keep their places. Tests and
plug-ins may ``register`` one at run time (``registered`` for a block of code).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import polars as pl

from abtest_sim.analysis.daily_columns import (
    BASE_COLUMNS,
    CHECK_COLUMNS,
    LIFT_COLUMNS,
    SHARED_CONTROL_COLUMNS,
    Columns,
)
from abtest_sim.analysis.estimator_base import (
    TRUTHS,
    AbRows,
    DailyCell,
    Estimator,
    PairData,
    SoFar,
    linear_so_far,
    running_means,
)
from abtest_sim.analysis.series import SO_FAR_TRUTHS
from abtest_sim.analysis.unit_days import ArmLog
from abtest_sim.stats.cuped import CupedArms, cuped_panels
from abtest_sim.stats.influence import ratio_panel

__all__ = [
    "BUILTIN",
    "DAILY_COLUMNS",
    "daily_column_names",
    "estimator",
    "estimator_keys",
    "estimators",
    "in_daily_order",
    "kept_on_undefined_days",
    "register",
    "registered",
]


def _ab_rows(cols: Columns, ab: np.ndarray) -> np.ndarray:
    """Row indices of the A/B days in ``ab`` followed by the A/B Average row."""
    return np.append(np.flatnonzero(ab), cols.ab_average_row)


def _difference(ab: float | None, aa: float | None) -> float | None:
    return None if ab is None or aa is None else ab - aa


# cumulative.csv's truths from the daily truths of the same name (a mean of daily lifts' truths)
DAILY_TRUTHS = {name: name for name in SO_FAR_TRUTHS}


class Pooled(Estimator):
    """The lift of the CTR pooled over the A/B days: the cumulative lift's last day. Its daily.csv
    columns are the cumulative lift so far on each A/B day, with the always-valid band."""

    key = "pooled"
    label = "lift of the CTR pooled over the A/B days"
    short = "Pooled so far"
    value_column = "cumulative_lift"
    prefix = "cumulative"
    slot = "end"
    always_defined = ("cumulative_lift", "cumulative_ci_low", "cumulative_ci_high", "cs_low",
                      "cs_high")  # fmt: skip

    @property
    def columns(self) -> tuple[str, ...]:
        return self.always_defined

    @property
    def result_columns(self) -> tuple[str, ...]:
        return LIFT_COLUMNS  # of the cumulative lift's last row

    def fill(self, cols: Columns, pair: PairData) -> None:
        rows = np.flatnonzero(pair.design.mask("ab"))
        sources = ("lift", "ci_low", "ci_high", "cs_low", "cs_high")
        for name, source in zip(self.columns, sources, strict=True):
            cols.empty(name)
            cols.values[name][rows] = pair.pooled_so_far[source].to_numpy().astype(np.float64)

    def source(self, rows: AbRows) -> Mapping[str, Any] | None:
        return rows.pooled

    def so_far(self, pair: PairData, daily: pl.DataFrame | None) -> SoFar:
        """The CTR pooled over the A/B days so far, the truths pooled likewise."""
        return pair.pooled

    def truths(self, rows: AbRows) -> dict[str, float | None]:
        """The truths pooled over the A/B days, as the lift is."""
        out: dict[str, float | None] = {}
        for truth in TRUTHS:
            control, treatment = (
                rows.ab[f"{truth}_ctr_{role}"] for role in ("control", "treatment")
            )
            out[truth] = None if control is None or treatment is None else treatment / control - 1.0
        return out

    def daily_cells(self) -> tuple[DailyCell, ...]:
        return (
            DailyCell(f"{self.short} [{{level}} CI]", "interval", self.columns[:3]),
            DailyCell("Always-valid band", "band", self.columns[3:]),
        )


class MeanDaily(Estimator):
    """The mean of the daily lifts: the Average row of the day's lift, whose columns (``lift``,
    ``se``, ...) every check of daily.csv reads."""

    key = "mean_daily"
    label = "mean of the daily lifts"
    short = "Lift"
    value_column = "lift"
    prefix = ""
    slot = "lift"
    row_label = ""

    def fill(self, cols: Columns, pair: PairData) -> None:
        every_row = np.arange(cols.n_rows)
        lifts = cols.with_averages(pair.lifts)
        cols.put_wald(lifts, pair.alpha, every_row, self.columns, floor=True)

    def so_far(self, pair: PairData, daily: pl.DataFrame | None) -> SoFar:
        """The mean of the daily lifts of the A/B days so far."""
        weights, undefined = running_means(pair.design)
        return linear_so_far(weights, undefined, pair.lifts, daily, DAILY_TRUTHS)


class AbMinusAa(Estimator):
    """Each A/B day's lift, and the A/B Average, minus the mean A/A lift of the same users: one
    linear contrast of the daily lifts, so the covariance of the two periods is in its variance."""

    key = "ab_minus_aa"
    label = "A/B minus the pre-period A/A (same users)"
    short = "A/B - A/A"
    value_column = "ab_minus_aa"
    prefix = "ab_minus_aa"
    bounded = False  # a difference of lifts
    slot = "contrast"
    leading_columns = ("aa_lift",)
    always_defined = ("aa_lift",)

    def fill(self, cols: Columns, pair: PairData) -> None:
        design = pair.design
        if not design.defined_mask("aa").any():
            cols.empty(*self.columns)
            return
        w_aa, w_ab = design.average_weights()
        ab_days = np.flatnonzero(design.mask("ab"))
        weights = np.vstack([np.eye(design.n_days)[ab_days], w_ab]) - w_aa
        rows = _ab_rows(cols, design.mask("ab"))
        cols.put_wald(pair.lifts.combine(weights), pair.alpha, rows, self.result_columns)
        cols.empty("aa_lift")
        cols.values["aa_lift"][rows] = float(w_aa @ pair.lifts.value)

    def so_far(self, pair: PairData, daily: pl.DataFrame | None) -> SoFar | None:
        """The mean daily lift of the A/B days so far minus the A/A week's."""
        design = pair.design
        if not design.defined_mask("aa").any():
            return None
        weights, undefined = running_means(design)
        weights = weights - design.average_weights()[0]
        return linear_so_far(weights, undefined, pair.lifts, daily, DAILY_TRUTHS)

    def truths(self, rows: AbRows) -> dict[str, float | None]:
        """The mean daily truths minus the pre-period's."""
        aa = rows.aa
        return {
            truth: _difference(
                rows.ab[f"{truth}_lift"], None if aa is None else aa[f"{truth}_lift"]
            )
            for truth in TRUTHS
        }

    def daily_cells(self) -> tuple[DailyCell, ...]:
        return (DailyCell("A/A lift (pre-period)", "percent", ("aa_lift",)), *super().daily_cells())


class Cuped(Estimator):
    """The lift on the A/B days with each user's A/A totals as covariate (CUPED), per day and
    as the mean over the A/B days. Its **test target** is what it converges to: the same
    adjustment, with the same slope, applied to the true CTRs the arms served (``cuped_target``,
    simulations only), not the mean daily target it would differ from by theta times the A/A
    week's target."""

    key = "cuped"
    label = "CUPED (pre-period covariate)"
    short = "CUPED"
    value_column = "cuped_lift"
    prefix = "cuped"
    method = "cuped"
    slot = "contrast"
    row_label = "CUPED"
    target_column = "cuped_target"

    @property
    def columns(self) -> tuple[str, ...]:
        return (*super().columns, self.target_column)

    def fill(self, cols: Columns, pair: PairData) -> None:
        cols.empty(*self.columns)
        arms = _cuped_arms(pair)
        if arms is None:
            return
        a, b, ab = pair.control, pair.treatment, pair.design.defined_mask("ab")
        k = int(ab.sum())
        lifts = arms.relative_lift().combine(np.vstack([np.eye(k), np.full(k, 1.0 / k)]))
        rows = _ab_rows(cols, ab)
        cols.put_wald(lifts, pair.alpha, rows, self.result_columns, floor=True)
        if a.true_clicks is not None and b.true_clicks is not None:
            aa = pair.design.defined_mask("aa")
            target = _cuped_truth(a, b, ab, aa, arms.theta)
            cols.values[self.target_column][rows] = np.append(target, target.mean())

    def so_far(self, pair: PairData, daily: pl.DataFrame | None) -> SoFar | None:
        """The mean of the CUPED lifts of the A/B days so far (each day adjusted with its own
        slope, so the lift after day k uses no later day), its own target likewise."""
        arms = _cuped_arms(pair)
        if arms is None:
            return None
        design = pair.design
        days = np.flatnonzero(design.defined_mask("ab"))
        on_days = np.zeros((design.n_days, days.size))  # the defined A/B days' rows -> every day
        on_days[days, np.arange(days.size)] = 1.0
        weights, undefined = running_means(design)
        truths = dict(DAILY_TRUTHS) | {"target_lift": self.target_column}
        return linear_so_far(
            weights, undefined, arms.relative_lift().combine(on_days), daily, truths
        )

    def truths(self, rows: AbRows) -> dict[str, float | None]:
        """Its own test target (the adjustment applied to the true CTRs); the launch effect, what
        shipping does, is the mean daily one."""
        target = rows.ab.get(self.target_column)
        return {"target": target, "launch": rows.ab["launch_lift"]}


def _cuped_arms(pair: PairData) -> CupedArms | None:
    """Both arms' CUPED-adjusted ratios on the defined A/B days, each user's A/A totals the
    covariate; None without an A/A week or where an A/B day's users had no A/A impressions."""
    design = pair.design
    ab, aa = design.defined_mask("ab"), design.defined_mask("aa")
    if not aa.any():
        return None
    panels = []
    for log in (pair.control, pair.treatment):
        mask = log.present[ab]
        pre_c, pre_m = log.clicks[aa].sum(axis=0), log.impressions[aa].sum(axis=0)
        try:
            pre = ratio_panel(mask * pre_c, mask * pre_m, mask)
        except ValueError:  # an A/B day whose users had no A/A impressions: no covariate
            return None
        panels.append((log.panel(ab), pre))
    return cuped_panels(*panels[0], *panels[1], groups=(pair.control.group, pair.treatment.group))


def _cuped_truth(
    a: ArmLog, b: ArmLog, ab: np.ndarray, aa: np.ndarray, theta: np.ndarray
) -> np.ndarray:
    """Per A/B day, CUPED's lift of the true CTRs: each arm's true post CTR minus ``theta``
    times its users' true pre-period CTR off the pooled one, as the estimate adjusts clicks."""
    adjusted, pre_true, pre_den = [], [], []
    for log in (a, b):
        assert log.true_clicks is not None
        mask = log.present[ab]
        post = log.true_clicks[ab].sum(axis=1) / log.impressions[ab].sum(axis=1)
        den = (mask * log.impressions[aa].sum(axis=0)).sum(axis=1)
        pre_true.append((mask * log.true_clicks[aa].sum(axis=0)).sum(axis=1) / den)
        pre_den.append(den)
        adjusted.append(post)
    pooled = (pre_true[0] * pre_den[0] + pre_true[1] * pre_den[1]) / (pre_den[0] + pre_den[1])
    control, treatment = (
        post - theta * (pre - pooled) for post, pre in zip(adjusted, pre_true, strict=True)
    )
    return treatment / control - 1.0


# The built-in estimators in the report's order (summary.json, the estimators table).
BUILTIN: tuple[Estimator, ...] = (Pooled(), MeanDaily(), AbMinusAa(), Cuped())

_REGISTRY: dict[str, Estimator] = {e.key: e for e in BUILTIN}
_SLOTS = ("lift", "contrast", "end")


def estimators() -> tuple[Estimator, ...]:
    """Every registered estimator, in the report's order."""
    return tuple(_REGISTRY.values())


def estimator_keys() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def estimator(key: str) -> Estimator:
    return _REGISTRY[key]


def in_daily_order() -> tuple[Estimator, ...]:
    """The estimators in daily.csv's (and Table 3's) order: by slot, then as registered."""
    return tuple(e for slot in _SLOTS for e in _REGISTRY.values() if e.slot == slot)


def register(new: Estimator) -> None:
    """Add an estimator (after the others); its key and columns must be new."""
    if new.key in _REGISTRY:
        raise ValueError(f"an estimator {new.key!r} is already registered")
    taken = set(daily_column_names()) & set(new.columns)
    if taken:
        raise ValueError(f"estimator {new.key!r}: daily.csv already has {sorted(taken)}")
    _REGISTRY[new.key] = new


@contextmanager
def registered(new: Estimator) -> Iterator[Estimator]:
    """``new`` registered for the block, removed after it."""
    register(new)
    try:
        yield new
    finally:
        del _REGISTRY[new.key]


def daily_column_names() -> tuple[str, ...]:
    """daily.csv's columns in order: who and the counts, the day's lift, its checks, the
    contrasts, the shared-control block, then the other estimators' blocks."""
    blocks = {slot: [c for e in in_daily_order() if e.slot == slot for c in e.columns]
              for slot in _SLOTS}  # fmt: skip
    return (*BASE_COLUMNS, *blocks["lift"], *CHECK_COLUMNS, *blocks["contrast"],
            *SHARED_CONTROL_COLUMNS, *blocks["end"])  # fmt: skip


def kept_on_undefined_days() -> frozenset[str]:
    """The estimators' columns that keep their values on a day whose lift is undefined."""
    return frozenset(c for e in _REGISTRY.values() for c in e.always_defined)


# The contract: daily.csv's columns with the built-in estimators.
DAILY_COLUMNS: tuple[str, ...] = daily_column_names()
