"""An arm's serving policy, plugged in by ``_target_`` from a module outside the package: it serves
the arm (and its launch lineage) in the A/B phase, the lineage's model still logs its pCTR, and a
policy that does not import, takes the wrong arguments or returns what cannot be served is
refused in one line. In process, with the stub trainer of conftest.py."""

from __future__ import annotations

import textwrap

import numpy as np
import polars as pl
import pytest

from abtest_sim.sim import logs
from abtest_sim.sim.config import ConfigError
from abtest_sim.sim.errors import PolicyFailed
from abtest_sim.sim.loop import run_experiment
from abtest_sim.sim.rundir import RunDir
from abtest_sim.world import World

MY_POLICIES = textwrap.dedent(
    '''
    import numpy as np
    from abtest_sim.sim.serving import rank


    def popular_first(observation, rows, model, slate_size):
        """Not personalised: the candidates retrieval returns most often today, first."""
        candidates = observation.candidates[rows]
        counts = np.bincount(observation.candidates.ravel())
        order = np.argsort(-counts[candidates], axis=1, kind="stable")[:, :slate_size]
        return np.take_along_axis(candidates, order, axis=1)


    def shuffle_top(observation, rows, model, slate_size, swap=True):
        """The model's ranking with its top two swapped."""
        slates = rank(model, observation, rows, slate_size)
        items = slates.items.copy()
        if swap:
            items[:, [0, 1]] = items[:, [1, 0]]
        return items


    def outside(observation, rows, model, slate_size):
        return np.full((len(rows), slate_size), -1)


    def broken(observation, rows, model, slate_size):
        raise RuntimeError("no model\\nhere")


    def two_arguments(observation, rows):
        return None
    '''
)


@pytest.fixture
def my_policies(tmp_path_factory, monkeypatch):
    folder = tmp_path_factory.mktemp("mine")
    (folder / "my_fast_policies.py").write_text(MY_POLICIES)
    monkeypatch.syspath_prepend(str(folder))
    return folder


def treated(tiny, target: str, **experiment):
    arms = {"control": {}, "treatment": {"policy": {"_target_": target}}}
    return tiny(arms=arms, **experiment)


def test_a_policy_from_outside_the_package_serves_the_ab_phase(
    my_policies, tmp_path, tiny, stub_trainer
):
    config = treated(tiny, "my_fast_policies.popular_first")
    run_experiment(config, tmp_path / "run", trainer=stub_trainer(tmp_path / "run"))
    run_dir, spec = RunDir(tmp_path / "run"), config.experiment
    world = World(config.world, config.seed)
    for day in spec.test_day_range:
        observation = world.observe(world.begin_day(day))
        counts = np.bincount(observation.candidates.ravel())
        for root in (run_dir.logs, run_dir.launch.logs):
            for arm in config.arm_names:
                frame = logs.scan(root, [arm], [day]).collect().sort("request_id", "position")
                shown = counts[frame["item_id"].to_numpy().reshape(-1, spec.slate_size)]
                popular = bool((shown[:, :-1] >= shown[:, 1:]).all())
                assert popular == (arm == "treatment" and spec.phase_of(day) == "ab"), (arm, day)
                # whatever the policy, the lineage's model scores what was shown
                items = frame["item_id"].to_numpy()
                np.testing.assert_allclose(frame["pctr"], 0.02 + 0.5 * (items * 37 % 101) / 101)


def test_the_launch_lineages_part_the_night_before_the_policies_do(
    my_policies, tmp_path, tiny, stub_trainer
):
    config = treated(tiny, "my_fast_policies.shuffle_top")
    trainer = stub_trainer(tmp_path)
    run_experiment(config, tmp_path, trainer=trainer)
    # the recipes are the same: only the policy parts the lineages, on night 3 (before the A/B)
    assert [kind for kind, _, _ in trainer.nights[3]] == ["test", "test", "launch", "launch"]
    ab = (
        logs.scan(RunDir(tmp_path).logs, ["treatment"], [4])
        .collect()
        .sort("request_id", "position")
    )
    pctr = ab["pctr"].to_numpy().reshape(-1, 3)
    assert (pctr[:, 0] <= pctr[:, 1]).all() and (pctr[:, 0] < pctr[:, 1]).any()  # swapped


def test_a_policy_that_starts_with_the_test_parts_the_launch_lineages_at_the_split(
    my_policies, tmp_path, tiny, stub_trainer
):
    config = treated(tiny, "my_fast_policies.popular_first", aa_days=0)
    run_experiment(config, tmp_path / "a", trainer=stub_trainer(tmp_path / "a"))
    first = config.experiment.first_test_day
    launch = {
        arm: logs.scan(RunDir(tmp_path / "a").launch.logs, [arm], [first]).collect()
        for arm in config.arm_names
    }
    assert not launch["control"].drop("arm").equals(launch["treatment"].drop("arm"))
    with pytest.raises(stub_trainer.Interrupted):  # stopped right after the split: resumed apart
        run_experiment(
            config, tmp_path / "b", trainer=stub_trainer(tmp_path / "b", stop_on_night=3)
        )
    run_experiment(config, tmp_path / "b", resume=True, trainer=stub_trainer(tmp_path / "b"))
    for arm in config.arm_names:
        a = logs.scan(tmp_path / "a" / "launch" / "logs", [arm]).collect()
        assert a.equals(logs.scan(tmp_path / "b" / "launch" / "logs", [arm]).collect())


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("my_fast_policies.nothing", "arm.treatment.policy: cannot import"),
        ("my_fast_policies.two_arguments", "cannot be called as policy(observation, rows, model"),
    ],
)
def test_a_policy_that_cannot_serve_is_refused_before_any_day(my_policies, tiny, target, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        treated(tiny, target)
    with pytest.raises(ConfigError, match="must be null or a _target_ mapping"):
        tiny(arms={"control": {}, "treatment": {"policy": "popular"}})


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("my_fast_policies.outside", "showed items that are not the requests' candidates"),
        ("my_fast_policies.broken", "failed on day 4: no model here"),
    ],
)
def test_a_policy_failing_mid_run_stops_it_in_one_line(
    my_policies, tmp_path, tiny, stub_trainer, target, message
):
    config = treated(tiny, target)
    with pytest.raises(PolicyFailed, match=message) as failure:
        run_experiment(config, tmp_path, trainer=stub_trainer(tmp_path))
    assert "\n" not in str(failure.value)
    assert pl.read_parquet(RunDir(tmp_path).truth(3)).height == 2  # the A/A days were served
