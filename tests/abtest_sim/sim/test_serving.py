"""Serving: batched scoring, top-K slates, exploration, and what a scorer can see."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from abtest_sim.sim import logs, serving
from abtest_sim.sim.serving import Exploration, PopularityScorer, random_scorer, rank, top_k
from abtest_sim.world import World, WorldConfig

SMALL = WorldConfig(
    n_users=3000,
    n_items=1200,
    n_categories=8,
    latent_dim=8,
    n_user_attrs=4,
    item_lifetime_days=20,
    n_candidates=20,
)
K = 6


@pytest.fixture(scope="module")
def day():
    world = World(SMALL, 21)
    requests = world.begin_day(1)
    return world, world.observe(requests)


def item_id_scorer(frame: pl.DataFrame) -> np.ndarray:
    """Prefers higher item ids; a row-wise pure function, like any real model."""
    return (frame["item_id"].to_numpy() % 997 / 997.0).astype(np.float32)


def test_top_k_matches_a_full_sort():
    scores = np.random.default_rng(0).random((500, 20)).astype(np.float32)
    np.testing.assert_array_equal(top_k(scores, 5), np.argsort(-scores, axis=1)[:, :5])
    np.testing.assert_array_equal(top_k(scores, 20), np.argsort(-scores, axis=1))


def test_rank_serves_the_top_k_with_their_scores(day):
    observation = day[1]
    requests = observation.requests
    slates = rank(item_id_scorer, observation, None, K)
    scores = (requests.candidates % 997 / 997.0).astype(np.float32)
    best = np.take_along_axis(requests.candidates, np.argsort(-scores, axis=1)[:, :K], axis=1)
    np.testing.assert_array_equal(slates.items, best)
    np.testing.assert_allclose(slates.pctr, (best % 997 / 997.0).astype(np.float32))
    assert slates.items.dtype == np.int32 and slates.pctr.dtype == np.float32
    assert (slates.explored == 0).all() and slates.slate_size == K


def test_slates_do_not_depend_on_the_arm_other_users_or_chunking(day):
    observation = day[1]
    requests = observation.requests
    explore = Exploration(epsilon=0.2, swap_prob=0.3)
    full = rank(item_id_scorer, observation, None, K, exploration=explore)
    rows = np.flatnonzero(requests.user_id % 3 == 1)
    part = rank(item_id_scorer, observation, rows, K, exploration=explore, chunk_rows=97)
    np.testing.assert_array_equal(part.items, full.items[rows])
    np.testing.assert_array_equal(part.pctr, full.pctr[rows])
    np.testing.assert_array_equal(part.explored, full.explored[rows])


def test_epsilon_exploration_serves_random_slates(day):
    observation = day[1]
    requests = observation.requests
    eps = rank(item_id_scorer, observation, None, K, exploration=Exploration(epsilon=0.3))
    greedy = rank(item_id_scorer, observation, None, K)
    hit = eps.explored == serving.EXPLORED_EPSILON
    assert hit.mean() == pytest.approx(0.3, abs=0.03)
    np.testing.assert_array_equal(eps.items[~hit], greedy.items[~hit])
    assert (eps.items[hit] != greedy.items[hit]).any(axis=1).mean() > 0.95
    # explored slates are distinct candidates of the request, each candidate equally likely
    served = np.sort(eps.items[hit], axis=1)
    assert np.all(served[:, 1:] != served[:, :-1])
    slot = np.argmax(requests.candidates[hit] == eps.items[hit][:, :1], axis=1)
    share = np.bincount(slot, minlength=SMALL.n_candidates) / slot.size
    assert share.max() < 2.0 / SMALL.n_candidates
    other_key = rank(
        item_id_scorer, observation, None, K, exploration=Exploration(epsilon=0.3), rng_key=1
    )
    assert not np.array_equal(other_key.explored, eps.explored)


def test_swap_exploration_randomises_the_top_position(day):
    observation = day[1]
    swap = rank(item_id_scorer, observation, None, K, exploration=Exploration(swap_prob=0.5))
    greedy = rank(item_id_scorer, observation, None, K)
    hit = swap.explored == serving.EXPLORED_SWAP
    assert hit.mean() == pytest.approx(0.5, abs=0.04)
    np.testing.assert_array_equal(np.sort(swap.items, axis=1), np.sort(greedy.items, axis=1))
    where_top = np.argmax(swap.items[hit] == greedy.items[hit, :1], axis=1)
    counts = np.bincount(where_top, minlength=K)
    assert counts.min() > 0.6 * hit.sum() / K  # the best item lands anywhere, uniformly
    np.testing.assert_array_equal(swap.items[~hit], greedy.items[~hit])


def test_a_scorer_sees_only_observable_columns(day):
    world, observation = day
    seen: list[pl.DataFrame] = []

    def spy(frame: pl.DataFrame) -> np.ndarray:
        seen.append(frame)
        return np.full(frame.height, 0.5, dtype=np.float32)

    rank(spy, observation, None, K, chunk_rows=5000)
    assert len(seen) > 1
    truth = {*logs.TRUTH_COLUMNS, "relevance", "user_pref", "item_vec", "click"}
    for frame in seen:
        assert frame.columns == world.feature_columns
        assert not truth & set(frame.columns)
        assert all(dtype.is_integer() for dtype in frame.dtypes)
        assert frame["position"].unique().to_list() == [0]


def test_bad_scores_are_rejected(day):
    observation = day[1]
    with pytest.raises(ValueError, match="scores for"):
        rank(lambda f: np.zeros(3), observation, None, K)
    with pytest.raises(ValueError, match="non-finite"):
        rank(lambda f: np.full(f.height, np.nan), observation, None, K)
    with pytest.raises(ValueError, match="slate_size"):
        rank(item_id_scorer, observation, None, SMALL.n_candidates + 1)
    with pytest.raises(ValueError, match="epsilon"):
        Exploration(epsilon=1.5)


def test_identical_models_give_identical_logs(day):
    """Two arms with the same scorer on the same users log the same clicks and p_true, whatever
    other users each arm also serves."""
    world, observation = day
    requests = observation.requests
    scorer = random_scorer(3)
    shared = np.flatnonzero(requests.user_id % 2 == 0)
    arm_b_rows = np.arange(requests.n)  # arm B also serves everyone else

    def log_of(rows: np.ndarray, arm: str) -> pl.DataFrame:
        slates = rank(scorer, observation, rows, K, exploration=Exploration(epsilon=0.1))
        outcome = world.oracle.click(requests, slates.items, slates.request_rows)
        return logs.impression_log(observation, slates, outcome.click, arm=arm, model_version=0)

    a = log_of(shared, "a")
    b = log_of(arm_b_rows, "b").filter(pl.col("user_id") % 2 == 0)
    assert a.height == b.height > 0 and a["click"].sum() > 0
    assert a.drop("arm").equals(b.drop("arm"))


def test_trivial_scorers():
    frame = pl.DataFrame(
        {
            "user_id": np.arange(20000, dtype=np.int32) % 50,
            "item_id": np.arange(20000, dtype=np.int32),
        }
    )
    scores = random_scorer(1)(frame)
    np.testing.assert_array_equal(scores, random_scorer(1)(frame))
    assert not np.array_equal(scores, random_scorer(2)(frame))
    assert 0 <= scores.min() and scores.max() < 1 and abs(scores.mean() - 0.5) < 0.01
    log = pl.DataFrame({"item_id": [1, 1, 1, 1, 2, 2, 2, 2], "click": [1, 1, 1, 0, 0, 0, 0, 1]})
    pop = PopularityScorer.from_logs(log, prior_weight=2.0)
    got = pop(pl.DataFrame({"item_id": [1, 2, 3, 99]}))
    np.testing.assert_allclose(got, [4 / 6, 2 / 6, 0.5, 0.5], rtol=1e-6)


@pytest.fixture(scope="module")
def fitted(day):
    """A small DeepFM trained on a day of random slates (requests of day 1, all users)."""
    import reloop

    world, observation = day
    requests = observation.requests
    slates = rank(random_scorer(0), observation, None, K)
    outcome = world.oracle.click(requests, slates.items, slates.request_rows)
    log = logs.impression_log(observation, slates, outcome.click, arm="a", model_version=0)
    return reloop.fit(
        log, world.feature_columns, model=reloop.ModelSpec(embedding_dim=4, hidden_units=(16,))
    )


def test_a_model_scores_slates_as_it_scores_rows(day, fitted):
    """ModelScorer's request-level path (features of a request read once) gives the scores and
    slates of the same model scoring every (request, candidate) row."""
    observation = day[1]
    requests = observation.requests
    rows = np.flatnonzero(requests.user_id % 2 == 0)
    by_rows = rank(lambda frame: fitted.predict(frame), observation, rows, K)
    by_slates = rank(serving.ModelScorer(fitted), observation, rows, K, chunk_rows=1000)
    np.testing.assert_allclose(by_slates.pctr, by_rows.pctr, rtol=1e-5, atol=1e-6)
    same = (by_slates.items == by_rows.items).all(axis=1).mean()
    assert same > 0.99  # only float near-ties may order differently
    positions = np.arange(K, dtype=np.int16)
    shown = serving.score_slates(
        serving.ModelScorer(fitted), observation, rows, by_rows.items, positions
    )
    expected = fitted.predict(observation.slate_features(rows, by_rows.items))
    np.testing.assert_allclose(shown.reshape(-1), expected, rtol=1e-5, atol=1e-6)
