"""Configuration of the simulated world: one frozen dataclass, built from the Hydra ``world`` node.

Every field is documented in ``conf/world/default.yaml``; the defaults here mirror that file so
that ``WorldConfig()`` is the default world without Hydra.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["PopulationShift", "WorldConfig"]


@dataclass(frozen=True)
class PopulationShift:
    """A topic becomes popular on ``day``: a ``fraction`` of users move their long-term mean and
    their current preference by ``strength`` latent standard deviations towards ``category``."""

    day: int
    category: int
    strength: float = 1.0
    fraction: float = 1.0


@dataclass(frozen=True)
class WorldConfig:
    # population
    n_users: int = 200_000
    n_items: int = 20_000
    n_categories: int = 32
    category_zipf: float = 0.8
    latent_dim: int = 16
    # user preferences and their drift
    user_mean_std: float = 0.8
    user_category_share: float = 0.6
    pref_std: float = 0.6
    drift_tau: float = 7.0
    regime_shift_prob: float = 0.005
    population_shifts: tuple[PopulationShift, ...] = ()
    # observable user attributes
    n_user_attrs: int = 8
    attr_levels: int = 8
    attr_noise: float = 0.5
    # items
    item_category_share: float = 0.6
    item_bias_std: float = 0.5
    item_lifetime_days: int = 40
    freshness_boost: float = 0.6
    freshness_tau: float = 3.0
    # activity
    activity_mean: float = 2.0
    activity_shape: float = 0.35
    max_requests_per_user: int = 200
    weekday_activity: tuple[float, ...] = (0.95, 0.95, 0.95, 1.0, 1.05, 1.05, 1.05)
    hour_activity_amplitude: float = 0.6
    hour_activity_peak: float = 20.0
    start_weekday: int = 0
    # serving
    n_candidates: int = 30
    candidate_popularity: float = 1.0
    # click model
    base_logit: float = -3.9
    user_bias_std: float = 0.5
    affinity_scale: float = 1.0
    position_eta: float = 0.7
    weekday_effect: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.05, 0.1, 0.1)
    hour_effect_amplitude: float = 0.1
    hour_effect_peak: float = 21.0
    # plug-in parts: a Hydra _target_ mapping naming a function (its other keys bound as keyword
    # arguments), or null for the built-in one; signatures in abtest_sim.world.parts
    drift: dict[str, Any] | None = None
    requests: dict[str, Any] | None = None
    click_model: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        shifts = tuple(
            s if isinstance(s, PopulationShift) else PopulationShift(**dict(s))
            for s in self.population_shifts
        )
        object.__setattr__(self, "population_shifts", shifts)
        object.__setattr__(self, "weekday_activity", tuple(map(float, self.weekday_activity)))
        object.__setattr__(self, "weekday_effect", tuple(map(float, self.weekday_effect)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorldConfig:
        """Build from a plain mapping or an OmegaConf node (Hydra's ``_target_`` and other ``_``
        keys are ignored); unknown keys raise ValueError."""
        data = _to_plain(data)
        known = {f.name for f in fields(cls)}
        unknown = sorted(k for k in data if k not in known and not k.startswith("_"))
        if unknown:
            raise ValueError(f"unknown world config field(s): {', '.join(unknown)}")
        for f in fields(cls):
            if f.name in PARTS:
                _check_part(f.name, data.get(f.name))
            elif f.name in data:
                _check_scalar(f.name, str(f.type), data[f.name])
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["population_shifts"] = [asdict(s) for s in self.population_shifts]
        return out

    @property
    def new_items_per_day(self) -> int:
        """Arrivals that keep the live catalogue at ``n_items`` (each item lives its lifetime)."""
        return max(1, round(self.n_items / self.item_lifetime_days))

    def n_items_by(self, day: int) -> int:
        """Item ids ever created up to and including ``day`` (an upper bound for vocabularies)."""
        return self.n_items + max(0, day) * self.new_items_per_day

    @property
    def active_share_on_quietest_day(self) -> float:
        """The expected share of users with a request on the quietest weekday (built-in traffic:
        Poisson requests around Gamma(activity_shape) rates; ``population``, ``requests``)."""
        season = min(self.weekday_activity) / (sum(self.weekday_activity) / 7)
        mean, shape = self.activity_mean * season, self.activity_shape
        return float(1 - (1 + mean / shape) ** -shape)

    def validate(self) -> WorldConfig:
        """Raise ValueError naming the first bad field; return self so calls can chain."""
        for f in fields(self):  # every number finite, whatever its range
            if f.type in ("int", "float") and not _finite(getattr(self, f.name)):
                raise ValueError(
                    f"world.{f.name} must be a finite number, got {getattr(self, f.name)!r}"
                )
        for name, ok in self._checks():
            if not ok:
                raise ValueError(f"invalid world config: {name}={getattr(self, name)!r}")
        for i, s in enumerate(self.population_shifts):
            valid = 0 <= s.category < self.n_categories and 0 < s.fraction <= 1 and s.day >= 1
            if not (valid and _finite(s.strength)):
                raise ValueError(f"invalid world config: population_shifts[{i}]={s!r}")
        return self

    def _checks(self) -> list[tuple[str, bool]]:
        positive = [
            "n_users",
            "n_items",
            "n_categories",
            "latent_dim",
            "attr_levels",
            "item_lifetime_days",
            "activity_mean",
            "activity_shape",
            "max_requests_per_user",
            "n_candidates",
            "drift_tau",
            "freshness_tau",
        ]
        non_negative = [
            "category_zipf",
            "user_mean_std",
            "pref_std",
            "n_user_attrs",
            "attr_noise",
            "item_bias_std",
            "freshness_boost",
            "candidate_popularity",
            "user_bias_std",
            "affinity_scale",
            "position_eta",
            "hour_effect_amplitude",
        ]
        unit = ["user_category_share", "item_category_share", "regime_shift_prob"]
        checks = [(n, _finite(getattr(self, n)) and getattr(self, n) > 0) for n in positive]
        checks += [(n, _finite(getattr(self, n)) and getattr(self, n) >= 0) for n in non_negative]
        checks += [(n, 0 <= getattr(self, n) <= 1) for n in unit]
        checks += [
            ("n_users", self.n_users < 2**31),
            ("max_requests_per_user", self.max_requests_per_user < 2**15),
            ("n_candidates", self.n_candidates <= self.n_items and self.n_candidates < 2**8),
            ("n_categories", self.n_categories < 2**15),
            ("attr_levels", self.attr_levels < 2**15),
            (
                "weekday_activity",
                len(self.weekday_activity) == 7
                and all(_finite(x) and x > 0 for x in self.weekday_activity),
            ),
            (
                "weekday_effect",
                len(self.weekday_effect) == 7 and all(_finite(x) for x in self.weekday_effect),
            ),
            ("hour_activity_amplitude", 0 <= self.hour_activity_amplitude <= 1),
            ("hour_activity_peak", 0 <= self.hour_activity_peak < 24),
            ("hour_effect_peak", 0 <= self.hour_effect_peak < 24),
            ("start_weekday", 0 <= self.start_weekday < 7),
            ("base_logit", _finite(self.base_logit)),
        ]
        return checks


PARTS = ("drift", "requests", "click_model")


def _check_part(name: str, value: Any) -> None:
    if value is not None and not (isinstance(value, Mapping) and "_target_" in value):
        raise ValueError(f"world.{name} must be null or a _target_ mapping, got {value!r}")


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def _to_plain(data: Mapping[str, Any]) -> dict[str, Any]:
    try:
        from omegaconf import DictConfig, OmegaConf
    except ImportError:  # pragma: no cover - hydra-core is a dependency
        return dict(data)
    if isinstance(data, DictConfig):
        plain = OmegaConf.to_container(data, resolve=True)
        assert isinstance(plain, dict)
        return {str(k): v for k, v in plain.items()}
    return dict(data)


def _check_scalar(name: str, annotation: str, value: Any) -> None:
    """Numbers must be numbers: ``world.n_users=`` (an empty string) or ``world.drift_tau=slow``
    fail here with the field's name instead of deep inside the simulation."""
    if annotation == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"world.{name} must be an integer, got {value!r}")
    if annotation == "float" and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValueError(f"world.{name} must be a number, got {value!r}")
