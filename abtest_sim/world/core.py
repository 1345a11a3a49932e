"""``World``: the simulated truth behind an A/B test, one day at a time.

    world = World(WorldConfig(), seed=7)
    requests = world.begin_day(d)             # drift to day d, draw traffic and candidates
    frame = world.candidate_features(requests, rows)   # what a model may see
    outcome = world.click(requests, slate_items, rows)  # p_true and CRN clicks

The world is a deterministic function of (config, seed, day): ``begin_day(d)`` gives the same
requests whatever was served before, and a world restored from day ``d``'s ``state_dict`` continues
exactly as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from abtest_sim.world.clicks import (
    ClickContext,
    draw_clicks,
    hour_effect,
    relevance_logits,
    sigmoid,
)
from abtest_sim.world.config import WorldConfig
from abtest_sim.world.drift import item_bias, live_items
from abtest_sim.world.features import (
    feature_names,
    observable_frame,
    request_frame,
    slot_frame,
    user_attr_names,
)
from abtest_sim.world.parts import WorldParts, checked_click_probabilities
from abtest_sim.world.population import WorldState, init_state
from abtest_sim.world.requests import DayRequests, draw_candidates, weekday_of
from reloop.atomic import atomic_path

__all__ = ["Impressions", "World"]


@dataclass(frozen=True)
class Impressions:
    """The world's response to served slates: ``[n, K]`` arrays aligned with the slates."""

    p_true: np.ndarray  # float32, truth: analysis only
    click: np.ndarray  # int8

    @property
    def n_impressions(self) -> int:
        return self.click.size


class World:
    def __init__(self, config: WorldConfig, seed: int) -> None:
        self.config = config.validate()
        self.parts = WorldParts.of(self.config)
        self.seed = int(seed)
        self._state = init_state(config, self.seed)
        self._requests: DayRequests | None = None
        self._refresh()

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
            self.config, live, self._context.item_bias[live], len(user_id), self.seed, day
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
        day = self.day
        self._context = ClickContext(
            user_pref=self._state.user_pref,
            user_bias=self._state.user_bias,
            item_vec=self._state.item_vec,
            item_bias=item_bias(self.config, self._state, day),
            weekday_effect=self.config.weekday_effect[weekday_of(self.config, day)],
            hour_effect=hour_effect(self.config),
        )
        self._requests = None

    @property
    def truth(self) -> ClickContext:
        """The latent truth of the current day (preferences, item factors and biases): for analysis
        and counterfactual checks only, never for a model."""
        return self._context

    # -------------------------------------------------------------- features
    @property
    def feature_columns(self) -> list[str]:
        """The observable feature columns of ``candidate_features`` and of the logs."""
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

    def candidate_features(
        self, requests: DayRequests, rows: np.ndarray | None = None
    ) -> pl.DataFrame:
        """Observable features of every (request, candidate) pair of ``rows`` (all requests if
        None), row-major ``[len(rows) * C]``, with ``position = 0`` (scoring time)."""
        rows = self._rows(requests, rows)
        positions = np.zeros(requests.n_candidates, dtype=np.int16)
        return self.features_at(requests, rows, requests.candidates[rows], positions)

    def slate_features(
        self, requests: DayRequests, slate_items: np.ndarray, request_rows: np.ndarray
    ) -> pl.DataFrame:
        """Observable features of served impressions, ``position = 0..K-1``, row-major."""
        self._check_day(requests)
        positions = np.arange(slate_items.shape[1], dtype=np.int16)
        return self.features_at(requests, np.asarray(request_rows), slate_items, positions)

    def split_features(
        self,
        requests: DayRequests,
        items: np.ndarray,
        request_rows: np.ndarray,
        positions: np.ndarray,
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The same features as ``slate_features`` (``items [n, S]`` at ``positions [S]``) in two
        frames: one row per request for the request-level columns, one row per slot for
        ``SLOT_FEATURES``. Scoring reads the request-level columns once per request."""
        self._check_day(requests)
        rows = np.asarray(request_rows)
        return (
            request_frame(requests, rows, self._state.user_attrs),
            slot_frame(items, positions, self._state.item_category),
        )

    def features_at(
        self, requests: DayRequests, rows: np.ndarray, items: np.ndarray, positions: np.ndarray
    ) -> pl.DataFrame:
        """Observable features of ``items [len(rows), S]`` shown to the requests ``rows`` at
        ``positions [S]``, row-major (``candidate_features`` and ``slate_features`` in general)."""
        self._check_day(requests)
        return observable_frame(
            requests, rows, items, positions, self._state.item_category, self._state.user_attrs
        )

    # ----------------------------------------------------------------- truth
    def relevance(
        self, requests: DayRequests, items: np.ndarray, request_rows: np.ndarray
    ) -> np.ndarray:
        """float32 [n, S]: the click probability at the top position (no examination decay) of
        ``items [n, S]`` for the requests ``request_rows``. Truth: for analysis and oracles."""
        self._check_day(requests)
        rows = np.asarray(request_rows)
        logits = relevance_logits(
            self.config, self._context, requests.user_id[rows], requests.hour[rows], items
        )
        return sigmoid(logits)

    def p_true(
        self, requests: DayRequests, slate_items: np.ndarray, request_rows: np.ndarray
    ) -> np.ndarray:
        """float32 [n, K]: true click probability of each impression, ``e_pos * relevance``."""
        positions = np.arange(slate_items.shape[1])
        relevance = self.relevance(requests, slate_items, request_rows)
        p = self.parts.click_model(relevance, positions, self.config)
        if self.config.click_model is None:
            return p
        return checked_click_probabilities(p, relevance.shape)

    def click(
        self, requests: DayRequests, slate_items: np.ndarray, request_rows: np.ndarray
    ) -> Impressions:
        """p_true and common-random-number clicks for slates served to ``request_rows``."""
        rows = np.asarray(request_rows)
        p = self.p_true(requests, slate_items, rows)
        positions = np.arange(slate_items.shape[1])
        clicks = draw_clicks(
            p,
            self.seed,
            requests.day,
            requests.user_id[rows],
            requests.request_index[rows],
            positions,
        )
        return Impressions(p_true=p, click=clicks)

    def _check_day(self, requests: DayRequests) -> None:
        if requests.day != self.day:
            raise ValueError(f"requests are for day {requests.day}, the world is at day {self.day}")

    def _rows(self, requests: DayRequests, rows: np.ndarray | None) -> np.ndarray:
        self._check_day(requests)
        return np.arange(requests.n) if rows is None else np.asarray(rows)

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
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **self.state_dict())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], config: WorldConfig, seed: int) -> World:
        world = cls(config, seed)
        with np.load(path, allow_pickle=False) as data:
            world.load_state_dict({name: data[name] for name in data.files})
        return world
