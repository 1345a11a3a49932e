"""The checkpoint of a simulated run, written after every day: the world's state, and per lineage
(test arms, burn-in, launch lineages) its version and model file. ``state.json`` is written last,
atomically, so a kill at any point leaves the previous complete checkpoint in force, and a resumed
run gives exactly what an uninterrupted one gives."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abtest_sim.sim.config import ArmSpec, SimulationConfig
from abtest_sim.sim.launch import LaunchLineages
from abtest_sim.sim.lineage import Lineage, burnin_spec
from abtest_sim.sim.retraining import Model
from abtest_sim.sim.rundir import RunDir
from abtest_sim.world import World
from reloop.atomic import write_json

__all__ = ["Checkpointer", "Restored"]


@dataclass
class Restored:
    """What a checkpoint holds: no lineage during the warm-up, the burn-in lineage during the
    burn-in, the test arms (and launch lineages) from the split on."""

    last_day: int
    world: World
    burnin: Lineage | None = None
    arms: list[Lineage] = field(default_factory=list)
    launch: LaunchLineages | None = None


class Checkpointer:
    def __init__(
        self, run_dir: RunDir, config: SimulationConfig, load: Callable[[Path], Model]
    ) -> None:
        self.run_dir = run_dir
        self.directory = run_dir.checkpoint
        self.config = config
        self.load_model = load

    def save(
        self,
        day: int,
        world: World,
        arms: list[Lineage],
        burnin: Lineage | None,
        launch: LaunchLineages | None,
    ) -> None:
        """Everything needed to continue after ``day``."""
        world_file = self.directory / f"world-day={day}.npz"
        world.save(world_file)
        state: dict[str, Any] = {
            "last_day": day,
            "world": world_file.name,
            "arms": {arm.name: _lineage_state(arm) for arm in arms},
            "burnin": None if burnin is None else _lineage_state(burnin),
            "launch": None,
        }
        if launch is not None:
            state["launch"] = {n: _lineage_state(a) for n, a in launch.by_arm.items()}
        write_json(self.run_dir.checkpoint_state, state)
        for old in self.directory.glob("world-day=*.npz"):
            if old != world_file:
                old.unlink(missing_ok=True)

    def load(self) -> Restored:
        """The last checkpoint's world and lineages."""
        state = json.loads(self.run_dir.checkpoint_state.read_text())
        day = int(state["last_day"])
        config = self.config
        world = World.load(self.directory / state["world"], config.world, config.seed)
        phase = config.experiment.phase_of(day + 1)  # of the day a restored lineage serves next
        if state["burnin"] is not None:  # only a run that simulated its warm-up gets here
            origin = self._origin(self.run_dir.warmup_model)
            return Restored(
                day,
                world,
                burnin=self._lineage(burnin_spec(config), state["burnin"], origin, {}, phase),
            )
        if not state["arms"]:  # still warming up
            return Restored(day, world)
        start = self._origin(self.run_dir.start_model)
        arms = [self._lineage(a, state["arms"][a.name], start, {}, phase) for a in config.arms]
        launch = None
        if state["launch"] is not None:
            # launch lineages sharing a model file share a history, unless they serve apart on
            # the next day (at the split of a test that starts with its A/B phase)
            shared: dict[Any, Lineage] = {}
            launch = LaunchLineages(
                {
                    a.name: self._lineage(a, state["launch"][a.name], start, shared, phase)
                    for a in config.arms
                }
            )
        return Restored(day, world, arms=arms, launch=launch)

    def _origin(self, path: Path) -> tuple[Model, str]:
        """Version 0 of the lineages and its file relative to the run dir."""
        return self.load_model(path), self.run_dir.relative(path)

    def _lineage(
        self,
        spec: ArmSpec,
        saved: dict[str, Any],
        origin: tuple[Model, str],
        loaded: dict[Any, Lineage],
        phase: str,
    ) -> Lineage:
        """A lineage from its checkpoint entry; entries of ``loaded`` with the same model file
        and serving policy in ``phase`` become one object."""
        key = saved["model"]
        shared_by = (key, json.dumps(spec.policy_on(phase), sort_keys=True))
        if shared_by in loaded:
            return loaded[shared_by]
        model = origin[0] if key is None else self.load_model(self.run_dir.resolve(key))
        lineage = Lineage(spec, model, origin[0], origin[1], int(saved["version"]), key)
        loaded[shared_by] = lineage
        return lineage


def _lineage_state(lineage: Lineage) -> dict[str, Any]:
    return {"version": lineage.version, "model": lineage.model_file}
