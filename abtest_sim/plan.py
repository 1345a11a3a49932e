"""Power planning from per-user data: how many users per arm and how many days a test needs.

The variance of the report's headline statistic (the mean of the daily lifts, with the cross-day
covariance) is measured on an A/A split of one arm's users: the arm's users are cut in two halves by
a salted hash, each half is an "arm", and the standard error of the mean daily lift over the first
``d`` days is computed exactly as the report computes it. Splits are repeated with different salts
and their variances averaged. With ``n_ref`` users per half, a test with ``n`` users per arm has

    SE(n) = SE_ref * sqrt(n_ref / n) * (1 + lift)

(the treatment keeps the control's relative variance, every user's CTR scaled by ``1 + lift``), so
the users per arm needed to detect ``lift`` with ``power`` at level ``alpha`` are
``n = n_ref * ((z_{1-alpha/2} + z_power) * (1 + lift) * SE_ref / lift)^2``.

Works on any per-(unit, arm, day) table: a simulated run's ``unit_days.parquet`` or real logs.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import hydra
import numpy as np
import polars as pl
from omegaconf import DictConfig

from abtest_sim.stats.daily import daily_lifts
from abtest_sim.stats.power import users_from_reference, z_sum
from abtest_sim.stats.unit_days import (
    ReportInputError,
    build_arm_logs,
    prepare_unit_days,
    undefined_day_reasons,
)
from reloop.hydra_app import CONF_SEARCH_PATH, number, precheck

__all__ = ["PlanRow", "main", "plan_sample_size"]

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


def _se_by_days(table: pl.DataFrame, max_days: int) -> tuple[np.ndarray, float]:
    """SE of the mean daily lift over the first 1..max_days days, and users per half."""
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
    lifts = daily_lifts(
        a.clicks, a.impressions, b.clicks, b.impressions, present_a=a.present, present_b=b.present
    )
    se = np.array([lifts.average_lift(np.arange(d)).se for d in range(1, max_days + 1)])
    users = np.mean([arm_logs[h].users(np.ones(design.n_days, dtype=bool)) for h in HALVES])
    return se, float(users)


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
    if lift == 0 or not math.isfinite(lift):
        raise ValueError("lift must be a non-zero number")
    if splits < 1:
        raise ValueError("splits must be at least 1")
    if not lineage_sd >= 0:
        raise ValueError(f"lineage_sd must be a non-negative number, got {lineage_sd}")
    rows = unit_days.filter(pl.col("arm") == arm)
    if phase is not None and "phase" in rows.columns:
        rows = rows.filter(pl.col("phase") == phase)
    if rows.is_empty():
        raise ReportInputError(
            f"no rows for arm {arm!r}" + (f" in phase {phase!r}" if phase else "")
        )
    rows = rows.drop("phase") if "phase" in rows.columns else rows
    n_days = rows.get_column("day").n_unique()
    variances, users = [], []
    for salt in range(splits):
        se, n = _se_by_days(_split_halves(rows, salt), n_days)
        variances.append(se**2)
        users.append(n)
    se_ref = np.sqrt(np.mean(variances, axis=0))
    n_ref = float(np.mean(users))
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    z = z_sum(alpha, power)
    return [
        PlanRow(
            days=d + 1,
            reference_users=n_ref,
            reference_se=float(se_ref[d]),
            users_per_arm=users_from_reference(
                n_ref, float(se_ref[d]), lift=lift, z=z, lineage_sd=lineage_sd
            ),
            mde_at_reference=float(z * math.hypot(se_ref[d], lineage_sd)),
            lineage_sd=lineage_sd,
        )
        for d in range(n_days)
    ]


# ------------------------------------------------------------------------------ the app

PROG = "abtest-sim-plan"


def _read_table(cfg: DictConfig) -> pl.DataFrame:
    path = Path(cfg.input)
    if not path.is_file():
        raise ReportInputError(f"input {path} does not exist")
    frame = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path)
    names = {cfg.unit: "unit", cfg.day: "day", cfg.clicks: "clicks", cfg.impressions: "impressions"}
    missing = [c for c in [*names, "arm"] if c not in frame.columns]  # arm: the arm column
    if missing:
        raise ReportInputError(f"missing columns {missing} in {path}")
    return frame.rename({k: v for k, v in names.items() if k != v})


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


@hydra.main(version_base="1.3", config_path=CONF_SEARCH_PATH, config_name="plan")
def _hydra_main(cfg: DictConfig) -> None:
    try:
        rows = plan_sample_size(
            _read_table(cfg),
            arm=str(cfg.split_arm),
            lift=number(cfg.lift, "lift", float),
            power=number(cfg.power, "power", float),
            alpha=number(cfg.alpha, "alpha", float),
            phase=cfg.phase,
            splits=number(cfg.splits, "splits", int),
            lineage_sd=number(cfg.lineage_sd or 0.0, "lineage_sd", float),
        )
    except ValueError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(render_plan(rows, lift=float(cfg.lift), power=float(cfg.power), alpha=float(cfg.alpha)))


def main() -> None:
    precheck(PROG, "plan", sys.argv[1:])
    _hydra_main()


if __name__ == "__main__":
    main()
