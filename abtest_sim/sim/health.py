"""Whether the arms' models stayed sane: a model that diverged (a non-finite loss, a learning rate
far too high) serves pCTRs that are NaN or pinned at 0 and 1, and every lift measured on it is an
artefact. Read from what the models logged, so a resumed run gives the same verdict."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import polars as pl

from abtest_sim.sim import logs
from abtest_sim.sim.errors import RunFailure

__all__ = ["SATURATED", "SATURATED_SHARE", "ModelDiverged", "diverged_arms"]


class ModelDiverged(RunFailure):
    """A nightly retraining produced non-finite weights: the lineage cannot serve again, so the run
    stops (with one line naming the arm and the night) instead of serving NaN."""


# A logged pCTR this close to 0 or 1 is saturated (a logit beyond +-13.8; a trained CTR model is
# nowhere near); a day on which more than half of an arm's impressions are saturated, or any pCTR
# is not a number, marks the arm's model as diverged.
SATURATED = 1e-6
SATURATED_SHARE = 0.5


def diverged_arms(logs_root: Path, arms: Iterable[str], days: Iterable[int]) -> dict[str, str]:
    """Arm -> what shows its model diverged, over the given simulated days (empty: all sane)."""
    arms, days = list(arms), list(days)
    pctr = pl.col("pctr")
    per_day = (
        logs.scan(logs_root, arms, days)
        .group_by("arm", "day")
        .agg(
            (~pctr.is_finite()).sum().alias("non_finite"),
            ((pctr < SATURATED) | (pctr > 1 - SATURATED)).mean().alias("saturated"),
        )
        .sort("arm", "day")
        .collect()
    )
    out: dict[str, str] = {}
    for row in per_day.iter_rows(named=True):
        if row["arm"] in out:
            continue
        if row["non_finite"]:
            out[row["arm"]] = f"{row['non_finite']} non-finite pCTR(s) served on day {row['day']}"
        elif row["saturated"] > SATURATED_SHARE:
            out[row["arm"]] = (
                f"{100 * row['saturated']:.0f}% of the pCTRs served on day {row['day']} are "
                "pinned at 0 or 1"
            )
    return out
