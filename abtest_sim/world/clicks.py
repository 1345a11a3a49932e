"""The position-based click model and its common-random-number click draw.

    p_true = e_pos * sigmoid(b0 + b_i + b_j(t) + gamma <u_i(t), v_j> / sqrt(k) + s_weekday + s_hour)
    e_pos  = (1 / (pos + 1)) ** eta

The click of an impression is ``U < p_true`` with ``U = keyed_uniform(seed, day, user,
request_index, position)``: the same impression gets the same uniform in every arm, so two arms
that serve the same item at the same position to the same request log the same click, and what is
served elsewhere (other positions, other users) cannot change it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abtest_sim.world.config import WorldConfig
from abtest_sim.world.rng import Purpose, keyed_uniform, pack_counters, stream_key

__all__ = [
    "ClickContext",
    "draw_clicks",
    "examination",
    "hour_effect",
    "relevance_logits",
    "sigmoid",
]

_CHUNK_ROWS = 1 << 15


@dataclass(frozen=True)
class ClickContext:
    """The latent truth a click model needs on one day (never handed to a model)."""

    user_pref: np.ndarray  # float32 [U, k]
    user_bias: np.ndarray  # float32 [U]
    item_vec: np.ndarray  # float32 [I, k]
    item_bias: np.ndarray  # float32 [I], freshness included for the day
    weekday_effect: float
    hour_effect: np.ndarray  # float32 [24]


def examination(positions: np.ndarray, eta: float) -> np.ndarray:
    """``e_pos = (1 / (pos + 1)) ** eta`` as float32."""
    return ((1.0 / (np.asarray(positions, dtype=np.float64) + 1.0)) ** eta).astype(np.float32)


def hour_effect(config: WorldConfig) -> np.ndarray:
    hours = np.arange(24, dtype=np.float64)
    phase = 2 * np.pi * (hours - config.hour_effect_peak) / 24
    return (config.hour_effect_amplitude * np.cos(phase)).astype(np.float32)


def sigmoid(x: np.ndarray) -> np.ndarray:
    out = np.negative(x, dtype=np.float32)
    np.exp(out, out=out)
    out += np.float32(1.0)
    return np.reciprocal(out, out=out)


def relevance_logits(
    config: WorldConfig,
    context: ClickContext,
    user_id: np.ndarray,
    hour: np.ndarray,
    items: np.ndarray,
) -> np.ndarray:
    """float32 [n, S] logits of the click model (before examination) for ``items [n, S]`` shown to
    requests of ``user_id [n]`` at ``hour [n]``; computed in chunks of requests."""
    n, s = items.shape
    out = np.empty((n, s), dtype=np.float32)
    gamma = np.float32(config.affinity_scale / np.sqrt(config.latent_dim))
    constant = np.float32(config.base_logit + context.weekday_effect)
    for start in range(0, n, _CHUNK_ROWS):
        rows = slice(start, min(start + _CHUNK_ROWS, n))
        users, chunk = user_id[rows], items[rows]
        affinity = np.einsum("nk,nsk->ns", context.user_pref[users], context.item_vec[chunk])
        affinity *= gamma
        affinity += context.item_bias[chunk]
        affinity += (context.user_bias[users] + context.hour_effect[hour[rows]])[:, None]
        affinity += constant
        out[rows] = affinity
    return out


def draw_clicks(
    p_true: np.ndarray,
    seed: int,
    day: int,
    user_id: np.ndarray,
    request_index: np.ndarray,
    positions: np.ndarray,
) -> np.ndarray:
    """int8 [n, S] clicks: ``keyed_uniform(seed, day, user, request_index, position) < p_true``."""
    counters = pack_counters(user_id[:, None], request_index[:, None], positions[None, :])
    uniform = keyed_uniform(stream_key(seed, day, Purpose.CLICK), counters)
    return (uniform < p_true).astype(np.int8)
