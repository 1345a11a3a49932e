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
Lineages also part when their arms serve differently (``arm.<name>.policy``, in the A/B phase):
the night before the first day they would serve apart (``history_key``), or at the split when the
test starts with the A/B phase.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from abtest_sim.sim.config import ArmSpec, history_key
from abtest_sim.sim.lineage import Lineage

__all__ = ["LaunchLineages"]


@dataclass
class LaunchLineages:
    """Arm name -> the launch lineage of its recipe; arms whose lineages share a history map to
    the same ``Lineage`` object (its ``spec`` is the first sharing arm's)."""

    by_arm: dict[str, Lineage]

    @classmethod
    def start(cls, specs: Sequence[ArmSpec], first: Lineage, phase: str) -> LaunchLineages:
        """Every arm on one lineage per serving policy in ``phase`` (the first test day's), from
        ``first``'s model and version."""
        by_policy: dict[str, Lineage] = {}
        by_arm = {}
        for spec in specs:
            key = json.dumps(spec.policy_on(phase), sort_keys=True)
            if key not in by_policy:
                by_policy[key] = first.fork(spec)
            by_arm[spec.name] = by_policy[key]
        return cls(by_arm)

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
        """Split every shared lineage whose arms train differently tonight or serve differently
        tomorrow, a day of ``phase``."""
        spec_of = {spec.name: spec for spec in specs}
        for lineage, names in list(self.groups()):
            by_key: dict[tuple[Any, ...], list[str]] = {}
            for name in names:
                by_key.setdefault(history_key(spec_of[name], phase), []).append(name)
            # the first group (it holds the lineage's own arm, the first name) keeps the object;
            # the others continue its history as lineages of their own
            for members in list(by_key.values())[1:]:
                owner = lineage.fork(spec_of[members[0]])
                for name in members:
                    self.by_arm[name] = owner
