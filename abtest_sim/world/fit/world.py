"""A world config fitted to a log: the parts of ``WorldConfig`` a log can tell, in the world's
own conventions, with what was measured beside them.

Conventions (``abtest_sim.world.population``): item vectors have unit variance per component and
the affinity is ``affinity_scale * <u, v> / sqrt(k)``. The fitted item vectors are rescaled to unit
variance and the user vectors by the inverse (times sqrt(k)), with ``affinity_scale = 1``, so the
world's affinity equals the fitted ``<u, v>``. The user vectors' variance is split into the
persistent part (``user_mean_std``) and the drifting part (``pref_std``) by the drift estimate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.special import logit

from abtest_sim.world import WorldConfig
from abtest_sim.world.fit.activity import (
    lifetime_gap,
    measure_activity,
    measure_catalogue,
    position_curve,
    weekday_gap,
)
from abtest_sim.world.fit.drift import DriftEstimate, estimate_drift
from abtest_sim.world.fit.factors import Factors, fit_factors
from abtest_sim.world.fit.log import InteractionLog

__all__ = ["FitSettings", "FittedWorld", "fit_world"]

# Parameters no log of clicks can tell: kept at the default world's values, and listed as such.
NOT_FITTED = (
    "user_category_share", "n_user_attrs", "attr_levels", "attr_noise", "freshness_boost",
    "freshness_tau", "candidate_popularity", "hour_effect_amplitude",
    "hour_effect_peak", "regime_shift_prob", "population_shifts",
)  # fmt: skip


@dataclass(frozen=True)
class FitSettings:
    factors: int = 8  # k, latent dimension of the fit and of the world
    l2: float = 5.0  # penalty weight of the factor fit (per impression, see factors.py)
    drift_window_days: int = 7  # window of the per-user vectors the drift estimate compares
    users: int | None = None  # population of the world (None: the log's number of users)
    seed: int = 0


@dataclass(frozen=True)
class FittedWorld:
    overrides: dict[str, Any]  # WorldConfig fields fitted from the log
    measured: dict[str, Any]  # what was measured, intervals included
    factors: Factors

    def config(self) -> WorldConfig:
        """The default world with the fitted fields (validated)."""
        return WorldConfig.from_dict(self.overrides).validate()


def fit_world(log: InteractionLog, settings: FitSettings) -> FittedWorld:
    """The fitted world. A part the log is too small for keeps the default world's value and is
    listed with the reason in ``measured["defaults_kept"]`` (and in ``not_fitted``)."""
    factors = fit_factors(
        log.user, log.item, log.click, k=settings.factors, l2=settings.l2, seed=settings.seed
    )
    drift = estimate_drift(
        log, factors, window_days=settings.drift_window_days, l2=settings.l2, seed=settings.seed
    )
    activity, catalogue = measure_activity(log), measure_catalogue(log)
    eta, position_note = position_curve(log)
    overrides: dict[str, Any] = {
        "n_users": settings.users or log.n_users,
        "n_items": catalogue.n_items,
        "item_lifetime_days": catalogue.item_lifetime_days,
        "n_candidates": _candidates(catalogue.n_items),
        "latent_dim": settings.factors,
        **_click_model(factors, log),
        **_tastes(factors, drift),
        **{k: v for k, v in asdict(activity).items() if k != "slate_size"},
        "start_weekday": log.start_weekday,
    }
    if eta is not None:
        overrides["position_eta"] = round(eta, 4)
    if log.item_category is not None and catalogue.n_categories and catalogue.n_categories > 1:
        overrides["n_categories"] = catalogue.n_categories
        overrides["category_zipf"] = round(catalogue.category_zipf or 0.0, 4)
        overrides["item_category_share"] = _category_share(factors, log.item_category)
    kept = _defaults_kept(log, settings, drift)
    overrides = {k: _plain(v) for k, v in overrides.items() if k not in kept}
    measured = {
        "impressions": len(log), "users": log.n_users, "items": log.n_items, "days": log.n_days,
        "time": log.times, "ctr": float(log.click.mean()),
        "impressions_per_request": activity.slate_size,
        "drift": None if drift is None else drift.to_dict(),
        "position_curve": position_note, "position_base": log.position_base,
        "defaults_kept": kept, "not_fitted": [*kept, *NOT_FITTED],
    }  # fmt: skip
    return FittedWorld(overrides, measured, factors)


def _defaults_kept(
    log: InteractionLog, settings: FitSettings, drift: DriftEstimate | None
) -> dict[str, str]:
    """The fitted fields a log this small cannot tell, each with the reason."""
    kept: dict[str, str] = {}
    weekday = weekday_gap(log)
    if weekday is not None:
        kept |= {"weekday_activity": weekday, "weekday_effect": weekday}
    lifetime = lifetime_gap(log)
    if lifetime is not None:
        kept["item_lifetime_days"] = lifetime
    if drift is None:
        width = settings.drift_window_days
        windows = int(log.day.max()) // width + 1
        kept["drift_tau"] = (
            f"the log spans {log.n_days} day(s), {windows} window(s) of "
            f"fit.drift_window_days={width}; the drift estimate needs users seen in windows at "
            "3 lags (4 windows)"
            if windows < 4
            else "fewer than 3 window lags have a user seen at both ends; the drift estimate "
            "needs 3"
        ) + " (the default split of taste variance is kept)"
    return kept


def _click_model(factors: Factors, log: InteractionLog) -> dict[str, Any]:
    shown = np.bincount(log.weekday, minlength=7)
    weekday_ctr = np.bincount(log.weekday, weights=log.click, minlength=7) / np.maximum(shown, 1)
    logits = logit(np.clip(weekday_ctr, 1e-6, 1 - 1e-6))
    seen = shown > 0
    effect = np.where(seen, logits - logits[seen].mean(), 0.0)
    return {
        "base_logit": round(factors.global_bias + float(factors.user_bias.mean())
                            + float(factors.item_bias.mean()), 4),
        "user_bias_std": round(float(factors.user_bias.std()), 4),
        "item_bias_std": round(float(factors.item_bias.std()), 4),
        "affinity_scale": 1.0,
        "weekday_effect": [round(float(e), 4) for e in effect],
    }  # fmt: skip


def _candidates(n_items: int) -> int:
    """The default 30 candidates per request, fewer for a small catalogue: the world draws a
    request's candidates without repeats, which needs about sqrt(2 n) or fewer of n items."""
    return int(min(WorldConfig().n_candidates, max(2, np.sqrt(2 * n_items))))


def _tastes(factors: Factors, drift: DriftEstimate | None) -> dict[str, float]:
    item_scale = np.sqrt(np.mean(factors.item_vec**2))
    user_std = float(np.sqrt(np.mean(factors.user_vec**2)) * item_scale * np.sqrt(factors.k))
    if drift is None:  # too short a log to see tastes move: the default world's split and tau
        return {"user_mean_std": round(user_std * 0.8, 4), "pref_std": round(user_std * 0.6, 4)}
    share = drift.persistent_share
    return {
        "user_mean_std": round(user_std * np.sqrt(share), 4),
        "pref_std": round(user_std * np.sqrt(1 - share), 4),
        "drift_tau": round(drift.tau, 3),
    }


def _category_share(factors: Factors, category: np.ndarray) -> float:
    """Share of the item vectors' variance explained by their category means."""
    vec = factors.item_vec / np.sqrt(np.mean(factors.item_vec**2))
    sums = np.zeros((int(category.max()) + 1, vec.shape[1]))
    np.add.at(sums, category, vec)
    means = sums / np.maximum(np.bincount(category), 1)[:, None]
    within = np.mean((vec - means[category]) ** 2)
    return round(float(np.clip(1 - within / np.mean(vec**2), 0.0, 0.95)), 4)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value
