"""The configuration of ``reloop-offline``: methods, early-stopping budgets, the backbone and its
training settings, and the protocol's options, each checked before any training."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reloop.models import MODELS
from reloop.schema import ModelSpec, TrainSpec

__all__ = [
    "BACKBONE",
    "METHODS",
    "PREVIOUS_SEED",
    "PROTOCOLS",
    "REFERENCE",
    "SUCCESSIVE_METHODS",
    "Budget",
    "Method",
    "OfflineCommand",
    "OfflineConfig",
]


PROTOCOLS = ("paper", "successive")
BACKBONE = "bce"
REFERENCE = {"paper": "previous", "successive": "initial"}  # the model y_last comes from
PREVIOUS_SEED = 100_003  # the previous model's seed is seed + this, apart from the others


@dataclass(frozen=True)
class Method:
    loss: str
    warm: bool = False  # paper: start from the previous model (successive: every lineage is)
    budget: str = "default"


METHODS = {
    "bce": Method("bce"),
    "bce_long": Method("bce", budget="long"),
    "bce_warm": Method("bce", warm=True),
    "kd": Method("kd"),
    "reloop": Method("reloop"),
    "kd_warm": Method("kd", warm=True),
    "reloop_warm": Method("reloop", warm=True),
}
SUCCESSIVE_METHODS = ("bce", "bce_long", "kd", "reloop")


@dataclass(frozen=True)
class Budget:
    """Early stopping: at most ``epochs``, stop after ``patience`` epochs without a better AUC."""

    epochs: int = 20
    patience: int = 2


@dataclass(frozen=True)
class Budgets:
    default: Budget = field(default_factory=Budget)  # every method but bce_long
    long: Budget = field(default_factory=lambda: Budget(20, 5))  # bce_long


@dataclass(frozen=True)
class PaperOptions:
    split: tuple[float, ...] = (0.8, 0.1, 0.1)  # train, validation, test
    previous_fraction: float = 0.9
    methods: tuple[str, ...] = tuple(METHODS)
    baselines: tuple[str, ...] = ("bce", "bce_long", "bce_warm", "kd")


@dataclass(frozen=True)
class SuccessiveOptions:
    periods: int = 6
    valid_fraction: float = 0.1
    methods: tuple[str, ...] = SUCCESSIVE_METHODS
    baselines: tuple[str, ...] = ("bce", "bce_long", "kd")


@dataclass(frozen=True)
class OfflineCommand:
    """reloop-offline's keys (conf/offline.yaml), read by the one schema reader
    (``reloop.schema.build``): an unknown key or a value of the wrong type is refused naming it."""

    protocol: str = "paper"
    seeds: int | tuple[int, ...] = 5  # a count (seeds 0..n-1) or the seeds
    alpha: float | tuple[float, ...] = 0.5  # one value, or a sweep
    methods: tuple[str, ...] | None = None  # null: the protocol's own
    baselines: tuple[str, ...] | None = None
    model: ModelSpec = field(default_factory=ModelSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    budgets: Budgets = field(default_factory=Budgets)
    paper: PaperOptions = field(default_factory=PaperOptions)
    successive: SuccessiveOptions = field(default_factory=SuccessiveOptions)
    progress: bool = True
    run_dir: str = ""
    dataset: dict[str, Any] = field(default_factory=dict)  # read by reloop.datasets.load_dataset

    def config(self) -> OfflineConfig:
        """The run's configuration (checked by ``OfflineConfig.validate``)."""
        paper = self.protocol == "paper"
        options: PaperOptions | SuccessiveOptions = self.paper if paper else self.successive
        seeds = tuple(range(self.seeds)) if isinstance(self.seeds, int) else self.seeds
        alphas = (self.alpha,) if isinstance(self.alpha, float) else self.alpha
        return OfflineConfig(
            protocol=self.protocol,
            seeds=seeds,
            alphas=tuple(float(a) for a in alphas),
            methods=self.methods if self.methods is not None else options.methods,
            baselines=self.baselines if self.baselines is not None else options.baselines,
            model=self.model,
            train=self.train,
            budgets={"default": self.budgets.default, "long": self.budgets.long},
            split=self.paper.split,
            previous_fraction=self.paper.previous_fraction,
            periods=self.successive.periods,
            valid_fraction=self.successive.valid_fraction,
            progress=self.progress,
        )


@dataclass(frozen=True)
class OfflineConfig:
    protocol: str = "paper"
    seeds: tuple[int, ...] = (0,)
    alphas: tuple[float, ...] = (0.5,)
    methods: tuple[str, ...] = tuple(METHODS)
    baselines: tuple[str, ...] = ("bce", "bce_long", "bce_warm")
    model: ModelSpec = field(default_factory=ModelSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    budgets: Mapping[str, Budget] = field(
        default_factory=lambda: {"default": Budget(20, 2), "long": Budget(20, 5)}
    )
    split: tuple[float, ...] = (0.8, 0.1, 0.1)  # train, validation, test (3 fractions)
    previous_fraction: float = 0.9
    periods: int = 6
    valid_fraction: float = 0.1
    progress: bool = False

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad option (before any training)."""
        for ok, message in self._checks():
            if not ok:
                raise ValueError(message)
        self.model.check()
        self.train.check()

    def _checks(self) -> Iterator[tuple[bool, str]]:
        """(condition, message if it fails), in order: later checks rely on earlier ones."""
        allowed = METHODS if self.protocol == "paper" else SUCCESSIVE_METHODS
        unknown = [m for m in (*self.methods, *self.baselines) if m not in allowed]
        model = self.model
        yield (
            self.protocol in PROTOCOLS,
            f"protocol: expected {list(PROTOCOLS)}, got {self.protocol!r}",
        )
        yield bool(self.seeds), "seeds: need at least one seed"
        yield min(self.seeds, default=0) >= 0, f"seeds must be >= 0, got {list(self.seeds)}"
        yield (
            bool(self.alphas) and all(0.0 <= a <= 1.0 for a in self.alphas),
            f"alpha: each value must lie in [0, 1], got {list(self.alphas)}",
        )
        yield (
            not unknown,
            f"methods: unknown {unknown}; protocol {self.protocol!r} has {list(allowed)}",
        )
        yield len(set(self.methods)) == len(self.methods), "methods: a method is named twice"
        yield (
            set(self.baselines) <= set(self.methods),
            f"baselines: {list(self.baselines)} must be among the methods run {list(self.methods)}",
        )
        yield BACKBONE in self.methods, f"methods: must include the backbone {BACKBONE!r}"
        yield (
            isinstance(model.name, Mapping) or model.name in MODELS,
            f"model.name: unknown {model.name!r}; expected {sorted(MODELS)} or a _target_",
        )
        yield set(self.budgets) == {"default", "long"}, "budgets: need 'default' and 'long'"
        for name, budget in self.budgets.items():
            yield (
                min(budget.epochs, budget.patience) >= 1,
                f"budgets.{name}: epochs and patience must be >= 1",
            )
        if self.protocol == "paper":
            split = self.split
            yield (
                len(split) == 3 and min(split) > 0 and bool(np.isclose(sum(split), 1)),
                f"paper.split: 3 positive fractions summing to 1, got {list(split)}",
            )
            yield (
                0 < self.previous_fraction <= 1,
                f"paper.previous_fraction must lie in (0, 1], got {self.previous_fraction}",
            )
        else:
            yield self.periods >= 3, f"successive.periods must be >= 3, got {self.periods}"
            yield (
                0 <= self.valid_fraction < 1,
                f"successive.valid_fraction must lie in [0, 1), got {self.valid_fraction}",
            )

    def variants(self) -> list[tuple[str, float | None]]:
        """(method, alpha) pairs in run order: BCE methods once, KD and ReLoop once per alpha."""
        return [
            (m, a)
            for m in self.methods
            for a in ((None,) if METHODS[m].loss == "bce" else self.alphas)
        ]
