"""What a recommender sees of a day: the requests, their candidates and the observable tables.

``World.observe(requests)`` gives an ``Observation``: everything serving, a ranking policy and a
log may read (request rows, candidate sets, user attributes, item categories, the seed for keyed
exploration draws), and nothing of the truth (latent tastes, relevance, ``p_true``: those are the
``Oracle``'s). Its feature frames are the ones a model is trained and served on. An observation is
valid for its own day: the next ``begin_day`` may move the tables it reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from abtest_sim.world.features import feature_names, observable_frame, request_frame, slot_frame
from abtest_sim.world.requests import DayRequests

__all__ = ["Observation"]


@dataclass(frozen=True)
class Observation:
    """One day's requests as a recommender sees them (``World.observe``)."""

    requests: DayRequests
    user_attrs: np.ndarray  # int16 [m, U]: observable attributes of every user
    item_category: np.ndarray  # int16 [I]: every item's category
    seed: int  # the run's seed, for keyed draws (exploration) that are the same in every arm

    @property
    def day(self) -> int:
        return self.requests.day

    @property
    def n(self) -> int:
        """Requests of the day."""
        return self.requests.n

    @property
    def candidates(self) -> np.ndarray:
        """int32 [n, C]: the candidate item ids of every request (distinct within a row)."""
        return self.requests.candidates

    @property
    def feature_columns(self) -> list[str]:
        """The observable feature columns of every frame below, in frame order."""
        return feature_names(len(self.user_attrs))

    def request_frame(self, rows: np.ndarray | None = None) -> pl.DataFrame:
        """The request-level features (user, weekday, hour, user attributes), one row per
        request of ``rows`` (all if None)."""
        return request_frame(self.requests, self._rows(rows), self.user_attrs)

    def candidate_features(self, rows: np.ndarray | None = None) -> pl.DataFrame:
        """Features of every (request, candidate) pair of ``rows`` (all requests if None),
        row-major ``[len(rows) * C]``, with ``position = 0`` (scoring time)."""
        rows = self._rows(rows)
        positions = np.zeros(self.requests.n_candidates, dtype=np.int16)
        return self.features_at(rows, self.requests.candidates[rows], positions)

    def slate_features(self, rows: np.ndarray, items: np.ndarray) -> pl.DataFrame:
        """Features of served impressions: ``items [len(rows), K]`` shown to the requests
        ``rows`` at positions ``0..K-1``, row-major."""
        positions = np.arange(items.shape[1], dtype=np.int16)
        return self.features_at(np.asarray(rows), items, positions)

    def split_features(
        self, rows: np.ndarray, items: np.ndarray, positions: np.ndarray
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The features of ``features_at`` in two frames: one row per request for the
        request-level columns, one row per slot for ``features.SLOT_FEATURES``. Scoring reads the
        request-level columns once per request."""
        rows = np.asarray(rows)
        return (
            request_frame(self.requests, rows, self.user_attrs),
            slot_frame(items, positions, self.item_category),
        )

    def features_at(
        self, rows: np.ndarray, items: np.ndarray, positions: np.ndarray
    ) -> pl.DataFrame:
        """Features of ``items [len(rows), S]`` shown to the requests ``rows`` at
        ``positions [S]``, row-major."""
        return observable_frame(
            self.requests, rows, items, positions, self.item_category, self.user_attrs
        )

    def _rows(self, rows: np.ndarray | None) -> np.ndarray:
        return np.arange(self.requests.n) if rows is None else np.asarray(rows)
