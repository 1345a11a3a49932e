"""The world fit recovers a known world from a log simulated by it, and the calibration app turns
a log into a world the simulator runs."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from abtest_sim.sim.sample_log import simulate_log
from abtest_sim.world import World, WorldConfig
from abtest_sim.world.fit.log import LogColumns, read_log
from abtest_sim.world.fit.world import FitSettings, fit_world

pytestmark = pytest.mark.slow

KNOWN = dict(
    n_users=500, n_items=300, n_categories=6, latent_dim=4, n_user_attrs=2,
    item_lifetime_days=60, activity_mean=4.0, activity_shape=2.0, drift_tau=4.0,
    regime_shift_prob=0.0, n_candidates=10, base_logit=-1.5, start_weekday=2,
    freshness_boost=0.0,  # the fit has no freshness term (a young item's bias would absorb it)
)  # fmt: skip
TRUE = WorldConfig.from_dict(KNOWN).validate()
SEED, DAYS = 3, 30


@pytest.fixture(scope="module")
def simulated():
    frame = simulate_log(TRUE, seed=SEED, days=DAYS, slate_size=5)
    log = read_log(frame, LogColumns(position="position", category="item_category"))
    fitted = fit_world(log, FitSettings(factors=4, drift_window_days=2))
    return frame, fitted


def test_traffic_catalogue_and_position_curve_are_recovered(simulated):
    _, fitted = simulated
    w = fitted.overrides
    # a user's requests in one hour are one request of the log: a few merge, so slightly fewer
    assert 0.8 * TRUE.activity_mean < w["activity_mean"] < 1.02 * TRUE.activity_mean
    assert 0.5 * TRUE.activity_shape < w["activity_shape"] < 1.6 * TRUE.activity_shape
    assert abs(w["hour_activity_peak"] - TRUE.hour_activity_peak) < 1.0
    assert abs(w["hour_activity_amplitude"] - TRUE.hour_activity_amplitude) < 0.15
    np.testing.assert_allclose(w["weekday_activity"], TRUE.weekday_activity, atol=0.06)
    assert w["start_weekday"] == TRUE.start_weekday
    assert abs(w["position_eta"] - TRUE.position_eta) < 0.1
    assert w["n_categories"] == TRUE.n_categories
    assert abs(w["category_zipf"] - TRUE.category_zipf) < 0.4
    assert abs(w["n_items"] / TRUE.n_items - 1) < 0.1
    assert 0.5 < w["item_lifetime_days"] / TRUE.item_lifetime_days < 2.0


def test_click_model_biases_and_factor_subspace_are_recovered(simulated):
    frame, fitted = simulated
    w, factors = fitted.overrides, fitted.factors
    assert abs(w["base_logit"] - TRUE.base_logit) < 0.25
    assert abs(w["user_bias_std"] / TRUE.user_bias_std - 1) < 0.25
    assert abs(w["item_bias_std"] / TRUE.item_bias_std - 1) < 0.25
    world = World(TRUE, SEED)
    world.begin_day(DAYS - 1)  # every item the log saw exists by its last day
    state = world._state  # the items' truth (fitted indices: sorted item ids)
    items = np.unique(frame["item_id"].to_numpy())
    # an item's effect is identified as its bias plus its mean affinity over the users (users
    # cluster on popular categories, so a bias alone is not)
    users = np.unique(frame["user_id"].to_numpy())
    mean_taste = state.user_mean[users].mean(0) * TRUE.affinity_scale / np.sqrt(TRUE.latent_dim)
    true_effect = state.item_base_bias[items] + state.item_vec[items] @ mean_taste
    fitted_effect = factors.item_bias + factors.item_vec @ factors.user_vec.mean(0)
    assert np.corrcoef(fitted_effect, true_effect)[0, 1] > 0.8
    # each true item factor is mostly a linear function of the fitted ones (same subspace)
    design = np.column_stack([np.ones(items.size), factors.item_vec])
    truth = state.item_vec[items]
    residual = truth - design @ np.linalg.lstsq(design, truth, rcond=None)[0]
    assert 1 - residual.var(0).mean() / truth.var(0).mean() > 0.6
    assert abs(w["item_category_share"] - TRUE.item_category_share) < 0.25


def test_the_drift_time_constant_is_recovered_with_an_interval(simulated):
    _, fitted = simulated
    drift = fitted.measured["drift"]
    low, high = drift["tau_interval_days"]
    assert low <= TRUE.drift_tau <= high
    assert TRUE.drift_tau / 2 < drift["tau_days"] < TRUE.drift_tau * 2
    assert high < 30  # a 4-day drift is told apart from a static world


@pytest.mark.slow  # the calibration app and a simulation in subprocesses: minutes on busy cores
def test_the_app_fits_a_csv_into_a_world_the_simulator_runs(simulated, tmp_path):
    frame, _ = simulated
    log = tmp_path / "log.csv"
    frame.filter(frame["day"] < 14).select(
        "user_id", "item_id", "timestamp", "click", "position", "item_category"
    ).write_csv(log)
    out = tmp_path / "calibrated"
    fit = subprocess.run(
        [sys.executable, "-m", "abtest_sim.apps.calibrate", f"input={log}", "name=mine",
         f"out={out}", "position=position", "category=item_category", "fit.factors=4",
         "fit.users=900",
         "fit.drift_window_days=2"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert fit.returncode == 0, fit.stderr
    report = json.loads((out / "fit.json").read_text())
    assert report["world"]["n_users"] == 900 and "drift_tau" in report["world"]
    markdown = (out / "calibration.md").read_text()
    assert "Drift time constant" in markdown and "## Fidelity" in markdown
    assert (out / "fidelity.png").stat().st_size > 5_000
    real, simulated = report["fidelity"]["real"], report["fidelity"]["simulated"]
    assert 0.5 < simulated["impressions"] / real["impressions"] < 2  # the fitted traffic
    assert 0.5 < report["fidelity"]["auc"]["real_on_real"] < 1
    run = subprocess.run(
        [sys.executable, "-m", "abtest_sim", "--config-dir", str(out), "world=mine",
         "experiment=smoke", "world.n_users=900", "warmup_cache=null", "progress=false",
         f"run_dir={tmp_path / 'run'}"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    used = json.loads((tmp_path / "run" / "config.json").read_text())["world"]
    assert used["drift_tau"] == report["world"]["drift_tau"]
    assert used["position_eta"] == report["world"]["position_eta"]
    assert (tmp_path / "run" / "report" / "daily.csv").is_file()
