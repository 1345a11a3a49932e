"""WorldConfig: validation, construction from the Hydra configs, defaults in sync with the YAML."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from abtest_sim.world import PopulationShift, World, WorldConfig

CONF = Path(__file__).resolve().parents[3] / "conf"


def _compose(name: str):
    with initialize_config_dir(config_dir=str(CONF / "world"), version_base=None):
        return compose(config_name=name)


def test_default_yaml_matches_dataclass_defaults_and_documents_every_field():
    node = _compose("default")
    assert WorldConfig.from_dict(node) == WorldConfig()
    text = (CONF / "world" / "default.yaml").read_text()
    for f in fields(WorldConfig):
        line = next(ln for ln in text.splitlines() if ln.startswith(f"{f.name}:"))
        assert "#" in line, f"{f.name} is not documented"


def test_the_small_world_overrides_the_default():
    small = WorldConfig.from_dict(_compose("small"))
    assert small.n_users == 3000 and small.base_logit == WorldConfig().base_logit
    World(small, 0).begin_day(1)


def test_population_shifts_from_plain_mappings():
    node = OmegaConf.create({"population_shifts": [{"day": 3, "category": 2, "strength": 0.5}]})
    config = WorldConfig.from_dict(node)
    assert config.population_shifts == (PopulationShift(day=3, category=2, strength=0.5),)
    assert WorldConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n_users", 0),
        ("drift_tau", -1.0),
        ("regime_shift_prob", 1.5),
        ("n_candidates", 50_000),
        ("weekday_activity", (1.0, 1.0)),
        ("hour_activity_amplitude", 2.0),
        ("pref_std", float("nan")),
        ("start_weekday", 7),
    ],
)
def test_validate_names_the_bad_field(field, value):
    with pytest.raises(ValueError, match=field):
        WorldConfig(**{field: value}).validate()


def test_unknown_keys_are_rejected():
    with pytest.raises(ValueError, match="n_userz"):
        WorldConfig.from_dict({"n_userz": 3})
