"""``World``: the simulated truth behind an A/B test, one day at a time.

    world = World(WorldConfig(), seed=7)
    requests = world.begin_day(d)             # drift to day d, draw traffic and candidates
    observation = world.observe(requests)     # what a recommender may see (features)
    outcome = world.oracle.click(requests, slate_items, rows)  # the truth: p_true and CRN clicks

The world is a deterministic function of (config, seed, day): ``begin_day(d)`` gives the same
requests whatever was served before, and a world restored from day ``d``'s ``state_dict`` continues
exactly as an uninterrupted one. What a model may see (``Observation``) and the truth (``Oracle``)
are two objects: serving is handed the first, only the simulator's truth evaluation the second.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from abtest_sim.world.clicks import ClickContext, hour_effect
from abtest_sim.world.config import WorldConfig
from abtest_sim.world.drift import item_bias, live_items
from abtest_sim.world.features import feature_names, user_attr_names
from abtest_sim.world.observation import Observation
from abtest_sim.world.oracle import Oracle
from abtest_sim.world.parts import WorldParts
from abtest_sim.world.population import WorldState, init_state
from abtest_sim.world.requests import DayRequests, draw_candidates, weekday_of
from reloop.atomic import atomic_path

__all__ = ["World"]


class World:
    def __init__(self, config: WorldConfig, seed: int) -> None:
        self.config = config.validate()
        self.parts = WorldParts.of(self.config)
        self.seed = int(seed)
        self._state = init_state(config, self.seed)
        self._requests: DayRequests | None = None
        self._oracle = Oracle(self.config, self.parts, self.seed, self.day, self._context_of_day())

    # ------------------------------------------------------------------ days
    @property
    def day(self) -> int:
        """The day the world's state describes."""
        return self._state.current_day

    def begin_day(self, day: int) -> DayRequests:
        """Advance drift to ``day`` (no-op if already there) and draw its requests."""
        if day < self.day:
            raise ValueError(f"cannot go back to day {day}: the world is at day {self.day}")
        if self._requests is not None and self._requests.day == day:
            return self._requests
        while self.day < day:
            self.parts.drift(self.config, self._state, self.seed)
            self._refresh()
        user_id, request_index, hour = self.parts.requests(
            self.config, self._state.user_rate, self.seed, day
        )
        live = live_items(self.config, self._state, day)
        candidates = draw_candidates(
            self.config, live, self._oracle.context.item_bias[live], len(user_id), self.seed, day
        )
        self._requests = DayRequests(
            day=day,
            weekday=weekday_of(self.config, day),
            user_id=user_id,
            request_index=request_index,
            request_id=np.arange(len(user_id), dtype=np.int32),
            hour=hour,
            candidates=candidates,
        )
        return self._requests

    def _refresh(self) -> None:
        self._oracle.move_to(self.day, self._context_of_day())
        self._requests = None

    def _context_of_day(self) -> ClickContext:
        day = self.day
        return ClickContext(
            user_pref=self._state.user_pref,
            user_bias=self._state.user_bias,
            item_vec=self._state.item_vec,
            item_bias=item_bias(self.config, self._state, day),
            weekday_effect=self.config.weekday_effect[weekday_of(self.config, day)],
            hour_effect=hour_effect(self.config),
        )

    @property
    def oracle(self) -> Oracle:
        """The truth of the current day (latent state, relevance, p_true, click draws): for the
        simulator's truth evaluation, analysis and counterfactual checks, never for a model."""
        return self._oracle

    # -------------------------------------------------------------- features
    @property
    def feature_columns(self) -> list[str]:
        """The observable feature columns of an ``Observation``'s frames and of the logs."""
        return feature_names(self.config.n_user_attrs)

    def feature_cardinalities(self, last_day: int) -> dict[str, int]:
        """Upper bounds (exclusive) of each feature's values through ``last_day``."""
        sizes = {
            "user_id": self.config.n_users,
            "item_id": self.config.n_items_by(last_day),
            "item_category": self.config.n_categories,
            "weekday": 7,
            "hour": 24,
            "position": self.config.n_candidates,
        }
        attrs = user_attr_names(self.config.n_user_attrs)
        sizes.update({name: self.config.attr_levels for name in attrs})
        return sizes

    def observe(self, requests: DayRequests) -> Observation:
        """What a recommender sees of today's ``requests`` (valid for this day only)."""
        if requests.day != self.day:
            raise ValueError(f"requests are for day {requests.day}, the world is at day {self.day}")
        return Observation(requests, self._state.user_attrs, self._state.item_category, self.seed)

    # ----------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every state array (with the seed and config) for a checkpoint."""
        state = self._state.state_dict()
        state["seed"] = np.array(self.seed, dtype=np.int64)
        state["config_json"] = np.array(json.dumps(self.config.to_dict(), sort_keys=True))
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore a ``state_dict``; the seed and config must match this world's."""
        if "seed" in state and int(state["seed"]) != self.seed:
            raise ValueError(f"checkpoint seed {int(state['seed'])} != world seed {self.seed}")
        if "config_json" in state:
            saved = json.loads(str(state["config_json"]))
            if saved != json.loads(json.dumps(self.config.to_dict(), sort_keys=True)):
                raise ValueError("checkpoint was written by a different world config")
        restored = WorldState.from_state_dict(state)
        if restored.user_mean.shape != self._state.user_mean.shape:
            raise ValueError("checkpoint population does not match the config")
        self._state = restored
        self._refresh()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``state_dict`` to ``path`` (.npz) atomically: temp file, fsync, rename."""
        path = Path(path)
        arrays: dict[str, Any] = self.state_dict()
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], config: WorldConfig, seed: int) -> World:
        world = cls(config, seed)
        with np.load(path, allow_pickle=False) as data:
            world.load_state_dict({name: data[name] for name in data.files})
        return world
