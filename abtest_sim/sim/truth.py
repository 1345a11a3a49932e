"""The loop's truth evaluation: the one holder of the world's oracle.

Serving shows slates chosen from an ``Observation``; the truth answers with the clicks (common
random numbers drawn from ``p_true``), and keeps ``p_true`` where only the report's truth columns
read it: the served truth of every logged impression (``truth/served/``, keyed by
``logs.TRUTH_KEYS``, apart from the logs) and each day's launch truth (``truth/day=<d>.parquet``:
the launch lineages' expected clicks). No log frame ever holds ``p_true``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from abtest_sim.sim import logs
from abtest_sim.sim.rundir import LineageArea, RunDir
from abtest_sim.sim.serving import Slates
from abtest_sim.world import DayRequests, Oracle
from reloop.atomic import write_parquet

__all__ = ["Response", "Truth"]


@dataclass(frozen=True)
class Response:
    """The world's answer to served slates: the clicks a log holds, and the truth behind them
    (``p_true``: for ``Truth.record`` alone)."""

    clicks: np.ndarray  # int8 [n, K]
    p_true: np.ndarray  # float32 [n, K]


class Truth:
    """Click draws, the served truth and the launch truth of a run, from the world's oracle."""

    def __init__(self, oracle: Oracle, run_dir: RunDir) -> None:
        self._oracle = oracle
        self.run_dir = run_dir

    def respond(self, requests: DayRequests, slates: Slates) -> Response:
        impressions = self._oracle.click(requests, slates.items, slates.request_rows)
        return Response(impressions.click, impressions.p_true)

    def record(
        self,
        area: LineageArea,
        names: Sequence[str],
        day: int,
        logged: pl.DataFrame,
        response: Response,
    ) -> float:
        """Write the served truth of the impressions ``logged`` (one lineage's day, logged under
        each of ``names``) beside them; returns their expected clicks."""
        p_true = response.p_true.reshape(-1).astype(np.float32, copy=False)
        truth = logged.select(logs.TRUTH_KEYS).with_columns(pl.Series("p_true", p_true))
        for name in names:
            named = truth.with_columns(pl.lit(name, dtype=pl.String).alias("arm"))
            logs.write_partition(area.served_truth, name, day, named)
        return float(truth.get_column("p_true").cast(pl.Float64).sum())

    def write_launch_day(self, day: int, rows: list[dict[str, Any]]) -> None:
        """The launch lineages' truth of ``day``: per arm, expected clicks and impressions."""
        write_parquet(pl.DataFrame(rows), self.run_dir.truth(day))
