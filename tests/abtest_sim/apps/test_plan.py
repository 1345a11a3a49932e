"""abtest-sim-plan: the users it sizes from are those of the days it sizes, lifts a CTR can have,
and its input read by the one table reader (.pq parquet, an arm column of numbers)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import astuple

import numpy as np
import polars as pl
import pytest

from abtest_sim.analysis.planning import plan_sample_size
from abtest_sim.analysis.unit_days import ReportInputError


def joining_users(users: int = 4000, days: int = 6, seed: int = 3) -> pl.DataFrame:
    """One arm, users joining over the test: a user's first day is uniform over the days."""
    rng = np.random.default_rng(seed)
    first = rng.integers(1, days + 1, users)
    activity, ctr = rng.gamma(0.5, 8.0, users), np.clip(rng.beta(2, 40, users), 1e-4, 1)
    day = np.tile(np.arange(1, days + 1), (users, 1))
    impressions = rng.poisson(activity[:, None] * np.ones(days)) * (day >= first[:, None])
    clicks = rng.binomial(impressions, ctr[:, None])
    table = pl.DataFrame({
        "unit": np.repeat(np.arange(users), days), "arm": "control", "day": day.ravel(),
        "clicks": clicks.ravel(), "impressions": impressions.ravel(),
    })  # fmt: skip
    return table.filter(pl.col("impressions") > 0)


def test_reference_users_are_those_of_the_days_sized():
    """The users behind d days are the users seen in those d days (half of them per A/A half):
    the plan for the first 3 days is the same whether or not later days are in the input."""
    table = joining_users()
    rows = plan_sample_size(table, arm="control", lift=0.05, splits=3).rows
    first_three = plan_sample_size(table.filter(pl.col("day") <= 3), arm="control", lift=0.05,
                                   splits=3).rows  # fmt: skip
    for full, short in zip(rows[:3], first_three, strict=True):  # equal to float rounding
        assert astuple(full) == pytest.approx(astuple(short), rel=1e-12)
    seen = [table.filter(pl.col("day") <= d)["unit"].n_unique() / 2 for d in range(1, 7)]
    assert [row.reference_users for row in rows] == pytest.approx(seen)
    assert rows[0].reference_users < rows[-1].reference_users


@pytest.mark.parametrize("lift", [-1.0, -2.0])
def test_a_lift_of_minus_100_percent_or_less_is_refused(lift):
    """Before: lift=-1 answered 0 users per arm, lift=-2 nine."""
    with pytest.raises(ValueError, match="lift must be above -1"):
        plan_sample_size(joining_users(200, 2), arm="control", lift=lift)


def test_an_arm_too_small_to_split_is_named():
    table = joining_users(200, 2)
    table = table.filter(pl.col("unit").is_in(table["unit"].unique().sort().head(3).implode()))
    with pytest.raises(ReportInputError, match="arm 'control' has 3 unit"):
        plan_sample_size(table, arm="control", lift=0.05)


def run_plan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "abtest_sim.apps.plan", *args], capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def test_the_app_reads_a_pq_file_with_a_numbered_arm_column(tmp_path):
    """An arm column of numbers is compared as text (split_arm=0 crashed before), and a valid
    parquet named .pq is parquet (it was read as CSV)."""
    table = joining_users(400, 3).with_columns(pl.lit(0).alias("arm"))
    table.write_parquet(tmp_path / "log.pq")
    done = run_plan(f"input={tmp_path / 'log.pq'}", "split_arm=0", "lift=0.1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Users per arm to detect a +10.00% lift")


def test_an_omitted_input_is_one_line():
    done = run_plan("split_arm=A")
    assert done.returncode == 2
    assert done.stderr == "abtest-sim-plan: error: input= is required (e.g. " \
        "input=runs/a/unit_days.parquet)\n"  # fmt: skip


def with_pre_period(users: int = 3000, pre: int = 2, test: int = 2, seed: int = 5) -> pl.DataFrame:
    """One arm, the same users every day, each with a persistent CTR (what CUPED exploits):
    phase aa for the first ``pre`` days, ab after."""
    rng = np.random.default_rng(seed)
    activity, ctr = rng.gamma(1.0, 6.0, users), np.clip(rng.beta(2, 30, users), 1e-4, 1)
    days = pre + test
    impressions = rng.poisson(np.repeat(activity[:, None], days, axis=1))
    clicks = rng.binomial(impressions, ctr[:, None])
    day = np.tile(np.arange(1, days + 1), (users, 1))
    table = pl.DataFrame({
        "unit": np.repeat(np.arange(users), days), "arm": "control", "day": day.ravel(),
        "phase": np.where(day.ravel() <= pre, "aa", "ab"), "clicks": clicks.ravel(),
        "impressions": impressions.ravel(),
    })  # fmt: skip
    return table.filter(pl.col("impressions") > 0)


def test_the_headline_is_sized_by_default_and_its_se_is_the_spread_over_randomisations():
    """auto sizes CUPED where the data hold a pre-period (pooled without one); its planned SE
    agrees with the SD of CUPED lifts over 120 fresh A/A randomisations of the same users (each
    read by the report's own daily table), and is smaller than the pooled lift's."""
    from abtest_sim.analysis.daily_table import daily_table
    from abtest_sim.analysis.estimators import estimator

    table = with_pre_period()
    plan = plan_sample_size(table, arm="control", lift=0.05, splits=6)
    assert (plan.estimator, plan.pre_days) == ("cuped", 2)
    pooled = plan_sample_size(table, arm="control", lift=0.05, splits=6, estimator="pooled")
    assert pooled.rows[-1].reference_se > 1.1 * plan.rows[-1].reference_se
    no_pre = plan_sample_size(table.drop("phase"), arm="control", lift=0.05, splits=2)
    assert (no_pre.estimator, no_pre.pre_days) == ("pooled", 0)
    lifts = []
    for seed in range(120):
        bucket = np.random.default_rng(100 + seed).random(3000) < 0.5
        arm = pl.Series(np.where(bucket, "a", "b")).gather(table["unit"].to_numpy())
        daily = daily_table(table.with_columns(arm=arm), control="a", treatment="b")
        lifts.append(estimator("cuped").estimate(daily.ab_rows, alpha=0.05, lineage_sd=None).lift)
    assert plan.rows[-1].reference_se == pytest.approx(np.std(lifts, ddof=1), rel=0.2)


def test_pre_days_makes_a_pre_period_of_a_log_without_phases():
    table = with_pre_period()
    by_phase = plan_sample_size(table, arm="control", lift=0.05, splits=2)
    by_days = plan_sample_size(table.drop("phase"), arm="control", lift=0.05, splits=2, pre_days=2)
    assert by_days.reference_se == pytest.approx(by_phase.reference_se, rel=1e-12)
    with pytest.raises(ReportInputError, match="estimator=cuped needs a pre-period"):
        plan_sample_size(table.drop("phase"), arm="control", lift=0.05, estimator="cuped")
    with pytest.raises(ReportInputError, match="pre_days=4 leaves no test day"):
        plan_sample_size(table, arm="control", lift=0.05, pre_days=4)


def test_a_forecasts_lineage_sd_gives_the_floor(tmp_path):
    """forecast= reads the SD the forecast measured for the estimator sized; no lift below the
    floor z * SD is reachable, and the page says so."""
    table = with_pre_period(800)
    table.write_parquet(tmp_path / "log.parquet")
    validity = {"cuped": {"lineage_sd": 0.01}, "pooled": {"lineage_sd": 0.02}}
    (tmp_path / "forecast.json").write_text(json.dumps({"forecast": {"validity": validity}}))
    done = run_plan(f"input={tmp_path / 'log.parquet'}", f"forecast={tmp_path}", "lift=0.02")
    assert done.returncode == 0, done.stderr
    assert "Model-lineage SD 1.00% included" in done.stdout
    assert "detects a lift below 2.80% with 80% power" in done.stdout  # (1.96 + 0.84) * 1%
    assert done.stdout.count("unreachable") == 3  # two days and the floor's sentence
    both = run_plan(f"input={tmp_path / 'log.parquet'}", f"forecast={tmp_path}", "lineage_sd=0.1")
    assert (both.returncode, both.stderr) == (
        2,
        "abtest-sim-plan: error: give lineage_sd= or forecast=, not both\n",
    )
    wrong = run_plan(f"input={tmp_path / 'log.parquet'}", f"forecast={tmp_path / 'log.parquet'}")
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1
    assert "is not a forecast.json with a lineage SD of cuped" in wrong.stderr
