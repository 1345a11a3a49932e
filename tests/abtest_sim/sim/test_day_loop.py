"""The day loop as a state machine, in process and fast: a world of a few hundred users and the
stub trainer of conftest.py (a fixed scoring function; a night only bumps the versions), driven
through warm-up -> burn-in -> split -> A/A -> A/B."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from abtest_sim.sim import logs
from abtest_sim.sim.lineage import assign_users
from abtest_sim.sim.loop import run_experiment
from abtest_sim.sim.rundir import RunDir, prepare_run_dir
from abtest_sim.sim.simulation import Simulation


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, tiny, stub_trainer):
    """The tiny run (days 0-1 warm-up, 2 burn-in, 3 A/A, 4-5 A/B): config, run dir, table."""
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    config = tiny()
    return config, run_dir, run_experiment(config, run_dir, trainer=stub_trainer(run_dir))


def test_the_stages_follow_the_phases_and_the_nights_train_the_right_lineages(
    tmp_path, tiny, stub_trainer
):
    config = tiny(aa_days=2)  # days 0-1 warm-up, 2 burn-in, 3-4 A/A, 5-6 A/B
    spec, run_dir, trainer = config.experiment, RunDir(tmp_path), stub_trainer(tmp_path)
    simulation = Simulation(config, run_dir, trainer=trainer)
    prepare_run_dir(config, tmp_path, resume=False)
    stages = []
    for day in range(spec.last_day + 1):
        stages.append((spec.phase_of(day), simulation.stage))
        simulation.simulate_day(day)
    assert (
        stages
        == [("warmup", "warmup")] * 2
        + [("burnin", "burnin")]
        + [("aa", "test")] * 2
        + [("ab", "test")] * 2
    )
    assert spec.test_day_phases() == {1: "aa", 2: "aa", 3: "ab", 4: "ab"}
    # night 1 ends the warm-up (the first model), night 2 the burn-in (the split)
    assert run_dir.warmup_model.is_file()
    assert json.loads(run_dir.start_model.read_text()) == {"version": 1}  # the burn-in's last
    control, launch = ("test", "control", "bce"), ("launch", "control", "bce")
    ab = [control, ("test", "treatment", "reloop"), launch, ("launch", "treatment", "reloop")]
    assert trainer.nights == {
        2: [("burnin", "burnin", "bce")],
        3: [control, ("test", "treatment", "bce"), launch],  # one launch lineage in the A/A
        4: ab,  # forked the night before the A/B
        5: ab,
    }
    versions = logs.scan(run_dir.logs).group_by("arm", "day").agg(pl.col("model_version").unique())
    served = {
        (r["arm"], r["day"]): r["model_version"] for r in versions.collect().iter_rows(named=True)
    }
    assert served == {
        ("warmup", 0): [0], ("warmup", 1): [0], ("burnin", 2): [0],
        **{(arm, day): [day - 3] for arm in ("control", "treatment") for day in range(3, 7)},
    }  # fmt: skip


def test_each_arm_serves_its_own_users_and_the_launch_lineages_everyone(uninterrupted):
    config, root, _ = uninterrupted
    run_dir = RunDir(root)
    assignment = assign_users(config.world.n_users, [0.5, 0.5], config.salt)
    for index, arm in enumerate(config.arm_names):
        users = logs.scan(run_dir.logs, [arm]).collect()["user_id"].to_numpy()
        assert len(users) and (assignment[users] == index).all()
    keys = ["request_id", "position"]
    for day in config.experiment.test_day_range:
        test = logs.scan(run_dir.logs, config.arm_names, [day]).collect().sort(keys)
        for arm in config.arm_names:  # every request, under each arm's name
            launch = logs.scan(run_dir.launch.logs, [arm], [day]).collect().sort(keys)
            assert launch.select("user_id", *keys).equals(test.select("user_id", *keys))
    for day in (0, 1, 2):  # warm-up and burn-in serve every request of their day
        frame = logs.scan(run_dir.logs, None, [day]).collect()
        assert frame["request_id"].n_unique() == frame["request_id"].max() + 1
    for arm in config.arm_names:  # one launch lineage through the A/A; forked on night 3
        assert [run_dir.launch.model(arm, night).is_file() for night in (3, 4)] == [True, True]


def test_logs_hold_no_truth_and_the_truth_is_only_in_its_partitions(uninterrupted, frames_of):
    config, root, unit_days = uninterrupted
    run_dir = RunDir(root)
    with_truth = {path for path, frame in frames_of(root).items() if "p_true" in frame.columns}
    assert with_truth
    assert all(path.startswith(("truth/served/", "launch/truth/served/")) for path in with_truth)
    for area in (run_dir.test, run_dir.launch):
        for part in logs.list_partitions(area.logs):
            logged = pl.read_parquet(part.path)
            assert not set(logs.TRUTH_COLUMNS) & set(logged.columns)
            truth = pl.read_parquet(logs.partition_path(area.served_truth, part.arm, part.day))
            assert truth.columns == [*logs.TRUTH_KEYS, "p_true"]
            assert truth.select(logs.TRUTH_KEYS).equals(logged.select(logs.TRUTH_KEYS))
    sums = (
        logs.scan(run_dir.served_truth, config.arm_names).group_by("arm")
        .agg(pl.col("p_true").cast(pl.Float64).sum()).sort("arm").collect()
    )  # fmt: skip
    by_arm = unit_days.group_by("arm").agg(pl.col("true_clicks").sum()).sort("arm")
    np.testing.assert_allclose(by_arm["true_clicks"], sums["p_true"], rtol=1e-9)
    aa = pl.read_parquet(run_dir.truth(3))  # one launch lineage: one truth under both names
    assert aa["arm"].to_list() == ["control", "treatment"] and aa["true_clicks"].n_unique() == 1


@pytest.mark.parametrize(
    ("stop_on_night", "last_day"),
    [(-1, 0), (2, 1), (3, 2), (4, 3)],
    ids=["in the warm-up", "in the burn-in", "after the split", "after the fork"],
)
def test_a_run_stopped_mid_night_resumes_to_the_uninterrupted_run(
    uninterrupted, tmp_path, stub_trainer, frames_of, stop_on_night, last_day
):
    config, whole, reference = uninterrupted
    with pytest.raises(stub_trainer.Interrupted):
        run_experiment(
            config, tmp_path, trainer=stub_trainer(tmp_path, stop_on_night=stop_on_night)
        )
    assert json.loads(RunDir(tmp_path).checkpoint_state.read_text())["last_day"] == last_day
    resumed = run_experiment(config, tmp_path, resume=True, trainer=stub_trainer(tmp_path))
    assert resumed.equals(reference)
    a, b = frames_of(whole), frames_of(tmp_path)
    assert a.keys() == b.keys() and all(a[path].equals(b[path]) for path in a)
    models = sorted(p.relative_to(whole) for p in whole.rglob("*.pt"))
    assert models == sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.pt"))
    assert all((whole / p).read_text() == (tmp_path / p).read_text() for p in models)


def test_a_cached_start_gives_the_same_test(uninterrupted, tmp_path, stub_trainer):
    config, whole, reference = uninterrupted
    cache = tmp_path / "cache"
    for name in ("fills", "reads"):
        run_dir = tmp_path / name
        table = run_experiment(config, run_dir, warmup_cache=cache, trainer=stub_trainer(run_dir))
        assert table.equals(reference)
    assert not logs.list_partitions(RunDir(tmp_path / "reads").logs, ["warmup", "burnin"])
    for root in ("logs", "launch/logs"):
        days = config.experiment.test_day_range
        logged = logs.scan(whole / root, None, days).collect()
        assert logged.equals(logs.scan(tmp_path / "reads" / root, None, days).collect())


def test_paired_arms_serve_everyone_and_are_their_own_launch(tmp_path, tiny, stub_trainer):
    config = tiny(paired=True)
    unit_days = run_experiment(config, tmp_path, trainer=stub_trainer(tmp_path))
    control = unit_days.filter(pl.col("arm") == "control").drop("arm")
    treatment = unit_days.filter(pl.col("arm") == "treatment").drop("arm")
    assert control.height and control.equals(treatment)
    assert not (tmp_path / "launch").exists() and not RunDir(tmp_path).truth(3).exists()
