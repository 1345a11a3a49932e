"""Power planning from per-user data: how many users per arm and how many days a test needs.

The variance of the report's headline statistic (the mean of the daily lifts, with the cross-day
covariance) is measured on an A/A split of one arm's users: the arm's users are cut in two halves by
a salted hash, each half is an "arm", and the standard error of the mean daily lift over the first
``d`` days is computed exactly as the report computes it. Splits are repeated with different salts
and their variances averaged. With ``n_ref`` users per half seen in those ``d`` days (users who
come later are not in that SE), a test with ``n`` users per arm has

    SE(n) = SE_ref * sqrt(n_ref / n) * (1 + lift)

(the treatment keeps the control's relative variance, every user's CTR scaled by ``1 + lift``), so
the users per arm needed to detect ``lift`` with ``power`` at level ``alpha`` are
``n = n_ref * ((z_{1-alpha/2} + z_power) * (1 + lift) * SE_ref / lift)^2``.

Works on any per-(unit, arm, day) table: a simulated run's ``unit_days.parquet`` or real logs
(``abtest-sim-plan``, ``abtest_sim.apps.plan``, reads them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from abtest_sim.analysis.unit_days import (
    ReportInputError,
    build_arm_logs,
    prepare_unit_days,
    undefined_day_reasons,
)
from abtest_sim.stats.daily import daily_lifts
from abtest_sim.stats.power import users_from_reference, z_sum

__all__ = ["PlanRow", "plan_sample_size", "render_plan"]

HALVES = ("half_a", "half_b")


@dataclass(frozen=True)
class PlanRow:
    days: int  # test length: the first ``days`` days of the data
    reference_users: float  # users per half in the A/A split
    reference_se: float  # SE of the mean daily lift at reference_users per arm (no lift)
    users_per_arm: int | None  # needed for the planned lift and power (None: out of reach)
    mde_at_reference: float  # minimum detectable lift at reference_users per arm
    lineage_sd: float = 0.0  # the model-lineage component included


def _split_halves(table: pl.DataFrame, salt: int) -> pl.DataFrame:
    bucket = (pl.col("unit").hash(seed=salt) % 2).cast(pl.Int8)
    return table.with_columns(
        pl.when(bucket == 0).then(pl.lit(HALVES[0])).otherwise(pl.lit(HALVES[1])).alias("arm")
    )


def _se_by_days(table: pl.DataFrame, max_days: int) -> tuple[np.ndarray, np.ndarray]:
    """SE of the mean daily lift over the first 1..max_days days, and the users per half seen in
    those same days (a user who comes only later is not in that SE)."""
    prepared, design = prepare_unit_days(table, HALVES)
    arm_logs = build_arm_logs(prepared, design, HALVES)
    a, b = (arm_logs[h] for h in HALVES)
    undefined = undefined_day_reasons([a, b], design)
    if undefined:
        day, why = next(iter(undefined.items()))
        raise ReportInputError(
            f"day {day} of the A/A split: {why}; the planner needs both halves, with a click, "
            "on every day"
        )
    lifts = daily_lifts(a.panel(), b.panel())
    se = np.array([lifts.average_lift(np.arange(d)).se for d in range(1, max_days + 1)])
    seen = [np.logical_or.accumulate(arm_logs[h].present, axis=0).sum(axis=1) for h in HALVES]
    return se, np.mean(seen, axis=0)[:max_days]


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
    lineage_sd = settings["lineage_sd"]
    if not (math.isfinite(lineage_sd) and lineage_sd >= 0):
        raise ValueError(f"lineage_sd must be a non-negative number, got {lineage_sd}")


def plan_sample_size(
    unit_days: pl.DataFrame,
    *,
    arm: str,
    lift: float,
    power: float = 0.8,
    alpha: float = 0.05,
    phase: str | None = None,
    splits: int = 4,
    lineage_sd: float = 0.0,
) -> list[PlanRow]:
    """Users per arm needed for each test length, from one arm's per-user data (see module doc).

    ``phase`` restricts to the days of that phase (e.g. "aa", where no treatment acted).
    """
    _check_settings({"lift": lift, "power": power, "alpha": alpha, "splits": splits,
                     "lineage_sd": lineage_sd})  # fmt: skip
    # Arms and phases compared as text: an arm column of numbers names arm 0 as "0".
    rows = unit_days.filter(pl.col("arm").cast(pl.String) == str(arm))
    if phase is not None and "phase" in rows.columns:
        rows = rows.filter(pl.col("phase").cast(pl.String) == str(phase))
    if rows.is_empty():
        arms = ", ".join(sorted(unit_days["arm"].cast(pl.String).unique().to_list()))
        where = f" in phase {phase!r}" if phase else ""
        raise ReportInputError(f"no rows for arm {arm!r}{where} (arms: {arms})")
    rows = rows.drop("phase") if "phase" in rows.columns else rows
    prepare_unit_days(rows, [str(arm)])  # refusals name the arm, not one of its halves
    units = rows["unit"].n_unique()
    if units < 4:  # each half needs 2 units for a ratio's variance
        raise ReportInputError(
            f"arm {arm!r} has {units} unit(s); the planner splits them into two halves (an A/A) "
            "and needs at least 4"
        )
    n_days = rows.get_column("day").n_unique()
    variances, users = [], []
    for salt in range(splits):
        se, n = _se_by_days(_split_halves(rows, salt), n_days)
        variances.append(se**2)
        users.append(n)
    se_ref = np.sqrt(np.mean(variances, axis=0))
    n_ref = np.mean(users, axis=0)  # per test length: the users of its own days
    z = z_sum(alpha, power)
    return [
        PlanRow(
            days=d + 1,
            reference_users=float(n_ref[d]),
            reference_se=float(se_ref[d]),
            users_per_arm=users_from_reference(
                float(n_ref[d]), float(se_ref[d]), lift=lift, z=z, lineage_sd=lineage_sd
            ),
            mde_at_reference=float(z * math.hypot(se_ref[d], lineage_sd)),
            lineage_sd=lineage_sd,
        )
        for d in range(n_days)
    ]


def render_plan(rows: list[PlanRow], *, lift: float, power: float, alpha: float) -> str:
    lines = [
        f"Users per arm to detect a {100 * lift:+.2f}% lift with {100 * power:.0f}% power "
        f"(two-sided alpha {alpha}), by test length:",
        "days    users/arm   MDE at the data's users/arm (SE at no lift)",
    ]
    for row in rows:
        needed = "unreachable" if row.users_per_arm is None else f"{row.users_per_arm:,}"
        lines.append(
            f"{row.days:>4}  {needed:>11}   {100 * row.mde_at_reference:6.2f}% "
            f"at {row.reference_users:,.0f} ({100 * row.reference_se:.2f}%)"
        )
    if rows and rows[0].lineage_sd > 0:
        lines.append(
            f"Model-lineage sd {100 * rows[0].lineage_sd:.2f}% included (it does not shrink with "
            "users; 'unreachable': the lineage noise alone hides the lift)."
        )
    return "\n".join(lines)
