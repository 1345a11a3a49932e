"""Lineages: who is in which arm, and the model version chains that serve them.

A lineage is one chain of model versions: version 0 (the start model at the split; the warm-up
model for the burn-in lineage), then one version a night, each trained warm-started from the one
before on a sliding window of the lineage's own logs with its recipe's loss (everyone trains BCE
during the A/A phase). ``y_last`` is either the pCTR the serving version logged for each
impression (``logged``) or the previous version's prediction recomputed on the window
(``rescore``): they differ when the window spans days served by older versions. The simulator
holds one lineage per test arm (its own users), the burn-in lineage before the split (every
user), and the launch lineages (``abtest_sim.sim.launch``: every user).

A lineage serves with its arm's policy (``abtest_sim.sim.policies``) and applies the versions the
retrainer returns (``advance``): nothing else changes its model or version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

import reloop
from abtest_sim.sim.config import ArmSpec, SimulationConfig
from abtest_sim.sim.policies import ModelRanking, PluggedPolicy, resolve_policy
from abtest_sim.sim.retraining import Model, TrainTask, Version
from abtest_sim.sim.rundir import LineageArea, RunDir
from abtest_sim.sim.serving import Exploration, ModelScorer, Scorer
from abtest_sim.world.rng import keyed_uniform

__all__ = [
    "BURNIN_ARM",
    "WARMUP_ARM",
    "Lineage",
    "assign_users",
    "burnin_spec",
    "salt_key",
]

WARMUP_ARM = "warmup"  # the logs of the warm-up days (random slates to everyone)
BURNIN_ARM = "burnin"  # the burn-in lineage and its logs


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


def burnin_spec(config: SimulationConfig) -> ArmSpec:
    """The burn-in lineage: the control's training settings, trained with BCE and serving with
    the built-in model ranking (production before anyone thought of a test)."""
    control = config.arm(config.experiment.control)
    return replace(control, name=BURNIN_ARM, recipe="baseline", policy=None)


@dataclass
class Lineage:
    """A spec (recipe, training settings, serving policy) and the version that serves now."""

    spec: ArmSpec
    model: Model  # the serving version
    origin: Model  # version 0, where warm_start=false restarts every night
    origin_file: str  # version 0's file, relative to the run dir
    version: int = 0  # +1 every night
    model_file: str | None = None  # the serving version's file, relative (None: version 0)
    _plugged: PluggedPolicy | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def serving_file(self) -> str:
        return self.model_file or self.origin_file

    def scorer(self) -> Scorer:
        """The serving version as a ``serving.Scorer`` (a ``ModelScorer`` for a reloop model)."""
        if isinstance(self.model, reloop.FittedModel):
            return ModelScorer(self.model)
        if callable(self.model):  # a model that scores frames itself (a test's stub)
            scorer: Scorer = self.model
            return scorer
        raise TypeError(f"lineage {self.name}: cannot serve a {type(self.model).__name__}")

    def policy(self, phase: str, exploration: Exploration | None) -> ModelRanking | PluggedPolicy:
        """How the lineage chooses its slates in ``phase`` (the experiment's exploration is the
        built-in ranking's). A plugged policy is built once per lineage: lineages never share
        one (its state, if it keeps any, is not checkpointed)."""
        spec = self.spec.policy_on(phase)
        if spec is None:
            return ModelRanking(exploration)
        if self._plugged is None:
            plugged = resolve_policy(spec)
            assert isinstance(plugged, PluggedPolicy)
            self._plugged = plugged
        return self._plugged

    def fork(self, spec: ArmSpec) -> Lineage:
        """A lineage of ``spec`` with this one's history (a launch lineage's fork)."""
        return Lineage(
            spec, self.model, self.origin, self.origin_file, self.version, self.model_file
        )

    def train_task(
        self, day: int, loss: str | dict[str, Any], area: LineageArea, kind: str, run_dir: RunDir
    ) -> TrainTask:
        """Night ``day``'s training of this lineage's next version into ``area``."""
        return TrainTask(
            kind=kind,
            spec=self.spec,
            loss=loss,
            logs_root=area.logs,
            serving=self.model,
            serving_file=run_dir.resolve(self.serving_file),
            origin=self.origin,
            origin_file=run_dir.resolve(self.origin_file),
            out=area.model(self.name, day),
            version=self.version + 1,
        )

    def advance(self, version: Version) -> None:
        """Serve the version the retrainer trained from tomorrow on."""
        if version.number != self.version + 1:
            raise ValueError(
                f"lineage {self.name} is at version {self.version}: it cannot serve version "
                f"{version.number} next"
            )
        self.model, self.model_file, self.version = version.model, version.file, version.number
