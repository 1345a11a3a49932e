"""The world's parts plug in by Hydra ``_target_`` from a module outside the package: drift,
requests and the click model each replaced, with the rest of the world unchanged."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from abtest_sim.sim.config import ConfigError, SimulationConfig
from abtest_sim.world import World, WorldConfig

MY_WORLD = textwrap.dedent(
    """
    import numpy as np
    from abtest_sim.world.drift import advance_one_day


    def frozen_tastes(config, state, seed):
        pref, mean = state.user_pref.copy(), state.user_mean.copy()
        advance_one_day(config, state, seed)
        state.user_pref[:] = pref
        state.user_mean[:] = mean


    def one_request_each(config, user_rate, seed, day, hour=20):
        n = config.n_users
        return (np.arange(n, dtype=np.int32), np.zeros(n, dtype=np.int16),
                np.full(n, hour, dtype=np.int8))


    def no_position_effect(relevance, positions, config):
        return relevance


    def doubled(relevance, positions, config):
        return 2 * relevance


    def transposed(relevance, positions, config):
        return relevance.T
    """
)
SMALL = dict(n_users=500, n_items=300, n_categories=4, latent_dim=4, n_user_attrs=2,
             n_candidates=10)  # fmt: skip


@pytest.fixture
def my_world(tmp_path, monkeypatch):
    (tmp_path / "my_world.py").write_text(MY_WORLD)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_each_part_is_replaced_and_the_rest_stays(my_world):
    built_in = World(WorldConfig(**SMALL), seed=1)
    frozen = World(WorldConfig(**SMALL, drift={"_target_": "my_world.frozen_tastes"}), seed=1)
    start = frozen._state.user_pref.copy()
    for world in (built_in, frozen):
        world.begin_day(5)
    np.testing.assert_array_equal(frozen._state.user_pref, start)
    assert not np.array_equal(built_in._state.user_pref, start)
    np.testing.assert_array_equal(frozen._state.item_birth, built_in._state.item_birth)

    spec = {"_target_": "my_world.one_request_each", "hour": 7}
    requests = World(WorldConfig(**SMALL, requests=spec), seed=1).begin_day(2)
    assert requests.n == SMALL["n_users"] and set(requests.hour.tolist()) == {7}

    flat = World(WorldConfig(**SMALL, click_model={"_target_": "my_world.no_position_effect"}), 1)
    requests = flat.begin_day(1)
    items, rows = requests.candidates[:, :5], np.arange(requests.n)
    np.testing.assert_array_equal(
        flat.oracle.p_true(requests, items, rows), flat.oracle.relevance(requests, items, rows)
    )
    default = World(WorldConfig(**SMALL), 1)
    assert (default.oracle.p_true(default.begin_day(1), items, rows)[:, 1:] <
            flat.oracle.p_true(requests, items, rows)[:, 1:]).all()  # fmt: skip


@pytest.mark.slow
def test_a_part_that_does_not_import_is_refused_before_any_work(my_world, tmp_path):
    world = {**SMALL, "drift": {"_target_": "my_world.nothing"}}
    cfg = {"world": world, "arm": {"a": {"share": 1.0}}, "experiment": {"control": "a"}}
    with pytest.raises(ConfigError, match=r"world\.drift: cannot import 'my_world\.nothing'"):
        SimulationConfig.from_hydra(cfg)
    result = subprocess.run(
        [sys.executable, "-m", "abtest_sim", "experiment=smoke", f"run_dir={tmp_path / 'run'}",
         "world.click_model={_target_:nowhere.model}"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2 and "world.click_model: cannot import" in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("target", "message"),
    [("my_world.doubled", r"outside \[0, 1\]"), ("my_world.transposed", "returned shape")],
)
def test_a_click_model_returning_no_probabilities_is_refused_up_front(my_world, target, message):
    world = {**SMALL, "click_model": {"_target_": target}}
    cfg = {"world": world, "arm": {"a": {"share": 1.0}}, "experiment": {"control": "a"}}
    with pytest.raises(ConfigError, match=message):
        SimulationConfig.from_hydra(cfg)
