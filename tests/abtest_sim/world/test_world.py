"""Mechanics of the world: determinism, drift, activity, items, features, clicks, checkpoints."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

import numpy as np
import polars as pl
import pytest

from abtest_sim.world import PopulationShift, World, WorldConfig, feature_names
from abtest_sim.world.clicks import draw_clicks
from abtest_sim.world.drift import live_items

SMALL = WorldConfig(
    n_users=3000,
    n_items=1200,
    n_categories=8,
    latent_dim=8,
    n_user_attrs=4,
    item_lifetime_days=20,
    n_candidates=20,
)


def _requests_equal(a, b) -> None:
    assert a.day == b.day and a.weekday == b.weekday
    for name in ("user_id", "request_index", "request_id", "hour", "candidates"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def _states_equal(a: World, b: World) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)


def _first_slots(requests, k: int = 5):
    rows = np.arange(requests.n)
    return requests.candidates[:, :k], rows


def test_same_seed_same_world_and_different_seed_differs():
    a, b, c = World(SMALL, 3), World(SMALL, 3), World(SMALL, 4)
    for day in range(3):
        ra, rb, rc = a.begin_day(day), b.begin_day(day), c.begin_day(day)
        _requests_equal(ra, rb)
        items, rows = _first_slots(ra)
        clicks_a = a.oracle.click(ra, items, rows).click
        np.testing.assert_array_equal(clicks_a, b.oracle.click(rb, items, rows).click)
    _states_equal(a, b)
    assert not np.array_equal(a.state_dict()["user_pref"], c.state_dict()["user_pref"])
    assert rc.n != ra.n or not np.array_equal(rc.user_id, ra.user_id)


def test_day_is_independent_of_what_happened_before():
    """Serving and clicking on days 0..2 must not change day 3; skipping days equals stepping."""
    busy, idle = World(SMALL, 5), World(SMALL, 5)
    for day in range(3):
        requests = busy.begin_day(day)
        items, rows = _first_slots(requests, 10)
        busy.oracle.click(requests, items, rows)
        busy.observe(requests).candidate_features(rows[:50])
    _requests_equal(busy.begin_day(3), idle.begin_day(3))
    _states_equal(busy, idle)
    assert busy.begin_day(3) is busy.begin_day(3)  # cached, not redrawn


def test_resume_from_checkpoint_is_exact(tmp_path):
    run = World(SMALL, 11)
    run.begin_day(2)
    path = run.save(tmp_path / "world" / "day-2.npz")
    assert [p.name for p in path.parent.iterdir()] == ["day-2.npz"]  # no temp file left
    resumed = World.load(path, SMALL, 11)
    assert resumed.day == 2
    ra, rb = run.begin_day(4), resumed.begin_day(4)
    _requests_equal(ra, rb)
    items, rows = _first_slots(ra, 8)
    np.testing.assert_array_equal(
        run.oracle.click(ra, items, rows).p_true, resumed.oracle.click(rb, items, rows).p_true
    )
    _states_equal(run, resumed)

    in_memory = World(SMALL, 11)
    in_memory.load_state_dict(run.state_dict())
    _requests_equal(in_memory.begin_day(5), run.begin_day(5))
    with pytest.raises(ValueError, match="seed"):
        World(SMALL, 12).load_state_dict(run.state_dict())
    with pytest.raises(ValueError, match="config"):
        World(replace(SMALL, drift_tau=3.0), 11).load_state_dict(run.state_dict())


def test_days_only_move_forward_and_truth_is_for_the_current_day():
    world = World(SMALL, 1)
    old = world.begin_day(0)
    world.begin_day(1)
    with pytest.raises(ValueError, match="back"):
        world.begin_day(0)
    items, rows = _first_slots(old)
    with pytest.raises(ValueError, match="day 0"):
        world.oracle.click(old, items, rows)
    with pytest.raises(ValueError, match="day 0"):
        world.observe(old)


def test_request_structure():
    world = World(SMALL, 2)
    requests = world.begin_day(3)
    assert requests.weekday == 3 and requests.n > 0
    assert requests.user_id.dtype == np.int32 and requests.request_index.dtype == np.int16
    assert requests.hour.dtype == np.int8 and requests.candidates.dtype == np.int32
    np.testing.assert_array_equal(requests.request_id, np.arange(requests.n))
    key = requests.user_id.astype(np.int64) * 24 + requests.hour
    assert np.all(np.diff(key) >= 0)  # sorted by user, then hour
    new_user = np.r_[True, requests.user_id[1:] != requests.user_id[:-1]]
    assert np.all(requests.request_index[new_user] == 0)
    assert np.all(np.diff(requests.request_index)[~new_user[1:]] == 1)
    assert requests.hour.min() >= 0 and requests.hour.max() <= 23
    cands = requests.candidates
    assert cands.shape == (requests.n, SMALL.n_candidates)
    assert np.all(np.diff(cands, axis=1) > 0)  # distinct (sorted) within a request
    assert np.isin(cands, live_items(SMALL, world._state, 3)).all()
    users = requests.active_users()
    assert len(users) == len(np.unique(requests.user_id))
    rows = requests.rows_for_users(users[:10])
    np.testing.assert_array_equal(np.unique(requests.user_id[rows]), users[:10])
    mask = np.zeros(SMALL.n_users, dtype=bool)
    mask[users[:10]] = True
    np.testing.assert_array_equal(requests.rows_for_users(mask), rows)


def test_activity_is_heavy_tailed_and_seasonal():
    config = replace(SMALL, n_users=20000, weekday_activity=(0.5, 1, 1, 1, 1, 1, 1.5))
    world = World(config, 3)
    per_day = []
    for day in range(7):
        requests = world.begin_day(day)
        per_day.append(np.bincount(requests.user_id, minlength=config.n_users))
    counts = np.array(per_day)  # [day, user]
    mean_season = np.mean(config.weekday_activity)
    assert counts[0].mean() == pytest.approx(config.activity_mean * 0.5 / mean_season, rel=0.08)
    assert counts[6].mean() == pytest.approx(config.activity_mean * 1.5 / mean_season, rel=0.08)
    weekly = counts.sum(axis=0)
    assert weekly.var() > 5 * weekly.mean()  # far more dispersed than Poisson
    hours = np.bincount(world.begin_day(6).hour, minlength=24)
    assert hours[20] > 2 * hours[8]  # evening peak, morning trough


def test_ou_drift_keeps_stationary_variance_and_has_the_right_memory():
    config = replace(SMALL, n_users=20000, regime_shift_prob=0.0, drift_tau=4.0, pref_std=0.7)
    world = World(config, 8)
    deviations = []
    for day in range(6):
        world.begin_day(day)
        state = world.state_dict()
        deviations.append(state["user_pref"] - state["user_mean"])
    for dev in deviations:
        assert dev.std() == pytest.approx(config.pref_std, rel=0.02)
    rho = np.exp(-1 / config.drift_tau)
    lag1 = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in pairwise(deviations)]
    assert np.mean(lag1) == pytest.approx(rho, abs=0.01)
    lag5 = np.corrcoef(deviations[0].ravel(), deviations[5].ravel())[0, 1]
    assert lag5 == pytest.approx(rho**5, abs=0.02)


def test_regime_shifts_redraw_means_and_attributes():
    config = replace(SMALL, n_users=20000, regime_shift_prob=0.1)
    world = World(config, 4)
    before = world.state_dict()
    world.begin_day(1)
    after = world.state_dict()
    moved = np.any(before["user_mean"] != after["user_mean"], axis=1)
    assert moved.mean() == pytest.approx(0.1, abs=0.01)
    attrs_changed = np.any(before["user_attrs"] != after["user_attrs"], axis=0)
    assert not attrs_changed[~moved].any()
    assert attrs_changed[moved].mean() > 0.5


def test_population_shift_makes_a_topic_popular_on_its_day():
    shift = PopulationShift(day=2, category=1, strength=1.0, fraction=1.0)
    shifted, plain = World(replace(SMALL, population_shifts=(shift,)), 6), World(SMALL, 6)

    def topic_affinity(world: World) -> float:
        truth = world.oracle.context
        topic = np.flatnonzero(world.state_dict()["item_category"] == 1)
        return float((truth.user_pref @ truth.item_vec[topic].T).mean())

    for world in (shifted, plain):
        world.begin_day(1)
    assert topic_affinity(shifted) == pytest.approx(topic_affinity(plain))
    for world in (shifted, plain):
        world.begin_day(2)
    gain = topic_affinity(shifted) - topic_affinity(plain)
    assert gain > 1.0  # strength 1 std along the centroid: a large rise for that topic only
    with pytest.raises(ValueError, match="population_shifts"):
        World(replace(SMALL, population_shifts=({"day": 1, "category": 99},)), 6)


def test_items_arrive_daily_and_freshness_decays():
    world = World(SMALL, 9)
    world.begin_day(0)
    n0 = len(world.state_dict()["item_birth"])
    assert len(live_items(SMALL, world._state, 0)) == SMALL.n_items
    world.begin_day(3)
    state = world.state_dict()
    assert len(state["item_birth"]) == n0 + 3 * SMALL.new_items_per_day
    assert len(live_items(SMALL, world._state, 3)) == SMALL.n_items
    assert world.config.n_items_by(3) == len(state["item_birth"])
    bias = world.oracle.context.item_bias
    base = state["item_base_bias"]
    age = 3 - state["item_birth"]
    boost = bias - base
    np.testing.assert_allclose(boost[age == 0], SMALL.freshness_boost, rtol=1e-5)
    expected = SMALL.freshness_boost * np.exp(-age / SMALL.freshness_tau)
    np.testing.assert_allclose(boost, expected, rtol=1e-4, atol=1e-6)


def test_candidate_features_are_observable_only():
    world = World(SMALL, 1)
    requests = world.begin_day(0)
    rows = np.array([5, 0, 17])
    frame = world.observe(requests).candidate_features(rows)
    c = SMALL.n_candidates
    assert frame.columns == feature_names(SMALL.n_user_attrs) == world.feature_columns
    assert frame.height == len(rows) * c
    assert all(dtype.is_integer() for dtype in frame.dtypes)  # no latent floats, no p_true
    assert frame["position"].unique().to_list() == [0]
    np.testing.assert_array_equal(frame["item_id"].to_numpy(), requests.candidates[rows].ravel())
    np.testing.assert_array_equal(frame["user_id"].to_numpy(), np.repeat(requests.user_id[rows], c))
    categories = world.state_dict()["item_category"]
    np.testing.assert_array_equal(
        frame["item_category"].to_numpy(), categories[requests.candidates[rows].ravel()]
    )
    attrs = frame.select(pl.col("^user_attr_.*$")).to_numpy()
    assert attrs.min() >= 0 and attrs.max() < SMALL.attr_levels
    assert world.observe(requests).candidate_features().height == requests.n * c
    sizes = world.feature_cardinalities(10)
    assert set(sizes) == set(frame.columns)
    assert all(frame[name].max() < sizes[name] for name in frame.columns)


def test_user_attributes_carry_signal_about_the_long_term_mean():
    world = World(replace(SMALL, n_users=20000), 1)
    state = world.state_dict()
    projection = state["user_mean"] @ state["attr_projection"]  # [U, m]
    for a in range(SMALL.n_user_attrs):
        corr = np.corrcoef(projection[:, a], state["user_attrs"][a])[0, 1]
        assert 0.6 < corr < 0.99  # informative, yet noisy


def test_click_model_formula_and_click_frequency():
    world = World(SMALL, 2)
    requests = world.begin_day(1)
    items, rows = _first_slots(requests, 6)
    truth, st = world.oracle.context, world.state_dict()
    users, hours = requests.user_id, requests.hour.astype(int)
    dot = np.einsum("nk,nsk->ns", truth.user_pref[users], truth.item_vec[items])
    logit = (
        SMALL.base_logit
        + st["user_bias"][users][:, None]
        + truth.item_bias[items]
        + SMALL.affinity_scale * dot / np.sqrt(SMALL.latent_dim)
        + SMALL.weekday_effect[1]
        + truth.hour_effect[hours][:, None]
    )
    e_pos = (1.0 / (np.arange(6) + 1.0)) ** SMALL.position_eta
    expected = e_pos / (1 + np.exp(-logit))
    outcome = world.oracle.click(requests, items, rows)
    np.testing.assert_allclose(outcome.p_true, expected, rtol=2e-4, atol=1e-7)
    np.testing.assert_allclose(world.oracle.p_true(requests, items, rows), outcome.p_true)
    n = outcome.click.size
    se = np.sqrt(outcome.p_true.mean() / n)
    assert abs(outcome.click.mean() - outcome.p_true.mean()) < 4 * se
    assert outcome.click.dtype == np.int8 and outcome.p_true.dtype == np.float32


def test_clicks_use_common_random_numbers():
    """An impression's click depends only on its key and its own p_true."""
    world = World(SMALL, 7)
    requests = world.begin_day(2)
    items, rows = _first_slots(requests, 5)
    full = world.oracle.click(requests, items, rows)
    other = items.copy()
    other[:, [1, 3]] = requests.candidates[:, [10, 12]]  # serve other items at positions 1, 3
    changed = world.oracle.click(requests, other, rows)
    for pos in (0, 2, 4):
        np.testing.assert_array_equal(changed.click[:, pos], full.click[:, pos])
        np.testing.assert_array_equal(changed.p_true[:, pos], full.p_true[:, pos])
    subset = rows[::7][::-1]  # other users absent, order changed
    part = world.oracle.click(requests, items[subset], subset)
    np.testing.assert_array_equal(part.click, full.click[subset])
    # coupling: a higher p_true for the same impression can only add clicks, never remove one
    keys = (world.seed, requests.day, requests.user_id, requests.request_index, np.arange(5))
    base = draw_clicks(full.p_true, *keys)
    higher = draw_clicks(np.minimum(full.p_true * 2, 1), *keys)
    np.testing.assert_array_equal(base, full.click)
    assert np.all(higher >= base) and higher.sum() > 1.5 * base.sum()


def test_serving_sees_an_observation_and_only_the_oracle_holds_the_truth():
    world = World(SMALL, 4)
    requests = world.begin_day(2)
    observation = world.observe(requests)
    assert set(vars(observation)) == {"requests", "user_attrs", "item_category", "seed"}
    assert observation.day == world.oracle.day == 2 and observation.seed == world.seed
    frames = (observation.request_frame(), observation.candidate_features(np.arange(10)))
    assert all(all(dtype.is_integer() for dtype in frame.dtypes) for frame in frames)
    oracle = world.oracle
    world.begin_day(3)  # one oracle, moved with its world
    assert world.oracle is oracle and oracle.day == 3
    with pytest.raises(ValueError, match="day 2"):
        oracle.click(requests, requests.candidates[:, :3], np.arange(requests.n))
