"""The population: users and items with latent factors, drawn once from the seed.

Tastes cluster around category centroids (a user's long-term mean ``m_i`` leans to a favourite
category, an item's ``v_j`` to its own), so that the observable user attributes and item category
carry real signal about the latent affinity ``<u_i, v_j>``.
All latent arrays are float32 ``[n, k]`` and vectorised over the whole population.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy.special import ndtri

from abtest_sim.world.config import WorldConfig
from abtest_sim.world.rng import Purpose, generator

__all__ = ["WorldState", "draw_items", "draw_user_means", "init_state", "user_attributes"]


@dataclass
class WorldState:
    """Everything that evolves or was drawn, as plain arrays (the checkpoint is exactly this)."""

    day: np.ndarray  # int64 scalar: the day the state describes
    centroids: np.ndarray  # float32 [n_categories, k], unit-variance components
    category_probs: np.ndarray  # float64 [n_categories], Zipf-like category sizes
    attr_projection: np.ndarray  # float32 [k, m], unit-norm columns
    user_mean: np.ndarray  # float32 [U, k]  m_i, the long-term mean
    user_pref: np.ndarray  # float32 [U, k]  u_i(t), the current preference
    user_bias: np.ndarray  # float32 [U]     b_i
    user_rate: np.ndarray  # float32 [U]     lambda_i, mean requests per day
    user_attr_noise: np.ndarray  # float32 [m, U] fixed per-user noise of the attributes
    user_attrs: np.ndarray  # int16 [m, U]   observable attributes (derived from user_mean)
    item_vec: np.ndarray  # float32 [I, k]  v_j
    item_category: np.ndarray  # int16 [I]
    item_base_bias: np.ndarray  # float32 [I]  b_j before freshness
    item_birth: np.ndarray  # int32 [I]  day the item arrived (<= 0 for the initial catalogue)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name).copy() for f in fields(self)}

    @classmethod
    def from_state_dict(cls, state: dict[str, np.ndarray]) -> WorldState:
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in state]
        if missing:
            raise ValueError(f"world state lacks: {', '.join(missing)}")
        return cls(**{n: np.array(state[n], copy=True) for n in names})

    @property
    def current_day(self) -> int:
        return int(self.day)


def init_state(config: WorldConfig, seed: int) -> WorldState:
    """The day-0 world: population, catalogue (ages spread over one lifetime) and static draws."""
    rng = generator(seed, 0, Purpose.INIT)
    k, m = config.latent_dim, config.n_user_attrs
    centroids = rng.standard_normal((config.n_categories, k), dtype=np.float32)
    ranks = np.arange(1, config.n_categories + 1, dtype=np.float64)
    probs = ranks**-config.category_zipf
    probs /= probs.sum()
    projection = rng.standard_normal((k, m), dtype=np.float32)
    projection /= np.maximum(np.linalg.norm(projection, axis=0, keepdims=True), 1e-12)
    n = config.n_users
    mean = draw_user_means(config, centroids, probs, rng, n)
    pref_noise = rng.standard_normal((n, k), dtype=np.float32) * np.float32(config.pref_std)
    state = WorldState(
        day=np.array(0, dtype=np.int64),
        centroids=centroids,
        category_probs=probs,
        attr_projection=projection,
        user_mean=mean,
        user_pref=mean + pref_noise,
        user_bias=(rng.standard_normal(n, dtype=np.float32) * np.float32(config.user_bias_std)),
        user_rate=rng.gamma(
            config.activity_shape, config.activity_mean / config.activity_shape, n
        ).astype(np.float32),
        user_attr_noise=rng.standard_normal((m, n), dtype=np.float32),
        user_attrs=np.zeros((m, n), dtype=np.int16),
        item_vec=np.zeros((0, k), dtype=np.float32),
        item_category=np.zeros(0, dtype=np.int16),
        item_base_bias=np.zeros(0, dtype=np.float32),
        item_birth=np.zeros(0, dtype=np.int32),
    )
    births = -(np.arange(config.n_items) % config.item_lifetime_days)
    draw_items(config, state, rng, births.astype(np.int32))
    state.user_attrs = user_attributes(config, state, np.arange(n))
    return state


def draw_user_means(
    config: WorldConfig,
    centroids: np.ndarray,
    category_probs: np.ndarray,
    rng: np.random.Generator,
    n: int,
) -> np.ndarray:
    """Long-term means ``m_i``: a favourite-category centroid plus idiosyncratic taste, with
    per-component variance ``user_mean_std**2``."""
    k = centroids.shape[1]
    favourite = rng.choice(len(category_probs), size=n, p=category_probs)
    share = config.user_category_share
    own = rng.standard_normal((n, k), dtype=np.float32)
    mixed = np.sqrt(share) * centroids[favourite] + np.sqrt(1 - share) * own
    return (mixed * np.float32(config.user_mean_std)).astype(np.float32)


def draw_items(
    config: WorldConfig, state: WorldState, rng: np.random.Generator, births: np.ndarray
) -> None:
    """Append ``len(births)`` items (ids continue the existing ones) to ``state``."""
    n, k = len(births), config.latent_dim
    category = rng.choice(config.n_categories, size=n, p=state.category_probs)
    share = config.item_category_share
    own = rng.standard_normal((n, k), dtype=np.float32)
    vec = (np.sqrt(share) * state.centroids[category] + np.sqrt(1 - share) * own).astype(np.float32)
    bias = rng.standard_normal(n, dtype=np.float32) * np.float32(config.item_bias_std)
    state.item_vec = np.concatenate([state.item_vec, vec])
    state.item_category = np.concatenate([state.item_category, category.astype(np.int16)])
    state.item_base_bias = np.concatenate([state.item_base_bias, bias])
    state.item_birth = np.concatenate([state.item_birth, births.astype(np.int32)])


def user_attributes(config: WorldConfig, state: WorldState, users: np.ndarray) -> np.ndarray:
    """Observable attributes of ``users`` (int16 [m, len(users)]): each is a random projection of
    ``m_i`` plus fixed per-user noise, cut into ``attr_levels`` equally likely levels."""
    m = config.n_user_attrs
    if m == 0:
        return np.zeros((0, len(users)), dtype=np.int16)
    signal = (state.user_mean[users] @ state.attr_projection).T  # [m, n]
    noise = state.user_attr_noise[:, users] * np.float32(config.attr_noise)
    scale = np.sqrt(config.user_mean_std**2 + config.attr_noise**2) or 1.0
    z = (signal + noise) / np.float32(scale)
    levels = config.attr_levels
    edges = ndtri(np.arange(1, levels) / levels).astype(np.float32)
    return np.searchsorted(edges, z.ravel()).reshape(z.shape).astype(np.int16)
