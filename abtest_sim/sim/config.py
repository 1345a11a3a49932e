"""Typed configuration of a simulation: arms, experiment design and the ranking model.

Hydra composes ``conf/simulate.yaml``; ``SimulationConfig.from_hydra`` turns the node into frozen
dataclasses and validates everything before any work starts, raising ``ConfigError`` with one
readable line (the CLI prints it and exits with code 2).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from abtest_sim.world import WorldConfig
from abtest_sim.world.parts import WorldParts
from reloop.schema import ModelSpec, SchemaError, TrainSpec, build, coerce

__all__ = ["RECIPES", "ArmSpec", "ConfigError", "ExperimentSpec", "ModelSpec", "SimulationConfig"]

RECIPES = ("baseline", "reloop", "kd")
Y_LAST_SOURCES = ("logged", "rescore")
# Fields that take a built-in name or a Hydra _target_ mapping (your own loss, your own backbone).
PLUGGABLE = {"ArmSpec": ("recipe", "policy"), "ModelSpec": ("name",)}
MIN_ACTIVE_UNITS = 2  # units per arm and day the daily lift needs (stats.unit_days)


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the field."""


@dataclass(frozen=True)
class ArmSpec:
    """One arm: a model lineage retrained nightly on its own logs with a recipe."""

    name: str
    share: float = 0.5  # share of users (randomised mode)
    # baseline (BCE) | reloop | kd, or your own loss as a Hydra _target_ mapping (reloop.losses);
    # applies in the A/B phase
    recipe: str | dict[str, Any] = "baseline"
    alpha: float = 0.5  # weight of the ReLoop / KD term
    y_last: str = "logged"  # logged: the pCTR the serving model logged; rescore: previous version
    window_days: int = 1  # nightly training window (days of the arm's own logs)
    warm_start: bool = True  # continue from yesterday's weights (else retrain from the warm-up)
    # How each nightly retraining trains (reloop.schema.TrainSpec, the schema reloop.fit and
    # reloop-offline share): epochs, batch size, learning rate, optimizer.
    train: TrainSpec = field(default_factory=TrainSpec)
    # How the arm serves its users in the A/B phase: null ranks their candidates with the arm's
    # model (with the experiment's exploration), as every arm does before; your own policy as a
    # Hydra _target_ mapping (abtest_sim.sim.policies).
    policy: dict[str, Any] | None = None

    def loss_on(self, phase: str) -> str | dict[str, Any]:
        """The training loss this arm uses in ``phase``: everyone trains BCE before the A/B."""
        if phase != "ab" or self.recipe == "baseline":
            return "bce"
        return self.recipe

    def policy_on(self, phase: str) -> dict[str, Any] | None:
        """The serving policy this arm uses in ``phase`` (None: the built-in model ranking):
        everyone serves alike before the A/B."""
        return self.policy if phase == "ab" else None


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


def history_key(spec: ArmSpec, phase: str) -> tuple[Any, ...]:
    """What makes a lineage's next day its own: its training tonight and its serving policy on
    the next day, of ``phase``. Two lineages of one history with equal keys stay one lineage."""
    serving = replace(spec, policy=spec.policy_on(phase))
    return training_key(serving, spec.loss_on(phase))


@dataclass(frozen=True)
class ExperimentSpec:
    """The design: warm-up, A/A and A/B phases, serving and which arms are compared."""

    name: str = "default"
    warmup_days: int = 2  # served by an exploring policy; the first model is trained on them
    warmup_epochs: int = 2
    # Days on which one shared lineage (the control's training settings, BCE) serves every user and
    # retrains nightly before the split, so that the test starts near the steady state of a
    # production system, not in the transient after the random-slate warm-up.
    burnin_days: int = 0
    aa_days: int = 7  # all arms on the baseline recipe
    ab_days: int = 7  # treatment arms switch to their recipe
    slate_size: int = 5
    epsilon: float = 0.0  # exploration while serving the test (random slate with this probability)
    swap_prob: float = 0.0  # randomised top position while serving the test
    paired: bool = False  # every arm serves every user in its own copy of the world
    control: str = "control"
    treatments: tuple[str, ...] = ("treatment",)
    aa_control: str | None = None  # optional concurrent second control (A/A')
    salt: str | None = None  # salt of the user -> arm hash; None: derived from the seed
    # Simulate the launch effect: per arm, a lineage of its recipe that serves every user and
    # trains on every user's logs (lineages whose histories are identical are one lineage).
    launch_truth: bool = True

    @property
    def test_days(self) -> int:
        return self.aa_days + self.ab_days

    @property
    def first_test_day(self) -> int:
        """The simulated day on which the split (and the A/A phase) starts."""
        return self.warmup_days + self.burnin_days

    @property
    def test_day_range(self) -> range:
        """The simulated days of the test (A/A and A/B), in order."""
        return range(self.first_test_day, self.first_test_day + self.test_days)

    @property
    def last_day(self) -> int:
        """The last simulated day."""
        return self.first_test_day + self.test_days - 1

    def phase_of(self, day: int) -> str:
        """``warmup``, ``burnin``, ``aa`` or ``ab`` of a simulated day (day 0: first warm-up):
        the one definition of a day's phase."""
        if day < self.warmup_days:
            return "warmup"
        if day < self.first_test_day:
            return "burnin"
        return "aa" if day < self.first_test_day + self.aa_days else "ab"

    def test_day_phases(self) -> dict[int, str]:
        """Test day (numbered from 1, as in the report) -> its phase, ``aa`` or ``ab``."""
        return {day - self.first_test_day + 1: self.phase_of(day) for day in self.test_day_range}


@dataclass(frozen=True)
class SimulationConfig:
    world: WorldConfig
    model: ModelSpec
    arms: tuple[ArmSpec, ...]
    experiment: ExperimentSpec
    seed: int = 0
    progress: bool = True
    # Processes that retrain the arms concurrently each night (1: in this process). An execution
    # setting, like the thread count: every training then runs with torch_threads // workers.
    retrain_workers: int = 1

    @property
    def arm_names(self) -> tuple[str, ...]:
        return tuple(arm.name for arm in self.arms)

    def arm(self, name: str) -> ArmSpec:
        return next(arm for arm in self.arms if arm.name == name)

    @property
    def salt(self) -> str:
        """The salt of the user -> arm hash: the configured one, else one derived from the seed
        (independent replicates need independent splits, not only independent worlds)."""
        if self.experiment.salt is not None:
            return self.experiment.salt
        return f"seed-{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "world": self.world.to_dict(),
            "model": asdict(self.model),
            "arms": [_arm_dict(arm) for arm in self.arms],
            "experiment": asdict(self.experiment),
            "seed": self.seed,
        }

    @classmethod
    def from_hydra(cls, cfg: Mapping[str, Any]) -> SimulationConfig:
        """Build and validate from the composed Hydra config (or a plain dict)."""
        cfg = _plain(cfg)
        try:
            world = WorldConfig.from_dict(cfg.get("world") or {})
            world.validate()
            WorldParts.of(world)  # plugged-in parts must import before any work
        except (TypeError, ValueError) as error:
            raise ConfigError(str(error)) from None
        model = _build(ModelSpec, cfg.get("model") or {}, "model")  # training is per arm
        arms_cfg = cfg.get("arm") or {}
        if not isinstance(arms_cfg, Mapping) or not arms_cfg:
            raise ConfigError("arm: at least one arm is needed (arm.<name>.share=...)")
        arms = tuple(
            _build(ArmSpec, {**dict(node or {}), "name": name}, f"arm.{name}")
            for name, node in arms_cfg.items()
        )
        experiment = _build(ExperimentSpec, cfg.get("experiment") or {}, "experiment")
        config = cls(
            world,
            model,
            arms,
            experiment,
            _int(cfg.get("seed", 0), "seed"),
            _coerce(cfg.get("progress", True), True, "progress"),
            _int(cfg.get("retrain_workers", 1), "retrain_workers"),
        )
        config.validate()
        return config

    def validate(self) -> None:
        for arm in self.arms:
            _validate_arm(arm)
        names = self.arm_names
        if len(set(names)) != len(names):
            raise ConfigError(f"arm names must be unique: {list(names)}")
        if not self.experiment.paired and not math.isclose(
            sum(a.share for a in self.arms), 1.0, abs_tol=1e-9
        ):
            shares = {a.name: a.share for a in self.arms}
            raise ConfigError(f"arm shares must sum to 1, got {shares}")
        _validate_experiment(self.experiment, names)
        if self.experiment.slate_size > self.world.n_candidates:
            raise ConfigError(
                f"experiment.slate_size ({self.experiment.slate_size}) cannot exceed the "
                f"candidates per request (world.n_candidates = {self.world.n_candidates})"
            )
        _validate_model(self.model)
        self._validate_traffic()
        if not 0 <= self.seed < 2**32:
            raise ConfigError(f"seed must lie in [0, 2**32), got {self.seed}")
        if self.retrain_workers < 1:
            raise ConfigError(f"retrain_workers must be at least 1, got {self.retrain_workers}")

    def _validate_traffic(self) -> None:
        """Every arm must expect at least ``MIN_ACTIVE_UNITS`` active users a day (the report
        needs two units per arm and day): checked here, not after the whole simulation."""
        world = self.world
        smallest = min(1.0 if self.experiment.paired else a.share for a in self.arms)
        users = world.n_users * smallest
        if users < MIN_ACTIVE_UNITS:
            raise ConfigError(
                f"world.n_users={world.n_users} gives the smallest arm {users:g} user(s); every "
                f"arm needs at least {MIN_ACTIVE_UNITS}"
            )
        if world.requests is not None:
            return  # a plugged-in traffic model: its activity is its own
        active = users * world.active_share_on_quietest_day
        if active < MIN_ACTIVE_UNITS:
            raise ConfigError(
                f"world.activity_mean={world.activity_mean:g} with {world.n_users} users gives "
                f"the smallest arm {active:.3g} active user(s) on its quietest day; every arm "
                f"needs at least {MIN_ACTIVE_UNITS} a day (raise world.n_users or activity_mean)"
            )


def _arm_dict(arm: ArmSpec) -> dict[str, Any]:
    """An arm as recorded in config.json; without a plugged policy as before policies existed,
    so that earlier runs resume and aggregate alike."""
    fields = asdict(arm)
    if fields["policy"] is None:
        del fields["policy"]
    return fields


def _validate_arm(arm: ArmSpec) -> None:
    where = f"arm.{arm.name}"
    if arm.policy is not None:
        _check_policy(arm.policy, f"{where}.policy")
    if isinstance(arm.recipe, dict):
        _check_plugged_recipe(arm.recipe, arm.alpha, where)
    elif arm.recipe not in RECIPES:
        raise ConfigError(
            f"{where}.recipe: unknown recipe {arm.recipe!r}; expected one of {list(RECIPES)} "
            "or a _target_ mapping"
        )
    if not 0.0 <= arm.alpha <= 1.0:
        raise ConfigError(f"{where}.alpha must lie in [0, 1], got {arm.alpha}")
    if arm.y_last not in Y_LAST_SOURCES:
        raise ConfigError(
            f"{where}.y_last must be one of {list(Y_LAST_SOURCES)}, got {arm.y_last!r}"
        )
    if not 0.0 < arm.share <= 1.0:
        raise ConfigError(f"{where}.share must lie in (0, 1], got {arm.share}")
    if arm.window_days < 1:
        raise ConfigError(f"{where}.window_days must be at least 1, got {arm.window_days}")
    try:
        arm.train.check(f"{where}.train")
    except SchemaError as error:
        raise ConfigError(str(error)) from None
    # Keys of the shared schema that nightly retraining has no use for are refused, not ignored.
    unused = {
        "patience": "it has no validation data to stop on",
        "numeric_mode": "every lineage keeps the feature encoding of the warm-up model",
    }
    for name, why in unused.items():
        if getattr(arm.train, name) != getattr(TrainSpec(), name):
            raise ConfigError(f"{where}.train.{name} cannot be set: nightly retraining {why}")


def _check_plugged_recipe(recipe: dict[str, Any], alpha: float, where: str) -> None:
    """A recipe given as a ``_target_`` mapping must build its loss before any simulated day."""
    from reloop.losses import check_loss, resolve_loss

    try:
        check_loss(resolve_loss(recipe), alpha)  # type: ignore[arg-type]
    except ValueError as error:
        raise ConfigError(f"{where}.recipe: {error}") from None


def _check_policy(spec: Any, where: str) -> None:
    """A serving policy given as a ``_target_`` mapping must import and take the policy's
    arguments before any simulated day."""
    from abtest_sim.sim.policies import check_policy, resolve_policy

    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where} must be null or a _target_ mapping, got {spec!r}")
    try:
        check_policy(resolve_policy(dict(spec)))
    except ValueError as error:
        raise ConfigError(f"{where}: {error}") from None


def _validate_experiment(spec: ExperimentSpec, arm_names: tuple[str, ...]) -> None:
    for name in ("warmup_days", "warmup_epochs", "ab_days", "slate_size"):
        if getattr(spec, name) < 1:
            raise ConfigError(f"experiment.{name} must be at least 1, got {getattr(spec, name)}")
    if spec.aa_days < 0:
        raise ConfigError(f"experiment.aa_days must be >= 0, got {spec.aa_days}")
    if spec.burnin_days < 0:
        raise ConfigError(f"experiment.burnin_days must be >= 0, got {spec.burnin_days}")
    if spec.salt is not None and not isinstance(spec.salt, str):
        raise ConfigError(f"experiment.salt must be a string or null, got {spec.salt!r}")
    for name in ("epsilon", "swap_prob"):
        if not 0.0 <= getattr(spec, name) <= 1.0:
            raise ConfigError(f"experiment.{name} must lie in [0, 1], got {getattr(spec, name)}")
    compared = [spec.control, *spec.treatments] + ([spec.aa_control] if spec.aa_control else [])
    for name in compared:
        if name not in arm_names:
            raise ConfigError(
                f"experiment names arm {name!r}, which is not configured; arms: {list(arm_names)}"
            )
    if not spec.treatments:
        raise ConfigError("experiment.treatments must name at least one arm")
    if spec.aa_control is not None and not isinstance(spec.aa_control, str):
        raise ConfigError(
            f"experiment.aa_control must be an arm name or null, got {spec.aa_control!r}"
        )
    if len(set(compared)) != len(compared):
        raise ConfigError(
            "experiment: control, treatments and aa_control must be distinct arms, got control="
            f"{spec.control!r}, treatments={list(spec.treatments)}, aa_control={spec.aa_control!r}"
        )


def _validate_model(model: ModelSpec) -> None:
    try:
        model.check()
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _build(kind: type, node: Mapping[str, Any], where: str) -> Any:
    try:
        return build(kind, node, where, pluggable=PLUGGABLE.get(kind.__name__, ()))
    except SchemaError as error:
        raise ConfigError(str(error)) from None


def _coerce(value: Any, default: Any, where: str) -> Any:
    try:
        return coerce(value, default, where)
    except SchemaError as error:
        raise ConfigError(str(error)) from None


def _int(value: Any, where: str) -> int:
    return _coerce(value, 0, where)


def _plain(cfg: Mapping[str, Any]) -> dict[str, Any]:
    try:
        from omegaconf import DictConfig, OmegaConf
    except ImportError:  # pragma: no cover
        return dict(cfg)
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    return dict(cfg)
