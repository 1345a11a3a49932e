"""Sweeps: Hydra multirun on the joblib and submitit launchers, the aggregate and the planner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.stats import norm
from statsmodels.stats.proportion import proportion_confint

from abtest_sim.sweep.aggregate import aggregate, flatten_config, rate
from abtest_sim.sweep.validity import lineage_variance


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

    result = run("-m", "abtest_sim.apps.aggregate", f"input={sweep}")
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
        assert row["mean_daily_lift"] == pytest.approx(ab["lift"][0])
        assert row["mean_daily_launch"] == pytest.approx(ab["launch_lift"][0])
    # both alphas share seed 0's A/A week: one A/A test, not two
    assert summary["aa_weeks"].to_list() == [1, 1]
    assert runs_csv["aa_week_id"].n_unique() == 1


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
    *,
    alpha: float,
    lift: float,
    se: float,
    launch: float,
    aa_p: float,
    aa_week: str,
    recipe: str = "reloop",
    target: float | None = None,
    reported_sd: float | None = None,
) -> None:
    folder = root / str(index)
    (folder / "report").mkdir(parents=True)
    arm = {"share": 0.5, "alpha": 0.5, "y_last": "logged", "window_days": 1, "warm_start": True}
    arm |= {"train": {"epochs": 1, "lr": 0.001, "batch_size": 4096}}
    config = {
        "seed": index,
        "world": {"n_users": 10},
        "model": {},
        "experiment": {"control": "control", "treatments": ["treatment"]},
        "arms": [
            {**arm, "name": "treatment", "recipe": recipe, "alpha": alpha},
            {**arm, "name": "control", "recipe": "baseline"},
        ],
    }
    (folder / "config.json").write_text(json.dumps(config))
    target = launch + 0.01 if target is None else target
    estimate = {"lift": lift, "se": se, "p_value": None, "launch": launch, "target": target}
    if reported_sd is not None:  # the interval the run printed, with the lineage SD it applied
        total = float(np.hypot(se, reported_sd))
        estimate |= {"total_ci_low": lift - 1.959964 * total,
                     "total_ci_high": lift + 1.959964 * total,
                     "total_p_value": float(2 * norm.sf(abs(lift) / total))}  # fmt: skip
    summary = {
        "summary": {
            "control": "control",
            "treatment": "treatment",
            "users": {"control": 100, "treatment": 102},
            "headline": "cuped",
            "aa_lift": {"lift": 0.0, "se": 0.01, "p_value": aa_p},
            "aa_week_id": aa_week,
            "estimates": {"cuped": estimate, "pooled": estimate},
        },
        "input": {"salt": f"seed-{index}"},
    }
    (folder / "report" / "summary.json").write_text(json.dumps(summary))


def test_aggregate_rates_match_an_independent_count(tmp_path):
    rng = np.random.default_rng(0)
    expected: dict[float, list] = {}
    week_p = rng.random(20)
    for index in range(40):
        alpha = (0.1, 0.5)[index % 2]
        lift, launch, aa_p = (
            0.02 + 0.01 * rng.normal(),
            0.02 + 0.003 * rng.normal(),
            week_p[index // 2],
        )
        week = f"w{index // 2}"  # the two alphas of a seed share their A/A week
        fake_run(
            tmp_path / "sweep",
            index,
            alpha=alpha,
            lift=lift,
            se=0.01,
            launch=launch,
            aa_p=aa_p,
            aa_week=week,
        )
        expected.setdefault(alpha, []).append((lift, launch, aa_p))
    summary = aggregate(tmp_path / "sweep").sort("arm.treatment.alpha")
    assert summary["arm.treatment.alpha"].to_list() == [0.1, 0.5]
    for row in summary.iter_rows(named=True):
        values = np.array(expected[row["arm.treatment.alpha"]])
        lift, launch = values[:, 0], values[:, 1]
        assert row["runs"] == len(values) and not row["is_aa"]
        rejects = np.abs(lift) / 0.01 > 1.959964
        assert row["cuped_reject"] == pytest.approx(rejects.mean())
        low, high = proportion_confint(rejects.sum(), len(values), method="wilson")
        assert (row["cuped_reject_low"], row["cuped_reject_high"]) == pytest.approx((low, high))
        covers = np.abs(lift - launch) <= 1.959964 * 0.01
        assert row["cuped_covers_launch"] == pytest.approx(covers.mean())
        # the target's expectation: each run's launch effect plus the mean bias (here +1%)
        covers_target = np.abs(lift - (launch + 0.01)) <= 1.959964 * 0.01
        assert row["cuped_covers_target"] == pytest.approx(covers_target.mean())
        assert row["cuped_bias_mean"] == pytest.approx(0.01)
        assert row["users_per_arm"] == pytest.approx(101)
    # 40 runs, 20 distinct A/A weeks; each configuration holds 20 runs, one per week
    assert summary["aa_weeks"].to_list() == [20, 20]
    assert summary["aa_week_false_positive"].to_list() == pytest.approx(
        [np.mean(week_p < 0.05)] * 2
    )
    report = (tmp_path / "sweep" / "aggregate" / "report.md").read_text()
    assert "A/A-week p-values, each distinct week once: KS test" in report
    assert "(20 weeks)" in report


def test_lineage_variance_from_aa_runs_widens_the_intervals(tmp_path):
    """A/A runs whose lifts spread more than their SEs say: the excess is the lineage variance,
    and adding it brings the false-positive rate back to the nominal level."""
    rng = np.random.default_rng(1)
    se, lineage_sd = 0.01, 0.015
    targets = []
    for index in range(400):
        lift = rng.normal(0, np.hypot(se, lineage_sd))
        targets.append(lift + rng.normal(0, 0.002))
        fake_run(
            tmp_path / "sweep",
            index,
            alpha=0.5,
            lift=lift,
            se=se,
            launch=0.0,
            aa_p=rng.random(),
            aa_week=f"w{index}",
            recipe="baseline",
            target=targets[-1],
        )
    summary = aggregate(tmp_path / "sweep").row(0, named=True)
    assert summary["is_aa"]
    # an A/A's target is reported with its spread over replicates (the lineages' divergence)
    assert summary["cuped_target_sd"] == pytest.approx(np.std(targets, ddof=1))
    assert summary["cuped_launch_mean"] == 0.0
    assert summary["cuped_reject"] > 0.2  # far above 5% without the lineage component
    assert (
        summary["cuped_reject_with_lineage_low"] < 0.05 < summary["cuped_reject_with_lineage_high"]
    )
    lineage = pl.read_csv(tmp_path / "sweep" / "aggregate" / "lineage.csv")
    row = lineage.filter(pl.col("estimator") == "cuped").row(0, named=True)
    assert row["aa_runs"] == 400
    assert row["lineage_variance_low"] < lineage_sd**2 < row["lineage_variance_high"]


@pytest.mark.parametrize(("reported_sd", "calibrated"), [(0.0, False), (0.015, True)])
def test_the_intervals_the_runs_reported_are_scored(tmp_path, reported_sd, calibrated):
    """A sweep reveals a wrong configured lineage SD: runs that printed intervals without the
    component reject far above 5% as reported; with the true SD they hold the level."""
    rng = np.random.default_rng(2)
    lifts = rng.normal(0, np.hypot(0.01, 0.015), 300)
    for index, lift in enumerate(lifts):
        fake_run(tmp_path / "sweep", index, alpha=0.5, lift=float(lift), se=0.01, launch=0.0,
                 aa_p=0.5, aa_week=f"w{index}", recipe="baseline",
                 reported_sd=reported_sd)  # fmt: skip
    row = aggregate(tmp_path / "sweep").row(0, named=True)
    rejects = np.abs(lifts) / np.hypot(0.01, reported_sd) > 1.959964
    assert row["cuped_reject_as_reported"] == pytest.approx(rejects.mean())
    assert row["cuped_covers_launch_as_reported"] == pytest.approx(1 - rejects.mean())
    assert (row["cuped_reject_as_reported_low"] < 0.05 < row["cuped_reject_as_reported_high"]) == (
        calibrated
    )
    assert "rejects (as the runs reported)" in (tmp_path / "sweep/aggregate/report.md").read_text()


def test_lineage_variance_is_the_excess_second_moment():
    lift = np.array([0.03, -0.01, 0.02, -0.04])
    se = np.array([0.01, 0.01, 0.02, 0.01])
    value = lineage_variance(lift, se)
    assert value.runs == 4
    assert value.variance == pytest.approx(np.mean(lift**2) - np.mean(se**2))
    assert value.sd == pytest.approx(np.sqrt(value.variance))
    assert value.low <= value.variance <= value.high


@pytest.mark.slow
def test_aggregate_bad_input_exits_2(tmp_path):
    result = run("-m", "abtest_sim.apps.aggregate", f"input={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "abtest-sim-aggregate: error: no finished, readable run "
        f"(config.json + report/summary.json) under {tmp_path}"
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


def test_runs_of_earlier_versions_and_bad_arms_are_read_or_named():
    """Before arm.<name>.train existed an arm's training fields were flat: still an A/A."""
    from abtest_sim.sweep.aggregate import AggregateError, is_aa_config

    flat = {"share": 0.5, "recipe": "baseline", "epochs": 1, "lr": 0.001, "batch_size": 4096}
    config = {"experiment": {"control": "a", "treatments": ["b"]},
              "arms": [{**flat, "name": "a"}, {**flat, "name": "b"}]}  # fmt: skip
    assert is_aa_config(config)
    config["arms"][1] = {**flat, "name": "b", "lr": 0.01}
    assert not is_aa_config(config)
    config["arms"][1] = {**flat, "name": "b", "colour": "red"}
    with pytest.raises(AggregateError, match="colour"):
        is_aa_config(config)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("config", "summary", "why"),
    [
        ("[]", None, "config.json is list, not an object"),
        ("null", None, "config.json is NoneType, not an object"),
        (None, {"summary": {"estimates": []}}, "summary.estimates is list"),
        (None, {"summary": {"estimates": {"cuped": {"lift": "big"}}}}, "cuped_lift is 'big'"),
        (None, {"summary": []}, "summary is list"),
        (None, {"summary": {"estimates": {"cuped": 3}}}, "estimates.cuped is int"),
    ],
)
def test_a_malformed_member_is_skipped_and_named_never_fatal(tmp_path, config, summary, why):
    for index in range(3):
        fake_run(tmp_path, index, alpha=0.5, lift=0.01, se=0.01, launch=0.0, aa_p=0.5, aa_week="w")
    if config is not None:
        (tmp_path / "1" / "config.json").write_text(config)
    if summary is not None:
        (tmp_path / "1" / "report" / "summary.json").write_text(json.dumps(summary))
    result = run("-m", "abtest_sim.apps.aggregate", f"input={tmp_path}")
    assert result.returncode == 0, result.stderr
    assert f"skipped {tmp_path / '1'}: " in result.stderr and why in result.stderr
    assert pl.read_csv(tmp_path / "aggregate" / "runs.csv").height == 2
    assert why in (tmp_path / "aggregate" / "report.md").read_text()


@pytest.mark.slow
def test_out_is_only_a_new_folder_or_the_aggregates_own_and_a_users_file_survives(tmp_path):
    sweep = tmp_path / "sweep"
    for index in range(2):
        fake_run(sweep, index, alpha=0.5, lift=0.01, se=0.01, launch=0.0, aa_p=0.5, aa_week="w")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.md").write_text("my notes")
    before = {p: p.read_bytes() for p in sweep.rglob("*") if p.is_file()}
    for out in (mine, sweep, sweep / "0" / "report", sweep / "0"):
        result = run("-m", "abtest_sim.apps.aggregate", f"input={sweep}", f"out={out}")
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert "choose a new or empty folder" in result.stderr
    assert {p: p.read_bytes() for p in sweep.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in mine.iterdir()) == ["notes.md"]
    # its own earlier output is replaced, and a file saved there by the user is kept
    assert run("-m", "abtest_sim.apps.aggregate", f"input={sweep}").returncode == 0
    (sweep / "aggregate" / "my_reading.md").write_text("kept")
    assert run("-m", "abtest_sim.apps.aggregate", f"input={sweep}").returncode == 0
    assert (sweep / "aggregate" / "my_reading.md").read_text() == "kept"
    assert (sweep / "aggregate" / "summary.csv").is_file()


def test_configurations_are_labelled_in_words_not_json():
    from abtest_sim.sweep.aggregate import flatten_config
    from abtest_sim.sweep.plots import configuration_label

    recipe = {"_target_": "my_recipes.anchored", "weight": 2.0}
    flat = flatten_config({"arms": [{"name": "treatment", "recipe": recipe, "alpha": 0.3}]})
    keys = ["arm.treatment.recipe", "arm.treatment.alpha"]
    assert configuration_label(flat, keys) == "recipe=anchored(weight 2.0), alpha=0.3"
    assert configuration_label({"arm.treatment.recipe": "reloop"}, keys[:1]) == "recipe=reloop"
    assert configuration_label({}, []) == "all"
