"""The planner's statistic against independent computations: the closed form of one day, and the
spread of the mean daily lift over fresh A/A randomisations of the same users."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from abtest_sim.analysis.planning import plan_sample_size
from abtest_sim.stats import per_user_variance, users_per_arm


def synthetic_unit_days(users: int, days: int, seed: int) -> pl.DataFrame:
    """One arm's heavy-tailed per-user data over several days (the same users every day)."""
    rng = np.random.default_rng(seed)
    activity = rng.gamma(0.5, 8.0, users)
    ctr = np.clip(rng.beta(2, 40, users), 1e-4, 1)
    frames = []
    for day in range(1, days + 1):
        impressions = rng.poisson(activity)
        clicks = rng.binomial(impressions, ctr)
        frames.append(
            pl.DataFrame(
                {
                    "unit": np.arange(users),
                    "arm": "control",
                    "day": day,
                    "clicks": clicks,
                    "impressions": impressions,
                }
            )
        )
    table = pl.concat(frames)
    return table.filter(pl.col("impressions") > 0)


def test_planner_one_day_matches_the_closed_form():
    table = synthetic_unit_days(20_000, 1, 1)
    rows = plan_sample_size(table, arm="control", lift=0.02, splits=6, estimator="mean_daily").rows
    per_user = per_user_variance(table["clicks"].to_numpy(), table["impressions"].to_numpy())
    assert rows[0].users_per_arm == pytest.approx(users_per_arm(per_user, lift=0.02), rel=0.05)


def test_planner_se_matches_the_spread_of_simulated_tests():
    """The planned SE of a 3-day mean lift agrees with the SD of lifts over simulated A/As."""
    table = synthetic_unit_days(4_000, 3, 2)
    plan = plan_sample_size(table, arm="control", lift=0.05, splits=8, estimator="mean_daily")
    planned = plan.rows[-1]
    lifts = []
    for seed in range(200):
        # fresh A/A splits of the same users: the spread of the estimate across randomisations
        bucket = np.random.default_rng(seed).random(4_000) < 0.5
        arm = pl.Series(np.where(bucket, "a", "b"))
        t = table.with_columns(arm=arm.gather(table["unit"].to_numpy()))
        daily = t.group_by("arm", "day").agg(pl.col("clicks").sum(), pl.col("impressions").sum())
        ctr = (
            daily.with_columns(ctr=pl.col("clicks") / pl.col("impressions"))
            .pivot("arm", index="day", values="ctr")
            .sort("day")
        )
        lifts.append(float((ctr["b"] / ctr["a"] - 1).mean()))
    assert planned.reference_se == pytest.approx(np.std(lifts, ddof=1), rel=0.15)
