"""A log simulated from a world, in the shape ``read_log`` takes: every day's requests served
uniformly random slates (an exploring policy, so positions and items are not confounded by a
ranking), with a ``timestamp`` column (epoch seconds, from the first day on or after 2024-01-01
that falls on the world's ``start_weekday``)."""

from __future__ import annotations

import polars as pl

from abtest_sim.sim import logs, serving
from abtest_sim.world import World, WorldConfig

__all__ = ["simulate_log"]

ORIGIN_DAY = 19_723  # 2024-01-01, a Monday (weekday 0), in days since 1970-01-01


def simulate_log(config: WorldConfig, *, seed: int, days: int, slate_size: int) -> pl.DataFrame:
    """One row per impression: the impression log's columns plus ``timestamp`` (epoch seconds)."""
    world = World(config, seed)
    frames = []
    for day in range(days):  # one vectorised step per simulated day
        requests = world.begin_day(day)
        observation = world.observe(requests)
        slates = serving.rank(serving.random_scorer(seed + day), observation, None, slate_size)
        clicks = world.oracle.click(requests, slates.items, slates.request_rows).click
        frames.append(logs.impression_log(observation, slates, clicks, arm="sim", model_version=0))
    first_day = ORIGIN_DAY + config.start_weekday
    return pl.concat(frames).with_columns(
        timestamp=(pl.col("day").cast(pl.Int64) + first_day) * 86_400
        + pl.col("hour").cast(pl.Int64) * 3_600
    )
