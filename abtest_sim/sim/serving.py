"""Serving: score every candidate of a day's requests with an arm's model, keep the top K.

Serving sees a day as an ``Observation`` (``World.observe``: requests, candidates, observable
features, the seed), never the world or its truth. A ``Scorer`` maps an
``Observation.candidate_features`` frame to one probability per row. A scorer that
also has ``score_slates`` (a ``SlateScorer``, such as ``ModelScorer``) is given the request-level
features once per request and the per-slot features once per slot, so a model computes its
request-level part once per request rather than once per candidate (1.6-1.8x faster for the
simulator's DeepFM 128-64, about 1.1x with a 400-400-400 MLP, whose later layers dominate).
``rank`` scores all candidates of the given requests in a few large calls, picks the top K per
request from the ``[n, C]`` score matrix with ``argpartition``, and optionally explores:

* ``epsilon``: with this probability a request's slate is K candidates in a uniformly random order;
* ``swap_prob``: otherwise, with this probability the top item swaps places with a uniformly drawn
  position (a randomised position, as used to estimate position bias).

Exploration draws are keyed by (seed, day, rng_key, user, request_index), so a user's slate never
depends on which other users the arm serves, and two arms with the same ``rng_key`` explore alike.
The served pCTR (the model's score of the item it showed) is kept for every impression.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import polars as pl

import reloop
from abtest_sim.world import DayRequests, Observation
from abtest_sim.world.rng import Purpose, keyed_uniform, pack_counters, stream_key

__all__ = [
    "EXPLORED_EPSILON",
    "EXPLORED_NONE",
    "EXPLORED_SWAP",
    "Exploration",
    "ModelScorer",
    "PopularityScorer",
    "Scorer",
    "SlateScorer",
    "Slates",
    "random_scorer",
    "rank",
    "score_candidates",
    "score_slates",
    "top_k",
    "with_shown_pctr",
]

Scorer = Callable[[pl.DataFrame], np.ndarray]


@runtime_checkable
class SlateScorer(Protocol):
    """A ``Scorer`` that also scores ``R`` requests of ``S`` slots from a request-level frame
    (``R`` rows) and a per-slot frame (``R * S`` rows), returning ``[R, S]`` probabilities."""

    def __call__(self, frame: pl.DataFrame) -> np.ndarray: ...

    def score_slates(
        self, requests: pl.DataFrame, slots: pl.DataFrame, n_slots: int
    ) -> np.ndarray: ...


@dataclass(frozen=True)
class ModelScorer:
    """A ``reloop`` model as a ``SlateScorer``."""

    model: reloop.FittedModel

    def __call__(self, frame: pl.DataFrame) -> np.ndarray:
        return self.model.predict(frame)

    def score_slates(self, requests: pl.DataFrame, slots: pl.DataFrame, n_slots: int) -> np.ndarray:
        return self.model.predict_slates(requests, slots, n_slots)


EXPLORED_NONE, EXPLORED_EPSILON, EXPLORED_SWAP = 0, 1, 2
DEFAULT_CHUNK_ROWS = 1 << 20


@dataclass(frozen=True)
class Exploration:
    epsilon: float = 0.0
    swap_prob: float = 0.0

    def __post_init__(self) -> None:
        for name in ("epsilon", "swap_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"Exploration.{name} must be in [0, 1]: {getattr(self, name)}")


@dataclass(frozen=True)
class Slates:
    """What an arm served: one row per request of ``request_rows``."""

    items: np.ndarray  # int32 [n, K] item ids, position = column
    pctr: np.ndarray  # float32 [n, K] the serving model's score of each shown item
    request_rows: np.ndarray  # int64 [n] rows of the day's DayRequests
    explored: np.ndarray  # int8 [n] EXPLORED_NONE / EXPLORED_EPSILON / EXPLORED_SWAP

    @property
    def n(self) -> int:
        return len(self.request_rows)

    @property
    def slate_size(self) -> int:
        return self.items.shape[1]


def rank(
    scorer: Scorer,
    observation: Observation,
    rows: np.ndarray | None,
    slate_size: int,
    *,
    exploration: Exploration | None = None,
    rng_key: int = 0,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Slates:
    """Top-``slate_size`` slates of ``scorer`` for the requests ``rows`` (all if None). Their
    ``pctr`` is the ranking score (every candidate scored at position 0): not what a log holds;
    ``with_shown_pctr`` gives the slates to log."""
    requests = observation.requests
    rows = np.arange(requests.n) if rows is None else np.asarray(rows, dtype=np.int64)
    if not 0 < slate_size <= requests.n_candidates:
        raise ValueError(f"slate_size {slate_size} not in 1..{requests.n_candidates}")
    scores = score_candidates(scorer, observation, rows, chunk_rows)
    chosen = top_k(scores, slate_size)
    explored = np.zeros(len(rows), dtype=np.int8)
    if exploration is not None:
        chosen = _explore(chosen, exploration, observation.seed, requests, rows, rng_key, explored)
    items = np.take_along_axis(requests.candidates[rows], chosen, axis=1)
    pctr = np.take_along_axis(scores, chosen, axis=1)
    return Slates(items=items, pctr=pctr, request_rows=rows, explored=explored)


def with_shown_pctr(
    scorer: Scorer,
    observation: Observation,
    slates: Slates,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Slates:
    """The slates with the pCTR a log must hold: the scorer's prediction of each item at the
    position it is shown (ReLoop's y_last is the serving model's prediction of that impression)."""
    positions = np.arange(slates.slate_size, dtype=np.int16)
    pctr = score_slates(
        scorer, observation, slates.request_rows, slates.items, positions, chunk_rows
    )
    return Slates(slates.items, pctr, slates.request_rows, slates.explored)


def score_candidates(
    scorer: Scorer,
    observation: Observation,
    rows: np.ndarray,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> np.ndarray:
    """float32 [len(rows), C]: the scorer's probability for every candidate (at position 0)."""
    candidates = observation.candidates
    positions = np.zeros(candidates.shape[1], dtype=np.int16)
    return score_slates(scorer, observation, rows, candidates[rows], positions, chunk_rows)


def score_slates(
    scorer: Scorer,
    observation: Observation,
    rows: np.ndarray,
    items: np.ndarray,
    positions: np.ndarray,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> np.ndarray:
    """float32 [len(rows), S]: the scorer's probability of ``items [len(rows), S]`` shown to the
    requests ``rows`` at ``positions [S]``, in chunks of about ``chunk_rows`` slots."""
    n_slots = items.shape[1]
    scores = np.empty((len(rows), n_slots), dtype=np.float32)
    step = max(1, chunk_rows // max(n_slots, 1))
    for start in range(0, len(rows), step):
        part = slice(start, start + step)
        n_part = len(rows[part])
        if isinstance(scorer, SlateScorer):
            request_part, slot_part = observation.split_features(rows[part], items[part], positions)
            out = np.asarray(scorer.score_slates(request_part, slot_part, n_slots))
        else:
            frame = observation.features_at(rows[part], items[part], positions)
            out = np.asarray(scorer(frame))
        out = out.astype(np.float32, copy=False).reshape(-1)
        if out.shape[0] != n_part * n_slots:
            raise ValueError(f"scorer returned {out.shape[0]} scores for {n_part * n_slots} rows")
        if not np.isfinite(out).all():
            raise ValueError("scorer returned non-finite scores")
        scores[part] = out.reshape(n_part, n_slots)
    return scores


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """int64 [n, k]: column indices of the k largest scores per row, best first."""
    if k < scores.shape[1]:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(scores.shape[1]), scores.shape).copy()
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def _explore(
    chosen: np.ndarray,
    exploration: Exploration,
    seed: int,
    requests: DayRequests,
    rows: np.ndarray,
    rng_key: int,
    explored: np.ndarray,
) -> np.ndarray:
    users, index = requests.user_id[rows], requests.request_index[rows]
    day, k, c = requests.day, chosen.shape[1], requests.n_candidates
    chosen = chosen.copy()
    if exploration.epsilon > 0:
        key = stream_key(seed, day, Purpose.EXPLORE_EPSILON, rng_key)
        draws = keyed_uniform(key, pack_counters(users, index, 0))
        hit = np.flatnonzero(draws < exploration.epsilon)
        key = stream_key(seed, day, Purpose.EXPLORE_PERMUTATION, rng_key)
        slots = np.arange(c)[None, :]
        noise = keyed_uniform(key, pack_counters(users[hit, None], index[hit, None], slots))
        chosen[hit] = np.argsort(noise, axis=1)[:, :k]
        explored[hit] = EXPLORED_EPSILON
    if exploration.swap_prob > 0 and k > 1:
        key = stream_key(seed, day, Purpose.EXPLORE_SWAP, rng_key)
        draws = keyed_uniform(key, pack_counters(users[:, None], index[:, None], np.arange(2)))
        hit = np.flatnonzero((draws[:, 0] < exploration.swap_prob) & (explored == EXPLORED_NONE))
        target = np.minimum((draws[hit, 1] * k).astype(np.int64), k - 1)
        top = chosen[hit, 0].copy()
        chosen[hit, 0] = chosen[hit, target]
        chosen[hit, target] = top
        explored[hit] = EXPLORED_SWAP
    return chosen


def random_scorer(seed: int = 0) -> Scorer:
    """A model-free scorer: a pseudo-random score per (user_id, item_id), fixed for the seed.
    Ranking by it serves uniformly random slates (the warm-up exploring policy)."""
    key = stream_key(seed, 0, Purpose.SCORER)

    def score(frame: pl.DataFrame) -> np.ndarray:
        users = frame.get_column("user_id").to_numpy().astype(np.uint64)
        items = frame.get_column("item_id").to_numpy().astype(np.uint64)
        return keyed_uniform(key, (users << np.uint64(32)) | items).astype(np.float32)

    return score


class PopularityScorer:
    """Smoothed item CTR from logs: ``(clicks + w * prior) / (impressions + w)``; items never seen
    score the prior. A cheap non-personalised baseline and benchmark scorer."""

    def __init__(self, item_ctr: np.ndarray, prior: float) -> None:
        self.item_ctr = np.asarray(item_ctr, dtype=np.float32)
        self.prior = np.float32(prior)

    @classmethod
    def from_logs(
        cls, frame: pl.DataFrame | pl.LazyFrame, prior_weight: float = 100.0
    ) -> PopularityScorer:
        stats = (
            frame.lazy()
            .group_by("item_id")
            .agg(pl.len().alias("n"), pl.col("click").sum().alias("c"))
            .collect()
        )
        n, c = stats["n"].to_numpy(), stats["c"].to_numpy()
        prior = float(c.sum() / max(n.sum(), 1))
        ids = stats["item_id"].to_numpy()
        table = np.full(int(ids.max()) + 1 if len(ids) else 0, prior, dtype=np.float64)
        table[ids] = (c + prior_weight * prior) / (n + prior_weight)
        return cls(table, prior)

    def __call__(self, frame: pl.DataFrame) -> np.ndarray:
        items = frame.get_column("item_id").to_numpy()
        known = items < len(self.item_ctr)
        out = np.full(len(items), self.prior, dtype=np.float32)
        out[known] = self.item_ctr[items[known]]
        return out
