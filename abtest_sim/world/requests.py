"""A day's traffic: who is active, their requests and hours, and each request's candidate set.

Requests per user and day are ``Poisson(lambda_i * season(weekday))`` with heavy-tailed
``lambda_i ~ Gamma`` (drawn once, see ``population``). Hours follow a diurnal profile and are sorted
within a user, so ``request_index`` (the k-th request of that user today) increases with the hour.
Candidates are ``n_candidates`` distinct live items per request, drawn in proportion to
``exp(candidate_popularity * b_j(t))`` (popular and fresh items are retrieved more often); the set
is the world's, shared by every arm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abtest_sim.world.config import WorldConfig
from abtest_sim.world.rng import Purpose, generator

__all__ = [
    "CandidateDrawError",
    "DayRequests",
    "draw_candidates",
    "draw_requests",
    "hour_profile",
    "weekday_of",
]

_TABLE_MIN = 1 << 20
_MAX_REDRAW_ROUNDS = 200


@dataclass(frozen=True)
class DayRequests:
    """The requests of one day, sorted by (user, hour); row ``r`` is request ``request_id == r``."""

    day: int
    weekday: int  # 0 = Monday; the same for every request of the day
    user_id: np.ndarray  # int32 [n]
    request_index: np.ndarray  # int16 [n], k-th request of that user today (0-based)
    request_id: np.ndarray  # int32 [n], unique within the day (== row)
    hour: np.ndarray  # int8 [n], 0..23
    candidates: np.ndarray  # int32 [n, C] item ids, distinct within a row

    @property
    def n(self) -> int:
        return len(self.user_id)

    @property
    def n_candidates(self) -> int:
        return self.candidates.shape[1]

    def rows_for_users(self, users: np.ndarray) -> np.ndarray:
        """Rows of the requests made by ``users``: a boolean mask over all user ids, or ids."""
        users = np.asarray(users)
        if users.dtype == np.bool_:
            return np.flatnonzero(users[self.user_id])
        return np.flatnonzero(np.isin(self.user_id, users))

    def active_users(self) -> np.ndarray:
        """Distinct user ids with at least one request today (sorted)."""
        if self.n == 0:
            return self.user_id.copy()
        first = np.ones(self.n, dtype=bool)
        first[1:] = self.user_id[1:] != self.user_id[:-1]
        return self.user_id[first]


def weekday_of(config: WorldConfig, day: int) -> int:
    return (config.start_weekday + day) % 7


def hour_profile(config: WorldConfig) -> np.ndarray:
    """Share of requests per hour: ``1 + a cos(2 pi (h - peak) / 24)``, normalised."""
    hours = np.arange(24, dtype=np.float64)
    phase = 2 * np.pi * (hours - config.hour_activity_peak) / 24
    weights = 1 + config.hour_activity_amplitude * np.cos(phase)
    return weights / weights.sum()


def draw_requests(
    config: WorldConfig, user_rate: np.ndarray, seed: int, day: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user_id int32, request_index int16, hour int8), sorted by (user, hour)."""
    rng = generator(seed, day, Purpose.REQUESTS)
    weekday = weekday_of(config, day)
    season = config.weekday_activity[weekday] / np.mean(config.weekday_activity)
    counts = rng.poisson(user_rate.astype(np.float64) * season)
    np.minimum(counts, config.max_requests_per_user, out=counts)
    active = np.flatnonzero(counts)
    per_user = counts[active]
    n = int(per_user.sum())
    users = np.repeat(active.astype(np.int64), per_user)
    hours = rng.choice(24, size=n, p=hour_profile(config))
    key = users * 24 + hours
    key.sort()
    starts = np.repeat(np.cumsum(per_user) - per_user, per_user)
    request_index = np.arange(n, dtype=np.int64) - starts
    return (key // 24).astype(np.int32), request_index.astype(np.int16), (key % 24).astype(np.int8)


class CandidateDrawError(RuntimeError):
    """The world cannot draw a request's distinct candidates (a simulation stops on it, in one
    line: ``abtest_sim.apps.simulate``)."""


def draw_candidates(
    config: WorldConfig,
    live: np.ndarray,
    live_bias: np.ndarray,
    n_requests: int,
    seed: int,
    day: int,
) -> np.ndarray:
    """int32 [n_requests, C]: distinct live item ids per row, sorted within the row.

    Weighted draws use a lookup table of ``T >= 2**20`` slots in which item ``j`` holds
    ``~ T w_j / sum(w)`` slots (largest-remainder rounding; weights are resolved to 1/T), so a
    draw is one integer and one gather. Rows with a repeated item are redrawn whole.
    """
    rng = generator(seed, day, Purpose.CANDIDATES)
    c = config.n_candidates
    if len(live) < c:
        raise ValueError(f"only {len(live)} live items for n_candidates={c}")
    table = _sampling_table(live, config.candidate_popularity * live_bias.astype(np.float64))
    out = np.empty((n_requests, c), dtype=np.int32)
    todo = np.arange(n_requests)
    for _ in range(_MAX_REDRAW_ROUNDS):
        if len(todo) == 0:
            return out
        draw = table[rng.integers(0, len(table), size=(len(todo), c))]
        draw.sort(axis=1)
        repeated = (draw[:, 1:] == draw[:, :-1]).any(axis=1)
        out[todo[~repeated]] = draw[~repeated]
        todo = todo[repeated]
    raise CandidateDrawError(
        f"day {day}: no {c} distinct candidates in {_MAX_REDRAW_ROUNDS} redraws of "
        f"{len(todo)} request(s): the live items' popularity is too concentrated for "
        f"n_candidates={c} (lower world.candidate_popularity or world.n_candidates)"
    )


def _sampling_table(items: np.ndarray, log_weights: np.ndarray) -> np.ndarray:
    weights = np.exp(log_weights - log_weights.max())
    size = max(_TABLE_MIN, 64 * len(items))
    exact = weights / weights.sum() * size
    slots = np.floor(exact).astype(np.int64)
    short = size - int(slots.sum())
    if short > 0:
        slots[np.argsort(slots - exact, kind="stable")[:short]] += 1
    return np.repeat(items.astype(np.int32), slots)
