"""End-to-end tests of the A/A/B experiment on the smoke config (a few thousand users, 5 days),
through the CLI and in process with the real trainer (``slow``); the day loop's state machine is
tested fast, with a stub trainer, in test_day_loop.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from hydra import compose, initialize_config_dir

import reloop
from abtest_sim.apps.simulate import CONF_DIR, simulate
from abtest_sim.sim import logs
from abtest_sim.sim.config import ConfigError, SimulationConfig
from abtest_sim.sim.lineage import assign_users
from abtest_sim.sim.loop import run_experiment


def compose_config(*overrides: str):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("simulate", overrides=["experiment=smoke", *overrides])


def cli_args(*args: str) -> list[str]:
    """``python -m abtest_sim ARGS``, with no warm-up cache unless the test asks for one."""
    if not any(arg.startswith("warmup_cache=") for arg in args):
        args = (*args, "warmup_cache=null")
    return [sys.executable, "-m", "abtest_sim", *args]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(cli_args(*args), capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_smoke_run_writes_the_contract_layout(reference_run):
    config = SimulationConfig.from_hydra(compose_config())
    spec = config.experiment
    days = range(spec.warmup_days, spec.warmup_days + spec.test_days)
    for arm in ("control", "treatment"):
        for day in days:
            assert logs.partition_path(reference_run / "logs", arm, day).is_file()
        for day in days[:-1]:  # no retraining after the last day
            assert (reference_run / "models" / f"arm={arm}" / f"day={day}.pt").is_file()
    for name in ("daily.csv", "summary.json", "report.md"):
        assert (reference_run / "report" / name).is_file()
    daily = pl.read_csv(reference_run / "report" / "daily.csv")
    for column in ("day", "phase", "lift", "ci_low", "ci_high", "p_value", "launch_lift"):
        assert column in daily.columns
    assert (reference_run / "models" / "start.pt").is_file()
    for arm in ("control", "treatment"):
        for day in days:  # every arm's launch lineage logs every day
            assert logs.partition_path(reference_run / "launch" / "logs", arm, day).is_file()
    frame = logs.scan(reference_run / "logs", ["treatment"]).collect()
    assert {"pctr", "click", "model_version"} <= set(frame.columns)
    assert "p_true" not in frame.columns  # the oracle is kept apart from the logs
    truth = logs.scan(reference_run / "truth" / "served", ["treatment"]).collect()
    assert truth.columns == [*logs.TRUTH_KEYS, "p_true"] and truth.height == frame.height
    assert truth.select(logs.TRUTH_KEYS).equals(frame.select(logs.TRUTH_KEYS))
    assert frame["model_version"].max() == spec.test_days - 1


@pytest.mark.slow
def test_launch_lineages_serve_everyone_and_give_the_launch_lift(reference_run):
    config = SimulationConfig.from_hydra(compose_config())
    spec = config.experiment
    days = range(spec.first_test_day, spec.first_test_day + spec.test_days)
    for day in days:
        truth = pl.read_parquet(reference_run / "truth" / f"day={day}.parquet").sort("arm")
        served = logs.scan(reference_run / "logs", ["control", "treatment"], [day]).collect()
        launch = logs.scan(reference_run / "launch" / "logs", ["control"], [day]).collect()
        launch_truth = logs.scan(
            reference_run / "launch" / "truth" / "served", ["control"], [day]
        ).collect()
        # every request of the day, served by each launch lineage
        assert truth["impressions"].to_list() == [served.height, served.height]
        assert launch.height == served.height
        assert truth.filter(pl.col("arm") == "control")["true_clicks"][0] == pytest.approx(
            launch_truth["p_true"].cast(pl.Float64).sum(), rel=1e-9
        )
    daily = pl.read_csv(reference_run / "report" / "daily.csv", infer_schema_length=None)
    day_rows = daily.filter(pl.col("day") != "Average")
    truth = pl.concat(pl.read_parquet(reference_run / "truth" / f"day={d}.parquet") for d in days)
    ctr = truth.with_columns(ctr=pl.col("true_clicks") / pl.col("impressions"))
    expected = (
        ctr.filter(pl.col("arm") == "treatment")["ctr"].to_numpy()
        / ctr.filter(pl.col("arm") == "control")["ctr"].to_numpy()
        - 1
    )
    assert day_rows["launch_lift"].to_numpy() == pytest.approx(expected, rel=1e-9)
    # In the A/A phase both recipes train alike: one shared lineage, a launch effect of exactly 0.
    aa = day_rows.filter(pl.col("phase") == "aa")
    assert (aa["launch_lift"] == 0.0).all()
    assert (day_rows.filter(pl.col("phase") == "ab")["launch_lift"] != 0.0).all()
    # The test target is the served users' true CTR ratio.
    served_truth = pl.read_parquet(reference_run / "unit_days.parquet").group_by("day", "arm")
    served_truth = served_truth.agg(ctr=pl.col("true_clicks").sum() / pl.col("impressions").sum())
    wide = served_truth.pivot("arm", index="day", values="ctr").sort("day")
    target = (wide["treatment"] / wide["control"] - 1).to_numpy()
    assert day_rows["target_lift"].to_numpy() == pytest.approx(target, rel=1e-9)


@pytest.mark.slow
def test_an_aa_has_a_launch_effect_of_exactly_zero_and_one_launch_lineage(tmp_path):
    result = cli("experiment=smoke", f"run_dir={tmp_path}", "arm.treatment.recipe=baseline")
    assert result.returncode == 0, result.stderr
    daily = pl.read_csv(tmp_path / "report" / "daily.csv", infer_schema_length=None)
    assert (daily["launch_lift"] == 0.0).all()
    assert daily["target_lift"].null_count() == 0  # the lineages' own divergence: reported
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())["summary"]
    for estimate in summary["estimates"].values():
        assert estimate["launch"] == 0.0
    # never forked: one lineage, trained once a night (its models under the first arm's name)
    assert not (tmp_path / "launch" / "models" / "arm=treatment").exists()


def test_the_salt_derives_from_the_seed_unless_fixed():
    configs = [
        SimulationConfig.from_hydra(compose_config(f"seed={seed}", *extra))
        for seed, extra in (
            (0, ()),
            (1, ()),
            (0, ("experiment.salt=fixed",)),
            (1, ("experiment.salt=fixed",)),
        )
    ]
    assert configs[0].salt != configs[1].salt
    assert configs[2].salt == configs[3].salt == "fixed"
    n = configs[0].world.n_users
    splits = [assign_users(n, [0.5, 0.5], c.salt) for c in configs]
    assert not np.array_equal(splits[0], splits[1])
    assert np.array_equal(splits[2], splits[3])


@pytest.mark.slow
def test_burnin_serves_everyone_then_the_arms_start_from_its_model(tmp_path):
    result = cli("experiment=smoke", f"run_dir={tmp_path}", "experiment.burnin_days=2")
    assert result.returncode == 0, result.stderr
    config = SimulationConfig.from_hydra(compose_config("experiment.burnin_days=2"))
    spec = config.experiment
    assert [spec.phase_of(d) for d in range(spec.first_test_day + 1)] == [
        "warmup",
        "burnin",
        "burnin",
        "aa",
    ]
    burnin = logs.scan(tmp_path / "logs", ["burnin"]).collect()
    assert sorted(burnin["day"].unique().to_list()) == [1, 2]
    assert burnin["model_version"].unique().sort().to_list() == [0, 1]
    start = reloop.load(tmp_path / "models" / "start.pt")
    last = reloop.load(tmp_path / "models" / "arm=burnin" / "day=2.pt")
    first_test = logs.scan(tmp_path / "logs", ["control"], [spec.first_test_day]).collect()
    assert np.array_equal(start.predict(first_test), last.predict(first_test))
    unit_days = pl.read_parquet(tmp_path / "unit_days.parquet")
    assert unit_days["day"].min() == 1 and unit_days["day"].max() == spec.test_days


def test_treatment_switches_recipe_only_in_the_ab_phase():
    # the A/B phase starts on day warmup + aa_days; the last A/A night already trains ReLoop
    config = SimulationConfig.from_hydra(compose_config())
    spec = config.experiment
    first_ab = spec.warmup_days + spec.aa_days
    assert [spec.phase_of(d) for d in range(first_ab - 1, first_ab + 1)] == ["aa", "ab"]
    assert config.arm("treatment").loss_on("aa") == "bce"
    assert config.arm("treatment").loss_on("ab") == "reloop"
    assert config.arm("control").loss_on("ab") == "bce"


@pytest.mark.slow
def test_same_seed_same_report_bytes(reference_run, tmp_path):
    result = cli("experiment=smoke", f"run_dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    for name in ("daily.csv",):
        assert (tmp_path / "report" / name).read_bytes() == (
            reference_run / "report" / name
        ).read_bytes()


@pytest.mark.slow
def test_arms_retrained_in_worker_processes_give_the_same_run(tmp_path):
    """retrain_workers=2 (each arm's nightly training in its own process, one thread each) gives
    the run of retraining in turn with one thread."""
    reports = []
    for workers in (1, 2):
        run_dir = tmp_path / f"workers{workers}"
        result = cli(
            "experiment=smoke",
            f"run_dir={run_dir}",
            "torch_threads=1",
            f"retrain_workers={workers}",
        )
        assert result.returncode == 0, result.stderr
        reports.append((run_dir / "report" / "daily.csv").read_bytes())
    assert reports[0] == reports[1]


def kill_after_day(args: list[str], run_dir: Path, day: int) -> int:
    """Start ``args``, SIGKILL it once its checkpoint is past ``day``; the last day checkpointed."""
    state = run_dir / "checkpoint" / "state.json"
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if state.exists() and json.loads(state.read_text())["last_day"] >= day:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the run finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (run_dir / "report" / "daily.csv").exists()
    return json.loads(state.read_text())["last_day"]


@pytest.mark.slow
def test_sigkill_after_day_3_then_resume_equals_uninterrupted(reference_run, tmp_path):
    killed_after = kill_after_day(cli_args("experiment=smoke", f"run_dir={tmp_path}"), tmp_path, 3)
    assert killed_after >= 3

    result = cli("experiment=smoke", f"run_dir={tmp_path}", "resume=true")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "report" / "daily.csv").read_bytes() == (
        reference_run / "report" / "daily.csv"
    ).read_bytes()
    resumed = logs.scan(tmp_path / "logs").sort("arm", "day", "request_id", "position").collect()
    reference = (
        logs.scan(reference_run / "logs").sort("arm", "day", "request_id", "position").collect()
    )
    assert resumed.equals(reference)
    last = sorted((reference_run / "models" / "arm=treatment").glob("*.pt"))[-1]
    a = torch.load(last, weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "models" / "arm=treatment" / last.name, weights_only=True)[
        "state_dict"
    ]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_resume_refuses_a_different_config(reference_run):
    result = cli(
        "experiment=smoke", f"run_dir={reference_run}", "resume=true", "arm.treatment.alpha=0.3"
    )
    assert result.returncode == 2
    assert "different config" in result.stderr


@pytest.mark.slow
def test_resume_refuses_other_execution_settings(reference_run):
    result = cli("experiment=smoke", f"run_dir={reference_run}", "resume=true", "retrain_workers=2")
    assert result.returncode == 2
    assert "retrain_workers=1" in result.stderr and "resume with the same" in result.stderr


@pytest.mark.slow
def test_without_warm_start_every_night_restarts_from_the_warmup_model(tmp_path):
    """warm_start=false: each version starts from the warm-up model, not from yesterday's, so its
    user vocabulary is the warm-up's plus the users of its own window, nothing in between."""
    overrides = ("arm.control.warm_start=false", "experiment.aa_days=3", "retrain_workers=2")
    config = SimulationConfig.from_hydra(compose_config(*overrides))
    run_experiment(config, tmp_path)
    warmup = reloop.load(tmp_path / "models" / "warmup.pt")
    warmup_users = set(warmup.feature_map.categorical[0].vocabulary)
    spec = config.experiment
    for day in range(spec.warmup_days + 1, spec.warmup_days + spec.test_days - 1):
        model = reloop.load(tmp_path / "models" / "arm=control" / f"day={day}.pt")
        window = logs.scan(tmp_path / "logs", ["control"], [day]).collect()
        users = model.feature_map.categorical[0]
        assert users.name == "user_id"
        assert set(users.vocabulary) == warmup_users | set(window["user_id"].to_list())
        treated = reloop.load(tmp_path / "models" / "arm=treatment" / f"day={day}.pt")
        assert len(treated.feature_map.categorical[0].vocabulary) > len(users.vocabulary)


@pytest.mark.slow
def test_retraining_workers_stop_when_the_run_is_killed(tmp_path):
    """A SIGKILLed run cannot shut its worker pool down: the workers notice and exit."""
    script = (
        "import time\n"
        "from abtest_sim.sim.retraining import retrain_pool\n"
        "pool = retrain_pool(1, 1)\n"
        "pool.submit(time.sleep, 120)\n"
        "time.sleep(3)\n"
        "print(*pool._processes, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and _alive(worker):
        time.sleep(0.2)
    assert not _alive(worker)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited, only its parent's init has to reap it


@pytest.mark.slow
def test_cached_warmup_gives_the_same_result(reference_run, tmp_path):
    cache = tmp_path / "cache"
    for name in ("first", "second"):
        result = cli(
            "experiment=smoke",
            f"run_dir={tmp_path / name}",
            f"warmup_cache={cache}",
            "arm.treatment.alpha=0.3" if name == "second" else "arm.treatment.alpha=0.5",
        )
        assert result.returncode == 0, result.stderr
    assert len(list(cache.iterdir())) == 1  # alpha does not change the warm-up
    assert logs.list_partitions(tmp_path / "first" / "logs", ["warmup"])
    assert not logs.list_partitions(tmp_path / "second" / "logs", ["warmup"])  # taken from cache
    assert (tmp_path / "first" / "report" / "daily.csv").read_bytes() == (
        reference_run / "report" / "daily.csv"
    ).read_bytes()
    # A run that took its start from the cache, killed mid-test, resumes to the same bytes, and a
    # finished one resumes too (it has no models/warmup.pt: the cache's run simulated that).
    third = tmp_path / "third"
    args = cli_args("experiment=smoke", f"run_dir={third}", f"warmup_cache={cache}")
    assert kill_after_day(args, third, 3) >= 3
    assert not (third / "models" / "warmup.pt").exists()
    for _ in ("after the kill", "once finished"):
        resumed = cli(
            "experiment=smoke", f"run_dir={third}", f"warmup_cache={cache}", "resume=true"
        )
        assert resumed.returncode == 0, resumed.stderr
        assert (third / "report" / "daily.csv").read_bytes() == (
            reference_run / "report" / "daily.csv"
        ).read_bytes()


@pytest.mark.slow
def test_paired_aa_with_identical_recipes_gives_zero_difference(tmp_path):
    cfg = compose_config("experiment.paired=true", "arm.treatment.recipe=baseline")
    config = SimulationConfig.from_hydra(cfg)
    unit_days = run_experiment(config, tmp_path)
    control = unit_days.filter(pl.col("arm") == "control").drop("arm")
    treatment = unit_days.filter(pl.col("arm") == "treatment").drop("arm")
    assert control.height > 0
    assert control.equals(treatment)  # same users, same models, same clicks: zero difference
    log_a = logs.scan(tmp_path / "logs", ["control"]).drop("arm").collect()
    log_b = logs.scan(tmp_path / "logs", ["treatment"]).drop("arm").collect()
    assert log_a.equals(log_b)


@pytest.mark.slow
def test_arms_see_only_their_own_users(reference_run):
    config = SimulationConfig.from_hydra(compose_config())
    assignment = assign_users(config.world.n_users, [0.5, 0.5], config.salt)
    for index, arm in enumerate(("control", "treatment")):
        users = logs.scan(reference_run / "logs", [arm]).select("user_id").collect()
        assert (assignment[users["user_id"].to_numpy()] == index).all()


def test_assignment_honours_shares():
    assignment = assign_users(200_000, [0.2, 0.3, 0.5], "salt")
    shares = np.bincount(assignment, minlength=3) / assignment.size
    assert shares == pytest.approx([0.2, 0.3, 0.5], abs=0.005)
    assert not np.array_equal(assignment, assign_users(200_000, [0.2, 0.3, 0.5], "other"))


@pytest.mark.slow
def test_warmup_model_is_shared_and_loadable(reference_run):
    warmup = reloop.load(reference_run / "models" / "warmup.pt")
    day1 = logs.scan(reference_run / "logs", ["control"]).collect()
    first_day = day1.filter(pl.col("day") == day1["day"].min())
    assert (first_day["model_version"] == 0).all()
    assert warmup.predict(first_day).shape == (first_day.height,)


@pytest.mark.slow
def test_simulate_function_returns_the_summary(tmp_path):
    summary = simulate(compose_config("experiment.ab_days=1", "experiment.aa_days=1"), tmp_path)
    assert summary
    assert (tmp_path / "report" / "summary.json").is_file()


@pytest.mark.slow
def test_existing_run_dir_without_resume_is_refused(tmp_path):
    cfg = compose_config()
    config = SimulationConfig.from_hydra(cfg)
    run_experiment(config, tmp_path)
    with pytest.raises(ConfigError, match="already holds a run"):
        run_experiment(config, tmp_path)
