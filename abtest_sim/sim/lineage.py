"""Arms: who is in which arm, and how an arm's model lineage is retrained every night.

An arm learns only from its own logs. Its nightly retraining is a ``reloop.fit`` warm-started from
yesterday's model on a sliding window of those logs, with the loss of its recipe (everyone trains
BCE during the A/A phase). ``y_last`` is either the pCTR the serving model logged for each
impression (``logged``) or the previous version's prediction recomputed on the window
(``rescore``): they differ when the window spans days served by older versions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

import reloop
from abtest_sim.sim import logs
from abtest_sim.sim.config import ArmSpec, ModelSpec
from abtest_sim.sim.health import ModelDiverged
from abtest_sim.sim.serving import ModelScorer
from abtest_sim.world.rng import keyed_uniform
from reloop.schema import TrainSpec

__all__ = [
    "Arm",
    "assign_users",
    "salt_key",
    "train_warmup_model",
]


def salt_key(salt: str) -> int:
    """A stable 64-bit key from a salt string (Python's ``hash`` is randomised per process)."""
    return int.from_bytes(hashlib.sha256(salt.encode()).digest()[:8], "little")


def assign_users(n_users: int, shares: Sequence[float], salt: str) -> np.ndarray:
    """int8 [n_users]: the arm index of every user, from a salted hash of the user id.

    A user's arm depends only on (user id, salt, shares), as in production bucketing: the same user
    lands in the same arm in every run and on every day.
    """
    u = keyed_uniform(salt_key(salt), np.arange(n_users, dtype=np.uint64))
    edges = np.cumsum(np.asarray(shares, dtype=np.float64))
    edges[-1] = np.inf  # floating shares summing to 0.9999999 still cover every user
    return np.searchsorted(edges, u, side="right").astype(np.int8)


@dataclass
class Arm:
    """An arm's spec and the model version that serves it now."""

    spec: ArmSpec
    model: reloop.FittedModel
    version: int = 0  # 0 = the shared model at the split; +1 every night
    warmup: reloop.FittedModel | None = None  # where warm_start=false restarts every night
    model_file: str | None = None  # the serving model's file, relative to the run dir (None: start)

    @property
    def name(self) -> str:
        return self.spec.name

    def scorer(self) -> ModelScorer:
        """The serving model as a ``serving.SlateScorer`` (candidates -> pCTRs)."""
        return ModelScorer(self.model)

    def retrain(
        self,
        logs_root: Path,
        day: int,
        loss: str | dict,
        features: Sequence[str],
        model: ModelSpec,
        seed: int,
    ) -> None:
        """Train the next version with ``loss`` on the arm's own logs of the window ending on
        ``day``: warm-started from the serving model, or (``warm_start=false``) from the shared
        warm-up model every night."""
        spec = self.spec
        window = logs.window(logs_root, spec.name, day, spec.window_days)
        frame = window.select(logs.observable_columns(window)).collect()
        y_last = None
        if loss != "bce":
            y_last = "pctr" if spec.y_last == "logged" else reloop.predict(self.model, frame)
        self.model = reloop.fit(
            frame,
            list(features),
            label=logs.LABEL_COLUMN,
            model=model,
            train=spec.train,
            loss=loss,
            alpha=spec.alpha,
            y_last=y_last,
            seed=seed,
            warm_start=self.model if spec.warm_start else self._warmup(),
        )
        if not self.model.has_finite_weights():
            raise ModelDiverged(
                f"the model of arm {spec.name} diverged when retrained on day {day} (non-finite "
                f"weights with lr={spec.train.lr:g}); lower arm.{spec.name}.train.lr"
            )
        self.version += 1

    def _warmup(self) -> reloop.FittedModel:
        if self.warmup is None:
            raise ValueError(f"arm {self.name!r} has warm_start=false but no warm-up model")
        return self.warmup


def train_warmup_model(
    frame: pl.DataFrame, features: Sequence[str], model: ModelSpec, epochs: int, seed: int
) -> reloop.FittedModel:
    """The shared starting model of every arm, trained with BCE on the exploring warm-up logs."""
    return reloop.fit(
        frame,
        list(features),
        label=logs.LABEL_COLUMN,
        model=model,
        train=TrainSpec(epochs=epochs),
        loss="bce",
        seed=seed,
    )
