"""A per-(unit, arm, day) table turned into per-arm (days, users) matrices, after validation.

The table has columns unit, arm, day, clicks, impressions, and optionally phase ("aa" for the
pre-period A/A days on the same users, "ab" for the treatment days; all "ab" without the column)
and true_clicks (the sum of the simulator's p_true). Anything unusable raises ``ReportInputError``
with a one-line message meant for the user of a command-line tool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time
from functools import cached_property

import numpy as np
import polars as pl

from abtest_sim.stats.influence import RatioPanel, ratio_panel

PHASES = ("aa", "ab")
PHASE_NAMES = {"aa": "A/A", "ab": "A/B"}
REQUIRED_COLUMNS = ("unit", "arm", "day", "clicks", "impressions")
PAIRED_GROUP = "units"  # the influence group of a paired design: every arm's units are shared
# The largest count accepted: integers above 2**53 are not exact as floats (the statistics' type),
# and counts near int64's range would wrap around when summed.
MAX_COUNT = 2**53


class ReportInputError(ValueError):
    """The unit-day table cannot be analysed; the message is one line meant for the user."""


@dataclass(frozen=True)
class Design:
    """The days of the test in order, each with its phase ("aa" pre-period or "ab")."""

    labels: tuple[str, ...]
    phases: np.ndarray
    # Days whose lift is defined (every compared arm has 2 units and an impression, the control a
    # click); None: every day. Averages and per-day estimates skip the others.
    defined: np.ndarray | None = None

    @property
    def n_days(self) -> int:
        return len(self.labels)

    def mask(self, phase: str) -> np.ndarray:
        return self.phases == phase

    @property
    def average_phases(self) -> tuple[str, ...]:
        """The phases with an Average row: those with a day whose lift is defined (an A/A phase
        without one counts as absent: no A/A, A/B - A/A or CUPED)."""
        return tuple(p for p in PHASES if self.defined_mask(p).any())

    @property
    def undefined(self) -> np.ndarray:
        return np.zeros(self.n_days, dtype=bool) if self.defined is None else ~self.defined

    def defined_mask(self, phase: str) -> np.ndarray:
        """The phase's days whose lift is defined."""
        return self.mask(phase) & ~self.undefined

    def average_weights(self) -> np.ndarray:
        """(phases present, days): equal weights over each phase's days with a defined lift."""
        masks = np.array([self.defined_mask(p) for p in self.average_phases], dtype=np.float64)
        return masks / masks.sum(axis=1, keepdims=True)

    @property
    def row_phases(self) -> list[str]:
        return [*self.phases.tolist(), *self.average_phases]


@dataclass(frozen=True)
class ArmLog:
    """One arm's per-user sums as (days, users) matrices; ``present``: the unit has a row."""

    name: str
    clicks: np.ndarray
    impressions: np.ndarray
    present: np.ndarray
    true_clicks: np.ndarray | None
    # Per-day expected clicks and impressions of the arm's launch lineage (a simulator's lineage of
    # the arm's recipe serving and trained on every user): the truth of the launch effect.
    launch_totals: tuple[np.ndarray, np.ndarray] | None = None
    # Influence group: units of one group are independent of other groups' units (the arm), or
    # shared by every arm (``units``, a paired design with one unit axis).
    group: str = ""

    def __post_init__(self) -> None:
        if not self.group:
            object.__setattr__(self, "group", self.name)

    def panel(self, days: np.ndarray | None = None) -> RatioPanel:
        """Per-day ratios with their influence over the chosen days (None: every day)."""
        if days is None:
            return self.all_days
        return ratio_panel(self.clicks[days], self.impressions[days], self.present[days])

    @cached_property
    def all_days(self) -> RatioPanel:
        """The panel of every day, computed once (the report uses it several times); a day with
        fewer than 2 units or no impressions has a NaN ratio and no influence."""
        return ratio_panel(self.clicks, self.impressions, self.present, strict=False)

    def users(self, days: np.ndarray) -> int:
        """Units with a row on any of the chosen days."""
        return int(self.present[days].any(axis=0).sum())


def _fail(message: str) -> ReportInputError:
    return ReportInputError(message.replace("\n", " "))


def _check_columns(table: pl.DataFrame) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise _fail(f"missing column(s) {', '.join(missing)} (have: {', '.join(table.columns)})")
    numeric = [
        "clicks",
        "impressions",
        *(["true_clicks"] if "true_clicks" in table.columns else []),
    ]
    for name in numeric:
        if table[name].dtype == pl.Boolean:
            raise _fail(f"column {name} holds true/false, not counts per unit and day")
        if not table[name].dtype.is_numeric():
            raise _fail(f"column {name} must be numeric, got {table[name].dtype}")
    used = [*REQUIRED_COLUMNS, *(c for c in ("phase", "true_clicks") if c in table.columns)]
    for name in used:
        nulls = table[name].null_count() + (
            int(table[name].is_nan().sum()) if table[name].dtype.is_float() else 0
        )
        if nulls:
            raise _fail(f"column {name} has {nulls} missing value(s)")
        if table[name].dtype.is_float() and (infinite := int(table[name].is_infinite().sum())):
            raise _fail(f"column {name} has {infinite} infinite value(s)")
    _check_day_resolution(table["day"])


def _check_day_resolution(day: pl.Series) -> None:
    """A timestamp day is refused unless every value is a midnight: truncated to hours, a log of
    two days would give a report of 48 "days"."""
    if not isinstance(day.dtype, pl.Datetime):
        return
    times = day.dt.time()
    later = day.filter(times != time(0))
    if later.len():
        raise _fail(
            f"column day holds times of day ({later.len()} value(s) after midnight, e.g. "
            f"{later[0]}): each distinct time would be a day of the report; give dates (cast "
            "the column to a date, e.g. polars .dt.date())"
        )


def _check_counts(table: pl.DataFrame, counts: bool) -> None:
    """Clicks and impressions (``counts``), or any metric's numerator and denominator: the
    numerator of a metric may be any finite number (revenue, a refund), its denominator not
    negative."""
    large = (pl.col("clicks").abs() > MAX_COUNT) | (pl.col("impressions") > MAX_COUNT)
    checks = [
        (large, "a count above 2**53 = 9.0e15, the largest count exact as a float"),
        (pl.col("impressions") < 0, "negative impressions" if counts else "a negative denominator"),
    ]
    if counts:
        checks += [
            (pl.col("clicks") < 0, "negative clicks"),
            (pl.col("clicks") > pl.col("impressions"), "more clicks than impressions"),
        ]
    if "true_clicks" in table.columns:
        bad_truth = (pl.col("true_clicks") < 0) | (pl.col("true_clicks") > pl.col("impressions"))
        checks.append((bad_truth, "true_clicks outside [0, impressions]"))
    for condition, what in checks:
        rows = table.filter(condition)
        if rows.height:
            first = rows.row(0, named=True)
            raise _fail(
                f"{rows.height} row(s) with {what} "
                f"(first: unit {first['unit']}, arm {first['arm']}, day {first['day']})"
            )


def _check_arm_names(table: pl.DataFrame, arms: Sequence[str]) -> None:
    if len(set(arms)) != len(arms):
        raise _fail(f"control, treatment and aa_control must differ, got {', '.join(arms)}")
    present = sorted(table["arm"].unique().to_list())
    for arm in arms:
        if arm not in present:
            raise _fail(f"arm {arm!r} not in the data (arms: {', '.join(present)})")


def _check_arms(table: pl.DataFrame, paired: bool) -> None:
    # Summed as floats: every count is at most MAX_COUNT, and no sum of them can wrap around.
    per_arm = table.group_by("arm").agg(pl.col("impressions").cast(pl.Float64).sum()).sort("arm")
    for arm, total in per_arm.iter_rows():
        if total <= 0:
            raise _fail(f"arm {arm!r} is empty: it has no impressions")
    if paired:
        return
    shared = table.group_by("unit").agg(pl.col("arm").n_unique().alias("arms"))
    shared = shared.filter(pl.col("arms") > 1).sort("unit")
    if shared.height:
        raise _fail(
            f"{shared.height} unit(s) appear in more than one arm (e.g. {shared['unit'][0]}); "
            "a unit must stay in its arm"
        )


def _design(table: pl.DataFrame) -> Design:
    if "phase" not in table.columns:
        days = table.select("day").unique().sort("day")["day"]
        return Design(_day_labels(days), np.full(days.len(), "ab"))
    per_day = table.group_by("day").agg(pl.col("phase").unique()).sort("day")
    if (per_day["phase"].list.len() > 1).any():
        day = per_day.filter(pl.col("phase").list.len() > 1)["day"][0]
        raise _fail(f"day {day} has more than one phase; a day is either aa or ab")
    phases = per_day["phase"].list.first().cast(pl.String).to_numpy().astype(str)
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        raise _fail(f"phase values must be aa or ab, got {', '.join(unknown)}")
    if not (phases == "ab").any():
        raise _fail("no A/B day: every day has phase aa")
    return Design(_day_labels(per_day["day"]), phases)


def _day_labels(days: pl.Series) -> tuple[str, ...]:
    return tuple(days.cast(pl.String).to_list())


def prepare_unit_days(
    unit_days: pl.DataFrame, arms: Sequence[str], *, paired: bool = False, counts: bool = True
) -> tuple[pl.DataFrame, Design]:
    """Validate the table (raising ``ReportInputError``), keep the arms analysed, sum duplicates.
    ``paired``: units may (and in a paired design do) appear in every arm. ``counts``: clicks and
    impressions are counts (at most one click per impression); else they are any metric's
    numerator and denominator (``abtest_sim.analysis.metrics``)."""
    if not isinstance(unit_days, pl.DataFrame):
        raise _fail(f"unit_days must be a polars DataFrame, got {type(unit_days).__name__}")
    _check_columns(unit_days)
    table = unit_days.with_columns(pl.col("arm").cast(pl.String))
    _check_arm_names(table, arms)
    table = table.filter(pl.col("arm").is_in(list(arms)))
    _check_counts(table, counts)
    _check_arms(table, paired)
    design = _design(table)
    keys = ["unit", "arm", "day"]
    sums = [c for c in ("clicks", "impressions", "true_clicks") if c in table.columns]
    table = table.group_by(keys).agg(pl.col(c).cast(pl.Float64).sum() for c in sums)
    return table.sort(keys), design


def build_arm_logs(
    table: pl.DataFrame, design: Design, arms: Sequence[str], *, paired: bool = False
) -> dict[str, ArmLog]:
    """Per-arm (days, users) matrices (``arms[0]`` is the control). ``paired``: every arm's
    matrices share one unit axis and one influence group."""
    days = table.select("day").unique().sort("day").with_row_index("day_index")
    table = table.join(days, on="day")
    shared_units = _unit_index(table) if paired else None
    return {
        arm: _arm_log(table.filter(pl.col("arm") == arm), arm, design, shared_units) for arm in arms
    }


def undefined_day_reasons(logs: Sequence[ArmLog], design: Design) -> dict[str, str]:
    """Day label -> why its lift is undefined: a compared arm with fewer than 2 units or no
    impressions that day, or a control without a click (``logs[0]`` is the control)."""
    reasons: dict[str, str] = {}
    for log in reversed(logs):  # the first arm's reason wins
        short = (log.present.sum(axis=1) < 2) | (log.impressions.sum(axis=1) <= 0)
        for day in np.flatnonzero(short):
            reasons[design.labels[day]] = (
                f"arm {log.name!r} has fewer than 2 units or no impressions"
            )
    no_click = (logs[0].clicks.sum(axis=1) <= 0) & (logs[0].impressions.sum(axis=1) > 0)
    for day in np.flatnonzero(no_click):
        reasons.setdefault(design.labels[day], f"the control {logs[0].name!r} has no click")
    return reasons


def with_defined_days(design: Design, reasons: dict[str, str]) -> Design:
    """The design whose averages skip the undefined days; the A/B phase needs one defined day."""
    defined = np.array([label not in reasons for label in design.labels])
    if not (design.mask("ab") & defined).any():
        day = design.labels[int(np.argmax(design.mask("ab")))]
        raise _fail(
            f"no {PHASE_NAMES['ab']} day has a defined lift (day {day}: {reasons[day]}); "
            "nothing to report"
        )
    return Design(design.labels, design.phases, defined)


def _unit_index(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.select("unit").unique().sort("unit").with_row_index("unit_index")


def _arm_log(
    rows: pl.DataFrame, arm: str, design: Design, shared_units: pl.DataFrame | None
) -> ArmLog:
    units = _unit_index(rows) if shared_units is None else shared_units
    rows = rows.join(units, on="unit")
    where = (rows["day_index"].to_numpy(), rows["unit_index"].to_numpy())
    shape = (design.n_days, units.height)

    def matrix(column: str) -> np.ndarray:
        out = np.zeros(shape)
        out[where] = rows[column].to_numpy()
        return out

    present = np.zeros(shape, dtype=bool)
    present[where] = True
    truth = matrix("true_clicks") if "true_clicks" in rows.columns else None
    group = arm if shared_units is None else PAIRED_GROUP
    return ArmLog(arm, matrix("clicks"), matrix("impressions"), present, truth, group=group)
