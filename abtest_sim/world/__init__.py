"""The simulated world: drifting users, items with freshness, heavy-tailed traffic and a
position-based click model with common random numbers. See ``core.World``: what a recommender may
see of a day is an ``Observation``, the truth an ``Oracle``."""

from abtest_sim.world.clicks import ClickContext
from abtest_sim.world.config import PopulationShift, WorldConfig
from abtest_sim.world.core import World
from abtest_sim.world.features import BASE_FEATURES, feature_names, user_attr_names
from abtest_sim.world.observation import Observation
from abtest_sim.world.oracle import Impressions, Oracle
from abtest_sim.world.requests import DayRequests

__all__ = [
    "BASE_FEATURES",
    "ClickContext",
    "DayRequests",
    "Impressions",
    "Observation",
    "Oracle",
    "PopulationShift",
    "World",
    "WorldConfig",
    "feature_names",
    "user_attr_names",
]
