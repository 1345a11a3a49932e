"""Serving policies: how a lineage turns a day's observation into the slates it shows.

A policy is called once per lineage and day as ``policy(observation, rows, model, slate_size)``:

- ``observation``: the day as a recommender sees it (``abtest_sim.world.Observation``: requests,
  their candidates, feature frames, the seed for keyed random draws); never the world's truth;
- ``rows``: int64 ``[n]``, the rows of ``observation.requests`` this lineage serves (its users'
  requests, or every request for a launch lineage);
- ``model``: the lineage's serving version as a ``serving.Scorer`` (a ``serving.ModelScorer``:
  ``model(frame)`` gives pCTRs, ``model.model`` is the ``reloop.FittedModel``);
- ``slate_size``: K, the slots of a slate;

and returns the slates: int item ids ``[n, K]``, best first, each row distinct items from that
request's candidates, or a ``serving.Slates`` for ``rows`` (its ``explored`` flags are logged).
Whatever the policy, the lineage logs its model's pCTR of each shown item at its position (ReLoop's
``y_last``), the world draws the clicks, and the lineage retrains on its logs as usual.

The built-in policy (``arm.<name>.policy: null``) is ``ModelRanking``: the model's top K, with the
experiment's exploration (``epsilon``, ``swap_prob``). A plugged-in policy (a Hydra ``_target_``
mapping, its other keys bound as keyword arguments, a class instantiated with them) ranks and
explores as it likes: ``serving.rank(model, observation, rows, slate_size, exploration=...)``
is the built-in ranking to start from.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from abtest_sim.sim.errors import PolicyFailed
from abtest_sim.sim.serving import Exploration, Scorer, Slates, rank
from abtest_sim.world import Observation
from reloop.targets import build, target_path

__all__ = [
    "ModelRanking",
    "PluggedPolicy",
    "Policy",
    "check_policy",
    "checked_slates",
    "resolve_policy",
]

CHECK_ROWS = 1 << 15  # rows per chunk when checking a plugged policy's slates


class Policy(Protocol):
    def __call__(
        self, observation: Observation, rows: np.ndarray, model: Scorer, slate_size: int
    ) -> np.ndarray | Slates: ...


@dataclass(frozen=True)
class ModelRanking:
    """The built-in policy: every candidate scored by the model, the top K shown, explored with
    the experiment's ``epsilon`` and ``swap_prob``."""

    exploration: Exploration | None = None

    def __call__(
        self, observation: Observation, rows: np.ndarray, model: Scorer, slate_size: int
    ) -> Slates:
        return rank(model, observation, rows, slate_size, exploration=self.exploration)


@dataclass(frozen=True)
class PluggedPolicy:
    """A user's policy, its failures and its slates checked (``PolicyFailed``, one line)."""

    policy: Callable[..., Any]
    target: str

    def __call__(
        self, observation: Observation, rows: np.ndarray, model: Scorer, slate_size: int
    ) -> Slates:
        try:
            result = self.policy(observation, rows, model, slate_size)
        except Exception as error:  # any failure of user code, in one line
            message = " ".join(str(error).split()) or type(error).__name__
            raise PolicyFailed(
                f"policy {self.target} failed on day {observation.day}: {message}"
            ) from None
        return checked_slates(result, observation, rows, slate_size, self.target)


def resolve_policy(
    spec: dict[str, Any] | None, exploration: Exploration | None = None
) -> ModelRanking | PluggedPolicy:
    """The policy an arm's ``policy`` field names, built anew (``ValueError`` if it cannot be)."""
    if spec is None:
        return ModelRanking(exploration)
    target = target_path(spec, "policy")
    policy = build(spec, "policy")
    if not callable(policy):
        raise ValueError(f"{target!r} does not give a function")
    return PluggedPolicy(policy, target)


def check_policy(policy: ModelRanking | PluggedPolicy) -> None:
    """Refuse (``ValueError``) a policy that cannot be called with the policy's arguments."""
    if isinstance(policy, ModelRanking):
        return
    try:
        signature = inspect.signature(policy.policy)
    except (TypeError, ValueError):  # a callable without a signature: found out when called
        return
    try:
        signature.bind(None, None, None, 1)
    except TypeError as error:
        raise ValueError(
            f"{policy.target} cannot be called as policy(observation, rows, model, slate_size): "
            f"{error}"
        ) from None


def checked_slates(
    result: object, observation: Observation, rows: np.ndarray, slate_size: int, target: str
) -> Slates:
    """A policy's slates for ``rows``, checked: K distinct candidates of each request."""
    explored = np.zeros(len(rows), dtype=np.int8)
    if isinstance(result, Slates):
        if not np.array_equal(result.request_rows, rows):
            raise PolicyFailed(f"policy {target} returned slates for other requests than asked")
        items, explored = result.items, result.explored.astype(np.int8, copy=False)
    else:
        items = np.asarray(result)
    if items.shape != (len(rows), slate_size) or not np.issubdtype(items.dtype, np.integer):
        raise PolicyFailed(
            f"policy {target} returned {items.dtype} items of shape {items.shape}, expected "
            f"integer item ids of shape {(len(rows), slate_size)}"
        )
    candidates = observation.candidates
    for start in range(0, len(rows), CHECK_ROWS):
        part = slice(start, start + CHECK_ROWS)
        chunk = items[part]
        shown = (chunk[:, :, None] == candidates[rows[part]][:, None, :]).any(axis=2)
        if not shown.all():
            raise PolicyFailed(
                f"policy {target} showed items that are not the requests' candidates"
            )
        ordered = np.sort(chunk, axis=1)
        if (ordered[:, 1:] == ordered[:, :-1]).any():
            raise PolicyFailed(f"policy {target} showed an item twice in one slate")
    pctr = np.zeros(items.shape, dtype=np.float32)  # the lineage's model scores what was shown
    return Slates(items.astype(np.int32, copy=False), pctr, rows, explored)
