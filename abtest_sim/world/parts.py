"""The world's swappable parts (RecSim NG's spirit: user dynamics, traffic and the click model are
components). Each is a plain function; ``world.<part>`` in the config replaces it with yours by a
Hydra ``_target_`` mapping (other keys are bound as keyword arguments). Signatures:

- ``drift(config, state, seed) -> None``: move ``state`` (``population.WorldState``: tastes, item
  ages...) from ``state.current_day`` to the next day, in place, deterministically from ``seed``
  and the day (``drift.advance_one_day``);
- ``requests(config, user_rate, seed, day) -> (user_id, request_index, hour)``: the day's
  requests as int arrays (``requests.draw_requests``);
- ``click_model(relevance, positions, config) -> p``: the click probability of items of
  ``relevance [n, S]`` (the top-position click probability) shown at ``positions [S]``
  (``position_click_model``: relevance times the examination probability).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from abtest_sim.world.clicks import examination
from abtest_sim.world.config import WorldConfig
from abtest_sim.world.drift import advance_one_day
from abtest_sim.world.requests import draw_requests
from reloop.targets import build

__all__ = ["WorldPartError", "WorldParts", "checked_click_probabilities", "position_click_model"]


class WorldPartError(ValueError):
    """A plugged-in part of the world returned something the world cannot use."""


def position_click_model(
    relevance: np.ndarray, positions: np.ndarray, config: WorldConfig
) -> np.ndarray:
    """The built-in click model: p = relevance * (1 / (position + 1)) ** position_eta."""
    return relevance * examination(positions, config.position_eta)[None, :]


@dataclass(frozen=True)
class WorldParts:
    drift: Callable[..., None]
    requests: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]
    click_model: Callable[..., np.ndarray]

    @classmethod
    def of(cls, config: WorldConfig) -> WorldParts:
        """The parts ``config`` names (the built-in ones where it names none)."""
        parts = cls(
            drift=_part(config.drift, advance_one_day, "drift"),
            requests=_part(config.requests, draw_requests, "requests"),
            click_model=_part(config.click_model, position_click_model, "click_model"),
        )
        if config.click_model is not None:  # probe it once: a wrong signature fails here
            relevance = np.array([[0.05, 0.5, 0.95]], dtype=np.float32)
            try:
                probe = parts.click_model(relevance, np.arange(3), config)
            except Exception as error:  # any failure of user code, in one line
                message = " ".join(str(error).split())
                raise WorldPartError(
                    f"world.click_model failed on a test slate: {message}"
                ) from None
            checked_click_probabilities(probe, relevance.shape)
        return parts


def checked_click_probabilities(p: object, shape: tuple[int, ...]) -> np.ndarray:
    """A plugged-in click model's output: an array of ``shape`` with every value in [0, 1]."""
    array = np.asarray(p)
    if array.shape != shape:
        raise WorldPartError(f"world.click_model returned shape {array.shape}, expected {shape}")
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
        raise WorldPartError("world.click_model returned click probabilities outside [0, 1]")
    return array


def _part(
    spec: dict[str, Any] | None, built_in: Callable[..., Any], name: str
) -> Callable[..., Any]:
    if spec is None:
        return built_in
    try:
        part = build(spec, f"world.{name}")
    except ValueError as error:
        raise ValueError(f"world.{name}: {error}") from None
    if not callable(part):
        raise ValueError(f"world.{name}: {spec['_target_']!r} does not give a function")
    return part
