"""The oracle: the world's truth on its current day, kept apart from what a recommender sees.

The latent state behind the clicks (tastes, item factors and biases: ``context``), the relevance
of any item to any request, the true click probability ``p_true`` of a shown slate and its
common-random-number clicks. A ``World`` advances its one oracle with every day; in the simulator
only the loop's truth evaluation holds it (click draws, the launch truth, the served truth kept out
of the logs): serving, models and logs get an ``Observation``, never the oracle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abtest_sim.world.clicks import ClickContext, draw_clicks, relevance_logits, sigmoid
from abtest_sim.world.config import WorldConfig
from abtest_sim.world.parts import WorldParts, checked_click_probabilities
from abtest_sim.world.requests import DayRequests

__all__ = ["Impressions", "Oracle"]


@dataclass(frozen=True)
class Impressions:
    """The world's response to served slates: ``[n, K]`` arrays aligned with the slates."""

    p_true: np.ndarray  # float32, truth: analysis only
    click: np.ndarray  # int8

    @property
    def n_impressions(self) -> int:
        return self.click.size


class Oracle:
    """The truth of one world, on the day its world is at (moved by ``World`` only)."""

    def __init__(
        self, config: WorldConfig, parts: WorldParts, seed: int, day: int, context: ClickContext
    ) -> None:
        self.config = config
        self.parts = parts
        self.seed = seed
        self.day = day
        self._context = context

    def move_to(self, day: int, context: ClickContext) -> None:
        """The world's new day and its latent truth (called by ``World`` as it drifts)."""
        self.day, self._context = day, context

    @property
    def context(self) -> ClickContext:
        """The latent truth of the current day (preferences, item factors and biases)."""
        return self._context

    def relevance(
        self, requests: DayRequests, items: np.ndarray, request_rows: np.ndarray
    ) -> np.ndarray:
        """float32 [n, S]: the click probability at the top position (no examination decay) of
        ``items [n, S]`` for the requests ``request_rows``."""
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
