"""Sweeps: Hydra multirun on the joblib and submitit launchers, the aggregate and the planner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

from abtest_sim.aggregate import aggregate, flatten_config, rate, served_true_lift
from abtest_sim.plan import plan_sample_size, predicted_power
from abtest_sim.stats import per_user_variance, users_per_arm


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_joblib_multirun_with_two_workers_then_aggregate(tmp_path):
    sweep = tmp_path / "sweep"
    result = run(
        "-m",
        "abtest_sim",
        "-m",
        "experiment=smoke",
        "seed=0",
        "arm.treatment.alpha=0.3,0.5",
        f"hydra.sweep.dir={sweep}",
        "hydra.launcher.n_jobs=2",
        f"warmup_cache={tmp_path / 'cache'}",
        "torch_threads=1",
        "retrain_workers=2",  # inside a loky worker: arms retrain in turn, no nested pool
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Joblib" in result.stdout + result.stderr  # the joblib launcher ran the jobs
    runs = sorted(p for p in sweep.iterdir() if (p / "report" / "summary.json").is_file())
    assert len(runs) == 2
    # one world and seed: the second alpha reused the first one's warm-up
    assert len(list((tmp_path / "cache").iterdir())) == 1

    result = run("-m", "abtest_sim.aggregate", f"input={sweep}")
    assert result.returncode == 0, result.stderr
    summary = pl.read_csv(sweep / "aggregate" / "summary.csv")
    assert summary.height == 2
    assert summary["arm.treatment.alpha"].to_list() == [0.3, 0.5]
    for name in (
        "report.md",
        "runs.csv",
        "lift_vs_config.png",
        "power_vs_users.png",
        "aa_pvalues.png",
    ):
        assert (sweep / "aggregate" / name).is_file()
    runs_csv = pl.read_csv(sweep / "aggregate" / "runs.csv")
    for row in runs_csv.iter_rows(named=True):
        daily = pl.read_csv(Path(row["run"]) / "report" / "daily.csv", infer_schema_length=None)
        ab = daily.filter((pl.col("day") == "Average") & (pl.col("phase") == "ab"))
        assert row["lift"] == pytest.approx(ab["lift"][0])


@pytest.mark.slow
def test_one_job_through_the_submitit_local_launcher(tmp_path):
    sweep = tmp_path / "sweep"
    result = run(
        "-m",
        "abtest_sim",
        "-m",
        "experiment=smoke",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=10",
        f"hydra.sweep.dir={sweep}",
        "warmup_cache=null",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (sweep / "0" / "report" / "daily.csv").is_file()
    assert list(sweep.glob(".submitit/*"))  # submitit's own job folder


def fake_run(
    root: Path,
    index: int,
    alpha: float,
    lift: float,
    p: float,
    aa_p: float,
    true_lift: float,
    covered: bool,
) -> None:
    folder = root / str(index)
    (folder / "report").mkdir(parents=True)
    config = {
        "seed": index,
        "world": {"n_users": 10},
        "model": {},
        "experiment": {},
        "arms": [{"name": "treatment", "alpha": alpha}, {"name": "control", "alpha": 0.5}],
    }
    (folder / "config.json").write_text(json.dumps(config))
    summary = {
        "summary": {
            "control": "control",
            "treatment": "treatment",
            "users": {"control": 100, "treatment": 102},
        }
    }
    (folder / "report" / "summary.json").write_text(json.dumps(summary))
    pl.DataFrame(
        {
            "day": ["1", "Average", "Average"],
            "phase": ["aa", "aa", "ab"],
            "lift": [0.0, 0.001, lift],
            "se": [0.01, 0.01, 0.01],
            "ci_low": [0.0, 0.0, lift - 0.02],
            "ci_high": [0.0, 0.0, lift + 0.02],
            "p_value": [0.5, aa_p, p],
            "true_lift": [0.0, 0.0, true_lift],
            "covers_true": [True, True, covered],
            "ab_minus_aa": [None, None, lift],
            "ab_minus_aa_p_value": [None, None, p],
        }
    ).write_csv(folder / "report" / "daily.csv")


def test_aggregate_rates_match_an_independent_count(tmp_path):
    rng = np.random.default_rng(0)
    expected = {}
    for index in range(30):
        alpha = (0.1, 0.5)[index % 2]
        p, aa_p = rng.random() * (0.2 if alpha == 0.5 else 1.0), rng.random()
        covered = bool(rng.random() < 0.9)
        fake_run(tmp_path / "sweep", index, alpha, 0.01 * rng.normal(), p, aa_p, 0.01, covered)
        expected.setdefault(alpha, []).append((p < 0.05, aa_p < 0.05, covered))
    summary = aggregate(tmp_path / "sweep").sort("arm.treatment.alpha")
    assert summary["arm.treatment.alpha"].to_list() == [0.1, 0.5]
    for row in summary.iter_rows(named=True):
        flags = np.array(expected[row["arm.treatment.alpha"]])
        assert row["runs"] == len(flags)
        assert row["power"] == pytest.approx(flags[:, 0].mean())
        assert row["aa_false_positive_rate"] == pytest.approx(flags[:, 1].mean())
        assert row["coverage"] == pytest.approx(flags[:, 2].mean())
        low, high = proportion_confint(flags[:, 0].sum(), len(flags), method="wilson")
        assert (row["power_low"], row["power_high"]) == pytest.approx((low, high))
        assert row["users_per_arm"] == pytest.approx(101)
        assert row["power_predicted"] == pytest.approx(predicted_power(0.01, 0.01))


def test_aggregate_bad_input_exits_2(tmp_path):
    result = run("-m", "abtest_sim.aggregate", f"input={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"abtest-sim-aggregate: error: no finished runs (config.json + report/summary.json) "
        f"under {tmp_path}"
    ]


def test_flatten_config_names_arm_fields():
    flat = flatten_config(
        {
            "seed": 3,
            "world": {"n_users": 5, "weekday_effect": [0, 1]},
            "arms": [{"name": "treatment", "alpha": 0.3}],
        }
    )
    assert flat == {
        "seed": 3,
        "world.n_users": 5,
        "world.weekday_effect": "[0, 1]",
        "arm.treatment.alpha": 0.3,
    }


def test_rate_is_wilson():
    r = rate([True, False, False, True, False])
    assert r.value == pytest.approx(0.4)
    assert (r.low, r.high) == pytest.approx(proportion_confint(2, 5, method="wilson"))


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
    rows = plan_sample_size(table, arm="control", lift=0.02, splits=6)
    per_user = per_user_variance(table["clicks"].to_numpy(), table["impressions"].to_numpy())
    assert rows[0].users_per_arm == pytest.approx(users_per_arm(per_user, lift=0.02), rel=0.05)


def test_planner_se_matches_the_spread_of_simulated_tests():
    """The planned SE of a 3-day mean lift agrees with the SD of lifts over simulated A/As."""
    table = synthetic_unit_days(4_000, 3, 2)
    planned = plan_sample_size(table, arm="control", lift=0.05, splits=8)[-1]
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


def test_served_true_lift_is_the_mean_daily_ratio_of_expected_ctr(tmp_path):
    table = pl.DataFrame(
        {
            "unit": [1, 2, 3, 4, 1, 2, 3, 4],
            "arm": ["a", "a", "b", "b"] * 2,
            "day": [1, 1, 1, 1, 2, 2, 2, 2],
            "phase": ["aa"] * 4 + ["ab"] * 4,
            "clicks": [0] * 8,
            "impressions": [10, 10, 10, 10, 10, 30, 20, 20],
            "true_clicks": [1.0, 1.0, 9.0, 9.0, 1.0, 3.0, 2.2, 2.2],
        }
    )
    table.write_parquet(tmp_path / "unit_days.parquet")
    # A/B day 2 only: control 4/40 = 0.1, treatment 4.4/40 = 0.11 -> +10%
    assert served_true_lift(tmp_path / "unit_days.parquet", "a", "b") == pytest.approx(0.10)
    assert served_true_lift(tmp_path / "missing.parquet", "a", "b") is None
