"""The simulated world: drifting users, items with freshness, heavy-tailed traffic and a
position-based click model with common random numbers. See ``core.World``."""

from abtest_sim.world.clicks import ClickContext
from abtest_sim.world.config import PopulationShift, WorldConfig
from abtest_sim.world.core import Impressions, World
from abtest_sim.world.features import BASE_FEATURES, feature_names, user_attr_names
from abtest_sim.world.requests import DayRequests

__all__ = [
    "BASE_FEATURES",
    "ClickContext",
    "DayRequests",
    "Impressions",
    "PopulationShift",
    "World",
    "WorldConfig",
    "feature_names",
    "user_attr_names",
]
