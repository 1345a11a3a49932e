"""Launch lineages: what shipping a recipe does, the truth a test is judged against.

The launch effect of a treatment recipe is the true CTR with *every* user served by a lineage of
that recipe, trained nightly on *every* user's logs, over the same for the control recipe. The
simulator runs one launch lineage per arm beside the test. Lineages whose histories are identical
(every arm trains BCE with the same settings in the A/A phase) are one lineage, shared by those
arms: it is served, logged and trained once, so an A/A (identical recipes) has a launch effect of
exactly zero, and the A/A phase costs one extra lineage, not one per arm. The night the arms'
trainings first differ, the shared lineage forks.

A launch lineage's day log is written under the name of every arm sharing it (in
``launch/logs/arm=<name>/``), so after a fork each arm's lineage trains on its full history.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from abtest_sim.sim.config import ArmSpec
from abtest_sim.sim.lineage import Lineage

__all__ = ["LaunchLineages", "training_key"]


def training_key(spec: ArmSpec, loss: str | dict[str, Any]) -> tuple[Any, ...]:
    """Everything a night's training depends on besides the data and the starting model: two
    lineages of one history that train with equal keys stay one lineage. A plugged-in loss (a
    ``_target_`` mapping) is identified by its mapping."""
    settings = {k: v for k, v in asdict(spec).items() if k not in ("name", "share", "recipe")}
    if loss == "bce":  # the recipe's own settings do not act under plain cross-entropy
        settings.pop("alpha")
        settings.pop("y_last")
    name = loss if isinstance(loss, str) else json.dumps(loss, sort_keys=True)
    return (name, json.dumps(settings, sort_keys=True))


@dataclass
class LaunchLineages:
    """Arm name -> the launch lineage of its recipe; arms whose lineages share a history map to
    the same ``Lineage`` object (its ``spec`` is the first sharing arm's)."""

    by_arm: dict[str, Lineage]

    @classmethod
    def start(cls, specs: Sequence[ArmSpec], first: Lineage) -> LaunchLineages:
        """Every arm on one lineage, from ``first``'s model and version."""
        shared = first.fork(specs[0])
        return cls({spec.name: shared for spec in specs})

    def groups(self) -> Iterator[tuple[Lineage, list[str]]]:
        """Each distinct lineage with the arms it serves, in arm order."""
        seen: dict[int, list[str]] = {}
        lineages: dict[int, Lineage] = {}
        for name, lineage in self.by_arm.items():
            seen.setdefault(id(lineage), []).append(name)
            lineages[id(lineage)] = lineage
        for key, names in seen.items():
            yield lineages[key], names

    def fork(self, specs: Sequence[ArmSpec], phase: str) -> None:
        """Split every shared lineage whose arms train differently on ``phase``'s night."""
        spec_of = {spec.name: spec for spec in specs}
        for lineage, names in list(self.groups()):
            by_key: dict[tuple[Any, ...], list[str]] = {}
            for name in names:
                spec = spec_of[name]
                by_key.setdefault(training_key(spec, spec.loss_on(phase)), []).append(name)
            # the first group (it holds the lineage's own arm, the first name) keeps the object;
            # the others continue its history as lineages of their own
            for members in list(by_key.values())[1:]:
                owner = lineage.fork(spec_of[members[0]])
                for name in members:
                    self.by_arm[name] = owner
