"""An estimator's lift after each A/B day with its bands, from one compared pair's logs: what the
report's chart of the lift over the days and cumulative.csv show for the headline estimator
(``DailyTable.so_far``), and what the peeking study looks at every day
(``abtest_sim.analysis.peeking``)."""

from __future__ import annotations

import numpy as np
import polars as pl

from abtest_sim.analysis.estimator_base import PairData, SoFar
from abtest_sim.analysis.estimators import estimator
from abtest_sim.analysis.series import (
    pooled_so_far,
    pooled_truths_so_far,
    so_far_frame,
    units_so_far,
)
from abtest_sim.analysis.unit_days import ArmLog, Design
from abtest_sim.stats.influence import relative_lift_of

__all__ = ["pair_data", "so_far_of"]


def pair_data(
    a: ArmLog, b: ArmLog, design: Design, *, alpha: float, cs_rho: float | None = None
) -> PairData:
    """What the estimators of the pair (control ``a``, treatment ``b``) read: the daily lifts
    (undefined days of ``design`` zeroed, ``Linearized.without``) and the lift of the CTR pooled
    over the A/B days so far, with its frame (bands, truths: daily.csv's pooled columns)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lifts = relative_lift_of(a.panel().linearized(a.group), b.panel().linearized(b.group))
    pooled = SoFar(*pooled_so_far(a, b, design), pooled_truths_so_far(a, b, design))
    units = units_so_far(a, b, design)
    frame = so_far_frame(
        pooled.lifts, pooled.undefined, units, design, pooled.truths, alpha=alpha, rho=cs_rho
    )
    daily = lifts.without(design.undefined)
    return PairData(a, b, design, daily, alpha, pooled, frame, cs_rho)


def so_far_of(
    key: str,
    pair: PairData,
    daily: pl.DataFrame | None = None,
    lineage_sd: float | None = None,
) -> pl.DataFrame | None:
    """The estimator ``key``'s lift after each A/B day with its bands (``series.so_far_frame``,
    ``lineage_sd`` added to their SE) and an ``estimator`` column first; ``daily``: the pair's
    daily.csv rows of the days, for the truths (None: none). None when the estimator has no
    such series."""
    chosen = estimator(key)
    series = chosen.so_far(pair, daily)
    if series is None:
        return None
    out = so_far_frame(
        series.lifts,
        series.undefined,
        units_so_far(pair.control, pair.treatment, pair.design),
        pair.design,
        series.truths,
        alpha=pair.alpha,
        rho=pair.cs_rho,
        bounded=chosen.bounded,
        lineage_sd=lineage_sd,
    )
    return out.insert_column(0, pl.Series("estimator", [key] * out.height))
