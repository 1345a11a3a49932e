"""One night of change, from day ``d - 1`` to day ``d``, vectorised over the whole population.

1. Preferences follow an Ornstein-Uhlenbeck step around the long-term mean, keeping the stationary
   variance ``pref_std**2``: ``u <- m + rho (u - m) + sqrt(1 - rho^2) pref_std eps``,
   ``rho = exp(-1 / drift_tau)``.
2. Rare regime shifts: each user redraws ``m_i`` with probability ``regime_shift_prob``; ``u_i``
   then relaxes towards the new mean at the OU speed (an interest change takes days to show fully).
3. Population shifts configured for day ``d``: a fraction of users move ``m_i`` and ``u_i`` by
   ``strength`` latent standard deviations towards a category's centroid.
4. New items arrive (their age, and so their freshness boost, is computed from their birth day).

Each step draws from its own stream keyed by (seed, d, purpose).
"""

from __future__ import annotations

import numpy as np

from abtest_sim.world.config import PopulationShift, WorldConfig
from abtest_sim.world.population import (
    WorldState,
    draw_items,
    draw_user_means,
    user_attributes,
)
from abtest_sim.world.rng import Purpose, generator

__all__ = ["advance_one_day", "item_bias", "live_items"]


def advance_one_day(config: WorldConfig, state: WorldState, seed: int) -> None:
    """Move ``state`` from its day to the next one, in place."""
    day = state.current_day + 1
    _ou_step(config, state, generator(seed, day, Purpose.DRIFT))
    _regime_shifts(config, state, generator(seed, day, Purpose.REGIME))
    for index, shift in enumerate(config.population_shifts):
        if shift.day == day:
            rng = generator(seed, day, Purpose.POPULATION_SHIFT, index)
            _population_shift(config, state, shift, rng)
    births = np.full(config.new_items_per_day, day, dtype=np.int32)
    draw_items(config, state, generator(seed, day, Purpose.ITEMS), births)
    state.day = np.array(day, dtype=np.int64)


def _ou_step(config: WorldConfig, state: WorldState, rng: np.random.Generator) -> None:
    rho = np.float32(np.exp(-1.0 / config.drift_tau))
    step = np.float32(np.sqrt(1.0 - rho**2) * config.pref_std)
    eps = rng.standard_normal(state.user_pref.shape, dtype=np.float32)
    pref = state.user_pref
    pref -= state.user_mean
    pref *= rho
    eps *= step
    pref += eps
    pref += state.user_mean


def _regime_shifts(config: WorldConfig, state: WorldState, rng: np.random.Generator) -> None:
    n = len(state.user_mean)
    shifted = np.flatnonzero(rng.random(n) < config.regime_shift_prob)
    if len(shifted) == 0:
        return
    means = draw_user_means(config, state.centroids, state.category_probs, rng, len(shifted))
    state.user_mean[shifted] = means
    state.user_attrs[:, shifted] = user_attributes(config, state, shifted)


def _population_shift(
    config: WorldConfig, state: WorldState, shift: PopulationShift, rng: np.random.Generator
) -> None:
    n = len(state.user_mean)
    users = np.flatnonzero(rng.random(n) < shift.fraction)
    centroid = state.centroids[shift.category]
    direction = centroid / max(float(np.linalg.norm(centroid)), 1e-12)
    scale = np.sqrt(config.user_mean_std**2 + config.pref_std**2)
    delta = (direction * np.float32(shift.strength * scale)).astype(np.float32)
    state.user_mean[users] += delta
    state.user_pref[users] += delta
    state.user_attrs[:, users] = user_attributes(config, state, users)


def live_items(config: WorldConfig, state: WorldState, day: int) -> np.ndarray:
    """Ids of the items on offer on ``day`` (born at most ``item_lifetime_days - 1`` days ago)."""
    birth = state.item_birth
    return np.flatnonzero((birth <= day) & (birth > day - config.item_lifetime_days))


def item_bias(config: WorldConfig, state: WorldState, day: int) -> np.ndarray:
    """``b_j`` on ``day`` for every item: base quality plus a freshness boost decaying with age."""
    age = np.maximum(day - state.item_birth, 0).astype(np.float32)
    fresh = np.exp(-age / np.float32(config.freshness_tau)) * np.float32(config.freshness_boost)
    return (state.item_base_bias + fresh).astype(np.float32)
