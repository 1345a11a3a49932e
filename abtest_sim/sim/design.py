"""A test's design, and the measurements that belong to it.

The **design** of a simulated test is everything that shapes its statistics except the replicate:
the world, the model, the experiment (days, slate, exploration, pairing) and the arms as an A/A
of that test trains them (every arm with the control's recipe, policy and training, each keeping
its share). Its key (``design_key``) ignores the seed, the salt, the experiment's name and the
treatments' recipes, so an A/B test and the A/A that measures its lineage variance share one key,
and two designs that differ in anything else (one world parameter, the users, the days) do not.

The **model-lineage SD** of each estimator (the arm-level noise of two lineages of one recipe
trained on different users, which no per-user interval holds) is a measurement of a design:
``abtest-sim-forecast`` measures it on the design's own A/A runs and stores it here keyed by the
design (``LineageStore``); every later run of that design applies it, and a design without one
says that its interval omits it. The default design's measurement ships with the package
(``abtest_sim/sim/measured/``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from abtest_sim.sim.config import SimulationConfig
from reloop.atomic import write_json

__all__ = [
    "SHIPPED",
    "LineageMeasurement",
    "LineageStore",
    "aa_design",
    "ab_design_key",
    "design_key",
]

SHIPPED = Path(__file__).with_name("measured")  # measurements that ship with the package
DESIGN_FORMAT = 1  # bump when what the key covers changes
# The arm fields an A/A trains like the control's (everything but the arm's name and share).
TRAINING_FIELDS = ("recipe", "alpha", "y_last", "window_days", "warm_start", "train", "policy")


def aa_design(config: SimulationConfig) -> SimulationConfig:
    """The A/A of ``config``: every arm trains and serves exactly as the control does."""
    control = config.arm(config.experiment.control)
    same = {name: getattr(control, name) for name in TRAINING_FIELDS}
    return replace(config, arms=tuple(replace(arm, **same) for arm in config.arms))


def design_key(config: SimulationConfig) -> str:
    """The key of ``config``'s design (see the module's docstring)."""
    return _key(aa_design(config))


def ab_design_key(config: SimulationConfig) -> str:
    """The key of the A/B test itself: ``design_key``'s material with the treatments' recipes
    (what a forecast's runs must share to be pooled)."""
    return _key(config)


def _key(config: SimulationConfig) -> str:
    experiment = asdict(config.experiment)
    for name in ("name", "salt", "launch_truth"):  # a label, the replicate, a truth beside it
        experiment.pop(name)
    material = {
        "format": DESIGN_FORMAT,
        "world": config.world.to_dict(),
        "model": asdict(config.model),
        "arms": [asdict(arm) for arm in config.arms],
        "experiment": experiment,
    }
    text = json.dumps(material, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class LineageMeasurement:
    """A design's measured lineage SD per estimator (key: the estimator's name), with the A/A
    runs it was measured on and the command that measured it."""

    design: str
    lineage_sd: dict[str, float]
    aa_runs: int
    interval: dict[str, list[float]] = field(default_factory=dict)  # sd's 95% bootstrap interval
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LineageMeasurement:
        return cls(
            design=str(data["design"]),
            lineage_sd={str(k): float(v) for k, v in data["lineage_sd"].items()},
            aa_runs=int(data["aa_runs"]),
            interval={str(k): [float(x) for x in v] for k, v in data.get("interval", {}).items()},
            source=str(data.get("source", "")),
        )


@dataclass(frozen=True)
class LineageStore:
    """Where measurements are kept: ``folder`` (written by forecasts; null: none) first, then the
    package's shipped ones."""

    folder: Path | None = None

    def lookup(self, key: str) -> LineageMeasurement | None:
        for folder in (self.folder, SHIPPED):
            if folder is None:
                continue
            path = folder / f"{key}.json"
            try:
                return LineageMeasurement.from_dict(json.loads(path.read_text()))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue  # absent, or unreadable: as if not measured
        return None

    def for_design(
        self, config: SimulationConfig, set_by_hand: Mapping[str, float | None], command: str
    ) -> tuple[dict[str, float] | None, str]:
        """The lineage SDs a run of ``config`` applies, and what its report says of them: the ones
        set by hand (``stats.lineage_sd``), else the design's measurement, else none, with the
        ``command`` that measures them."""
        if any(value is not None for value in set_by_hand.values()):
            return None, "lineage SDs set by stats.lineage_sd"
        key = design_key(config)
        found = self.lookup(key)
        if found is None:
            return None, f"not yet measured for this design ({key}); measure it with: {command}"
        return dict(found.lineage_sd), (
            f"lineage SDs measured for this design ({key}) on {found.aa_runs} A/A runs"
            + (f" by {found.source}" if found.source else "")
        )

    def save(self, measurement: LineageMeasurement) -> Path:
        if self.folder is None:
            raise ValueError("no lineage store folder to save the measurement in")
        path = self.folder / f"{measurement.design}.json"
        write_json(path, measurement.to_dict())
        return path
