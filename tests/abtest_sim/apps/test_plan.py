"""abtest-sim-plan: the users it sizes from are those of the days it sizes, lifts a CTR can have,
and its input read by the one table reader (.pq parquet, an arm column of numbers)."""

from __future__ import annotations

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
    rows = plan_sample_size(table, arm="control", lift=0.05, splits=3)
    first_three = plan_sample_size(table.filter(pl.col("day") <= 3), arm="control", lift=0.05,
                                   splits=3)  # fmt: skip
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
    done = run_plan(f"input={tmp_path / 'log.pq'}", "split_arm=0", "phase=null", "lift=0.1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Users per arm to detect a +10.00% lift")


def test_an_omitted_input_is_one_line():
    done = run_plan("split_arm=A")
    assert done.returncode == 2
    assert done.stderr == "abtest-sim-plan: error: input= is required (e.g. " \
        "input=runs/a/unit_days.parquet)\n"  # fmt: skip
