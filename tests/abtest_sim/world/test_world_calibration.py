"""The default world is calibrated to real logs, and its drift matters to a model.

Documented ranges (conf/world/default.yaml): CTR per impression of a few percent (1-10%), click
rate strictly decreasing with position, clicks per user heavy-tailed (top 10% of users > 30% of
the clicks), and preferences that drift enough that yesterday's truth is a worse model today.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from abtest_sim.sim.serving import random_scorer, rank, top_k
from abtest_sim.world import World, WorldConfig
from abtest_sim.world.clicks import relevance_logits, sigmoid
from reloop import TrainSpec

DEFAULT = replace(WorldConfig(), n_users=30_000)  # the default world, fewer users
K = 10


def expected_auc(score: np.ndarray, p_click: np.ndarray) -> float:
    """AUC of ``score`` against clicks drawn with probabilities ``p_click``, in expectation (each
    row counts as a positive with weight p and a negative with weight 1 - p): the noise-free
    "AUC against the truth"."""
    labels = np.r_[np.ones(len(p_click)), np.zeros(len(p_click))]
    weights = np.r_[p_click, 1 - p_click]
    return float(roc_auc_score(labels, np.r_[score, score], sample_weight=weights))


@pytest.fixture(scope="module")
def default_week():
    """A week of the default world served by uniformly random slates and by the oracle."""
    world = World(DEFAULT, 1)
    random_days, oracle_days, users = [], [], []
    for day in range(7):
        requests = world.begin_day(day)
        slates = rank(random_scorer(0), world.observe(requests), None, K)
        random_days.append(world.oracle.click(requests, slates.items, slates.request_rows))
        rows = np.arange(requests.n)
        truth = world.oracle.relevance(requests, requests.candidates, rows)
        best = np.take_along_axis(requests.candidates, top_k(truth, K), axis=1)
        oracle_days.append(world.oracle.click(requests, best, rows))
        users.append(requests.user_id)
    return random_days, oracle_days, users


def test_ctr_per_impression_is_a_few_percent(default_week):
    random_days, oracle_days, _ = default_week
    random_ctr = np.mean([d.click.mean() for d in random_days])
    oracle_ctr = np.mean([d.click.mean() for d in oracle_days])
    assert 0.01 < random_ctr < 0.05
    assert 0.03 < oracle_ctr < 0.10
    assert oracle_ctr > 2 * random_ctr  # a good ranking has a lot to gain


def test_click_rate_decreases_with_position(default_week):
    random_days, oracle_days, _ = default_week
    for days in (random_days, oracle_days):
        expected = np.mean([d.p_true.mean(axis=0) for d in days], axis=0)
        observed = np.mean([d.click.mean(axis=0) for d in days], axis=0)
        assert np.all(np.diff(expected) < 0)
        assert np.all(np.diff(observed[::3]) < 0)  # clicks too, at coarser resolution
    # random slates isolate the examination decay: (1/(pos+1))^eta
    expected = np.mean([d.p_true.mean(axis=0) for d in random_days], axis=0)
    decay = (1.0 / np.arange(1, K + 1)) ** DEFAULT.position_eta
    np.testing.assert_allclose(expected / expected[0], decay, rtol=0.03)


def test_clicks_per_user_are_heavy_tailed(default_week):
    random_days, _, users = default_week
    clicks = sum(
        np.bincount(u, weights=d.click.sum(axis=1), minlength=DEFAULT.n_users)
        for u, d in zip(users, random_days, strict=True)
    )
    ranked = np.sort(clicks)[::-1]
    top_share = ranked[: DEFAULT.n_users // 10].sum() / ranked.sum()
    assert top_share > 0.3
    impressions = sum(np.bincount(u, minlength=DEFAULT.n_users) * K for u in users)
    active = impressions > 0
    assert impressions[active].var() > 10 * impressions[active].mean()  # clustered by user


def test_drift_makes_the_day_0_truth_a_worse_model_on_day_14():
    """The perfect day-0 model (day-0 preferences, everything else current) ranks day-14
    impressions clearly worse than the day-14 truth: preferences really move."""
    world = World(replace(DEFAULT, n_users=20_000), 2)
    world.begin_day(0)
    day0_pref = world.oracle.context.user_pref.copy()
    requests = world.begin_day(14)
    rows, items = np.arange(requests.n), requests.candidates[:, :K]
    truth = world.oracle.relevance(requests, items, rows).ravel()
    stale_context = replace(world.oracle.context, user_pref=day0_pref)
    stale = sigmoid(
        relevance_logits(world.config, stale_context, requests.user_id, requests.hour, items)
    ).ravel()
    auc_truth, auc_stale = expected_auc(truth, truth), expected_auc(stale, truth)
    assert auc_truth > 0.75
    assert auc_stale < auc_truth - 0.03


# A world small and rich enough for a model to learn per-user tastes in seconds: heavy users, a
# small catalogue without turnover, a strong affinity, fast drift. Preference drift is the only
# thing that changes between day 0 and day 14.
LEARNABLE = WorldConfig(
    n_users=300,
    n_items=300,
    n_categories=8,
    activity_mean=30.0,
    activity_shape=5.0,
    base_logit=-2.0,
    affinity_scale=2.0,
    drift_tau=3.0,
    pref_std=0.9,
    user_mean_std=0.4,
    item_lifetime_days=100,
    freshness_boost=0.0,
)


@pytest.mark.slow
def test_a_model_trained_on_day_0_loses_auc_on_day_14():
    reloop = pytest.importorskip("reloop")
    world = World(LEARNABLE, 1)
    features = [f for f in world.feature_columns if f != "position"]

    def fit_on_today(requests) -> object:
        rows, items = np.arange(requests.n), requests.candidates[:, :K]
        outcome = world.oracle.click(requests, items, rows)
        frame = world.observe(requests).slate_features(rows, items)
        frame = frame.with_columns(pl.Series("click", outcome.click.ravel()))
        return reloop.fit(
            frame, features, model="fm", train=TrainSpec(epochs=3, lr=0.01, batch_size=8192)
        )

    def auc_against_truth(model, requests) -> float:
        rows, items = np.arange(requests.n), requests.candidates[:, K : 2 * K]  # held out
        truth = world.oracle.relevance(requests, items, rows).ravel()
        frame = world.observe(requests).slate_features(rows, items)
        return expected_auc(reloop.predict(model, frame), truth)

    day0 = world.begin_day(0)
    model0 = fit_on_today(day0)
    fresh_auc = auc_against_truth(model0, day0)
    day14 = world.begin_day(14)
    stale_auc = auc_against_truth(model0, day14)
    retrained_auc = auc_against_truth(fit_on_today(day14), day14)
    assert fresh_auc > 0.6  # the model did learn the day-0 tastes (truth: ~0.8)
    assert stale_auc < fresh_auc - 0.03
    assert retrained_auc > stale_auc + 0.05  # and retraining wins it back
