"""Power planning from per-user data: how many users per arm and how many days a test needs.

The variance of an estimator (by default the report's headline: CUPED when the data hold a
pre-period, else the pooled lift) is measured on an A/A split of one arm's users: they are cut
in two halves by a salted hash, each half is an "arm", and the estimator's standard error over the
first ``d`` test days is computed by the report's own daily table (``daily_table``: the same
estimator object, cross-day covariance and CUPED slope included). Splits are repeated with different
salts and their variances averaged. With ``n_ref`` users per half seen in those ``d`` test days
(users who come later are not in that SE), a test with ``n`` users per arm has

    SE(n) = SE_ref * sqrt(n_ref / n) * (1 + lift)

(the treatment keeps the control's relative variance, every user's CTR scaled by ``1 + lift``), so
the users per arm needed to detect ``lift`` with ``power`` at level ``alpha`` are
``n = n_ref * ((z_{1-alpha/2} + z_power) * (1 + lift) * SE_ref / lift)^2``, or with a model-lineage
SD ``s`` (which does not shrink with users) the ``n`` at which ``z * sqrt(SE(n)^2 + s^2) = lift``;
no test detects a lift below ``z * s`` (the lineage floor).

The pre-period (for CUPED and A/B - A/A): the days of phase ``aa`` when the table has a phase
column, else the first ``pre_days`` days; the test days are the others.

Works on any per-(unit, arm, day) table: a simulated run's ``unit_days.parquet`` or real logs
(``abtest-sim-plan``, ``abtest_sim.apps.plan``, reads them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import polars as pl

from abtest_sim.analysis.daily_table import daily_table
from abtest_sim.analysis.estimators import estimator as find_estimator
from abtest_sim.analysis.estimators import estimator_keys
from abtest_sim.analysis.options import AUTO_WITH_PRE_PERIOD, AUTO_WITHOUT_PRE_PERIOD
from abtest_sim.analysis.unit_days import ReportInputError, prepare_unit_days
from abtest_sim.stats.power import lineage_floor, users_from_reference, z_sum

__all__ = ["Plan", "PlanRow", "plan_sample_size", "render_plan"]

HALVES = ("half_a", "half_b")


@dataclass(frozen=True)
class PlanRow:
    days: int  # test length: the first ``days`` test days of the data
    reference_users: float  # users per half in the A/A split, seen in those days
    reference_se: float  # the estimator's SE at reference_users per arm (no lift)
    users_per_arm: int | None  # needed for the planned lift and power (None: out of reach)
    mde_at_reference: float  # minimum detectable lift at reference_users per arm


@dataclass(frozen=True)
class Plan:
    """Users per arm by test length for one estimator, lift, level and power."""

    estimator: str  # the key of the estimator sized (abtest_sim.analysis.estimators)
    pre_days: int  # days of the pre-period before the test days (0: none)
    lift: float
    alpha: float
    power: float
    reference_users: tuple[float, ...]  # per test length, users per half seen in its days
    reference_se: tuple[float, ...]  # per test length, the estimator's SE at those users
    lineage_sd: float = 0.0  # the model-lineage component included

    @property
    def lineage_floor(self) -> float:
        """No test detects a smaller lift with the planned power, however many users."""
        return lineage_floor(self.lineage_sd, alpha=self.alpha, power=self.power)

    @property
    def rows(self) -> list[PlanRow]:
        z = z_sum(self.alpha, self.power)
        return [
            PlanRow(
                days=d + 1,
                reference_users=n,
                reference_se=se,
                users_per_arm=users_from_reference(
                    n, se, lift=self.lift, z=z, lineage_sd=self.lineage_sd
                ),
                mde_at_reference=float(z * math.hypot(se, self.lineage_sd)),
            )
            for d, (n, se) in enumerate(zip(self.reference_users, self.reference_se, strict=True))
        ]

    def with_lineage_sd(self, lineage_sd: float) -> Plan:
        """The same plan with a model-lineage SD (``ValueError`` if not a non-negative number)."""
        if not (math.isfinite(lineage_sd) and lineage_sd >= 0):
            raise ValueError(f"lineage_sd must be a non-negative number, got {lineage_sd}")
        return replace(self, lineage_sd=lineage_sd)


def _split_halves(table: pl.DataFrame, salt: int) -> pl.DataFrame:
    bucket = (pl.col("unit").hash(seed=salt) % 2).cast(pl.Int8)
    return table.with_columns(
        pl.when(bucket == 0).then(pl.lit(HALVES[0])).otherwise(pl.lit(HALVES[1])).alias("arm")
    )


def _check_settings(settings: dict[str, Any]) -> None:
    """``ValueError`` naming the first setting of ``plan_sample_size`` out of its range."""
    lift, alpha, power = settings["lift"], settings["alpha"], settings["power"]
    if lift == 0 or not math.isfinite(lift):
        raise ValueError(f"lift must be a finite non-zero number, got {lift}")
    if lift <= -1:
        raise ValueError(f"lift must be above -1 (a CTR cannot fall by 100% or more), got {lift}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    if not 0 < power < 1:
        raise ValueError(f"power must lie in (0, 1), got {power}")
    if settings["splits"] < 1:
        raise ValueError("splits must be at least 1")
    name = settings["estimator"]
    if name != "auto" and name not in estimator_keys():
        raise ValueError(f"estimator must be auto or one of {list(estimator_keys())}, got {name!r}")
    pre_days = settings["pre_days"]
    if pre_days is not None and pre_days < 0:
        raise ValueError(f"pre_days must be a non-negative number of days, got {pre_days}")


def _with_phases(rows: pl.DataFrame, pre_days: int | None) -> pl.DataFrame:
    """The arm's rows with a phase column: ``aa`` for the pre-period, ``ab`` for the test days
    (``pre_days`` None: the table's own phases, when it has both)."""
    days = rows.get_column("day").unique().sort()
    if pre_days is None:
        phases = set(rows.get_column("phase").cast(pl.String)) if "phase" in rows.columns else ()
        if {"aa", "ab"} <= set(phases):
            return rows.with_columns(pl.col("phase").cast(pl.String))
        pre_days = 0
    if pre_days >= days.len():
        raise ReportInputError(
            f"pre_days={pre_days} leaves no test day (the data hold {days.len()} day(s))"
        )
    pre = days.head(pre_days).implode()
    phase = pl.when(pl.col("day").is_in(pre)).then(pl.lit("aa")).otherwise(pl.lit("ab"))
    return rows.drop("phase", strict=False).with_columns(phase.alias("phase"))


def _arm_rows(unit_days: pl.DataFrame, arm: str) -> pl.DataFrame:
    """The split arm's rows (arms compared as text: an arm column of numbers names arm 0 "0")."""
    rows = unit_days.filter(pl.col("arm").cast(pl.String) == str(arm))
    if rows.is_empty():
        arms = ", ".join(sorted(unit_days["arm"].cast(pl.String).unique().to_list()))
        raise ReportInputError(f"no rows for arm {arm!r} (arms: {arms})")
    prepare_unit_days(rows.drop("phase", strict=False), [str(arm)])  # refusals name the arm
    units = rows["unit"].n_unique()
    if units < 4:  # each half needs 2 units for a ratio's variance
        raise ReportInputError(
            f"arm {arm!r} has {units} unit(s); the planner splits them into two halves (an A/A) "
            "and needs at least 4"
        )
    return rows


def _resolve(name: str, has_pre_period: bool) -> str:
    if name == "auto":
        return AUTO_WITH_PRE_PERIOD if has_pre_period else AUTO_WITHOUT_PRE_PERIOD
    return name


def _split_se(split: pl.DataFrame, name: str, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """One A/A split: the estimator's SE over the first 1, 2, ... test days, and the users per
    half seen in those test days."""
    test_days = split.filter(pl.col("phase") == "ab").get_column("day").unique().sort()
    ses, users = [], []
    for d in range(1, test_days.len() + 1):
        shown = test_days.head(d).implode()
        frame = split.filter((pl.col("phase") == "aa") | pl.col("day").is_in(shown))
        table = daily_table(frame, control=HALVES[0], treatment=HALVES[1], alpha=alpha)
        if table.undefined_days:
            day, why = next(iter(table.undefined_days.items()))
            raise ReportInputError(
                f"day {day} of the A/A split: {why}; the planner needs both halves, with a "
                "click, on every day"
            )
        found = find_estimator(name).estimate(table.ab_rows, alpha=alpha, lineage_sd=None)
        if found is None:
            raise ReportInputError(
                f"estimator={name} needs a pre-period on the same users: a phase column with aa "
                "days, or pre_days=N (the first N days)"
            )
        ses.append(found.se)
        in_days = frame.filter(pl.col("day").is_in(shown))
        seen = in_days.group_by("arm").agg(pl.col("unit").n_unique())
        users.append(float(seen["unit"].mean()))  # type: ignore[arg-type]
    return np.array(ses), np.array(users)


def plan_sample_size(
    unit_days: pl.DataFrame,
    *,
    arm: str,
    lift: float,
    power: float = 0.8,
    alpha: float = 0.05,
    estimator: str = "auto",
    pre_days: int | None = None,
    splits: int = 4,
    lineage_sd: float = 0.0,
) -> Plan:
    """Users per arm needed for each test length, from one arm's per-user data (module doc).

    ``estimator``: a key of ``abtest_sim.analysis.estimators`` or ``auto`` (the report's headline
    rule). ``pre_days``: the first N days are the pre-period (None: the phase column's aa days).
    """
    _check_settings({"lift": lift, "power": power, "alpha": alpha, "splits": splits,
                     "estimator": estimator, "pre_days": pre_days})  # fmt: skip
    rows = _with_phases(_arm_rows(unit_days, arm), pre_days)
    n_pre = rows.filter(pl.col("phase") == "aa").get_column("day").n_unique()
    name = _resolve(estimator, n_pre > 0)
    variances, users = [], []
    for salt in range(splits):
        se, n = _split_se(_split_halves(rows, salt), name, alpha)
        variances.append(se**2)
        users.append(n)
    se_ref = np.sqrt(np.mean(variances, axis=0))
    n_ref = np.mean(users, axis=0)  # per test length: the users of its own days
    references = (tuple(map(float, n_ref)), tuple(map(float, se_ref)))
    plan = Plan(name, n_pre, lift, alpha, power, *references)
    return plan.with_lineage_sd(lineage_sd)


def render_plan(plan: Plan) -> str:
    lift, power, alpha = plan.lift, plan.power, plan.alpha
    label = find_estimator(plan.estimator).label
    pre = f", after {plan.pre_days} pre-period day(s)" if plan.pre_days else ""
    lines = [
        f"Users per arm to detect a {100 * lift:+.2f}% lift with {100 * power:.0f}% power "
        f"(two-sided alpha {alpha}) by {label}, by test length{pre}:",
        "days    users/arm   MDE at the data's users/arm (SE at no lift)",
    ]
    for row in plan.rows:
        needed = "unreachable" if row.users_per_arm is None else f"{row.users_per_arm:,}"
        lines.append(
            f"{row.days:>4}  {needed:>11}   {100 * row.mde_at_reference:6.2f}% "
            f"at {row.reference_users:,.0f} ({100 * row.reference_se:.2f}%)"
        )
    if plan.lineage_sd > 0:
        lines.append(
            f"Model-lineage SD {100 * plan.lineage_sd:.2f}% included: it does not shrink with "
            "users, so no test of this design detects a lift below "
            f"{100 * plan.lineage_floor:.2f}% with {100 * power:.0f}% power, however many "
            "users (the lineage floor; 'unreachable': the lift lies below it)."
        )
    else:
        lines.append(
            "No model-lineage SD included: arms served by models trained on different users "
            "differ by more than sampling (measure it with abtest-sim-forecast and pass "
            "forecast=<its forecast.json>)."
        )
    return "\n".join(lines)
