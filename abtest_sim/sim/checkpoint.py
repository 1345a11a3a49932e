"""The checkpoint of a simulated run, written after every day: the world's state, and per lineage
(test arms, burn-in, launch lineages) its version and model file. ``state.json`` is written last,
atomically, so a kill at any point leaves the previous complete checkpoint in force, and a resumed
run gives exactly what an uninterrupted one gives."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import reloop
from abtest_sim.sim.config import SimulationConfig
from abtest_sim.sim.launch import LaunchLineages
from abtest_sim.sim.lineage import Arm
from abtest_sim.sim.rundir import START_MODEL, STATE_FILE, WARMUP_MODEL
from abtest_sim.world import World
from reloop.atomic import write_json

__all__ = ["Checkpointer", "Restored"]


@dataclass
class Restored:
    """What a checkpoint holds: lineages are None in the phases before they exist."""

    last_day: int
    world: World
    burnin: Arm | None = None
    arms: list[Arm] | None = None
    launch: LaunchLineages | None = None


class Checkpointer:
    def __init__(self, run_dir: Path, config: SimulationConfig, burnin_arm: str) -> None:
        self.directory = run_dir / "checkpoint"
        self.run_dir = run_dir
        self.config = config
        self.burnin_arm = burnin_arm

    def save(
        self,
        day: int,
        world: World,
        arms: list[Arm],
        burnin: Arm | None,
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
        write_json(self.directory / STATE_FILE, state)
        for old in self.directory.glob("world-day=*.npz"):
            if old != world_file:
                old.unlink(missing_ok=True)

    def load(self) -> Restored:
        """The last checkpoint's world and lineages."""
        state = json.loads((self.directory / STATE_FILE).read_text())
        day = int(state["last_day"])
        config, spec = self.config, self.config.experiment
        world = World.load(self.directory / state["world"], config.world, config.seed)
        if day < spec.warmup_days - 1:
            return Restored(day, world)
        if state["burnin"] is not None:  # only a run that simulated its warm-up gets here
            warmup = reloop.load(self.run_dir / WARMUP_MODEL)
            control = config.arm(spec.control)
            burnin_spec = replace(control, name=self.burnin_arm, recipe="baseline")
            return Restored(
                day, world, burnin=self._lineage(burnin_spec, state["burnin"], warmup, {})
            )
        start = reloop.load(self.run_dir / START_MODEL)
        arms = [self._lineage(a, state["arms"][a.name], start, {}) for a in config.arms]
        launch = None
        if state["launch"] is not None:
            loaded: dict[str | None, Arm] = {}
            launch = LaunchLineages(
                {
                    a.name: self._lineage(a, state["launch"][a.name], start, loaded)
                    for a in config.arms
                }
            )
        return Restored(day, world, arms=arms, launch=launch)

    def _lineage(
        self, spec: Any, saved: dict[str, Any], start: reloop.FittedModel, loaded: dict
    ) -> Arm:
        """A lineage from its checkpoint entry; entries with the same model file (launch lineages
        sharing a history) become one object."""
        key = saved["model"]
        if key in loaded:
            return loaded[key]
        model = start if key is None else reloop.load(self.run_dir / key)
        lineage = Arm(spec, model, int(saved["version"]), start, key)
        loaded[key] = lineage
        return lineage


def _lineage_state(lineage: Arm) -> dict[str, Any]:
    return {"version": lineage.version, "model": lineage.model_file}
