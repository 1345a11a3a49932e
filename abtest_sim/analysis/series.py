"""Series beside daily.csv: the cumulative lift of the pooled CTR over the A/B days (with its
always-valid confidence sequence), and each arm's CTR (observed, served truth, launch truth) per
day."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from abtest_sim.analysis.unit_days import ArmLog, Design
from abtest_sim.stats.influence import Linearized, ratio_panel, relative_lift_of
from abtest_sim.stats.lift_floor import floor_interval, lift_interval
from abtest_sim.stats.ratio import z_critical
from abtest_sim.stats.sequential import confidence_sequence

__all__ = [
    "SO_FAR_TRUTHS",
    "arm_days",
    "pooled_so_far",
    "pooled_truths_so_far",
    "served_totals",
    "so_far_frame",
    "units_so_far",
]

SO_FAR_TRUTHS = ("target_lift", "launch_lift")  # cumulative.csv's truth columns


def served_totals(log: ArmLog) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-day expected clicks and impressions of what the arm served its own users, if known."""
    if log.true_clicks is None:
        return None
    return log.true_clicks.sum(axis=1), log.impressions.sum(axis=1)


def pooled_so_far(a: ArmLog, b: ArmLog, design: Design) -> tuple[Linearized, np.ndarray]:
    """The lift of the CTR pooled over the A/B days so far (a row per A/B day), and the days on
    which it is undefined: until both arms have 2 units and the control a click."""
    ab = design.mask("ab")
    panels = []
    for log in (a, b):
        present = np.logical_or.accumulate(log.present[ab], axis=0)
        clicks, impressions = (
            np.cumsum(log.clicks[ab], axis=0),
            np.cumsum(log.impressions[ab], axis=0),
        )
        panels.append(ratio_panel(clicks, impressions, present, strict=False))
    undefined = ~np.isfinite(panels[0].ratio * panels[1].ratio) | (panels[0].ratio <= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lifts = relative_lift_of(panels[0].linearized(a.group), panels[1].linearized(b.group))
    return lifts.without(undefined), undefined


def so_far_frame(
    lifts: Linearized,
    undefined: np.ndarray,
    units: np.ndarray,
    design: Design,
    truths: Mapping[str, np.ndarray | None],
    *,
    alpha: float,
    rho: float | None = None,
    bounded: bool = True,
    lineage_sd: float | None = None,
) -> pl.DataFrame:
    """An estimate after each A/B day (``lifts``, a row per A/B day) as cumulative.csv's rows.

    Columns: day, lift, se (the delta method's), se_total (with ``lineage_sd`` in quadrature, as
    the report's headline interval; se without it), ci_low, ci_high, p_value (the fixed-horizon
    interval from se_total: valid for one look), units (users of both arms so far), cs_low,
    cs_high (the always-valid confidence sequence, ``abtest_sim.stats.sequential``, tuned by
    ``rho``; None: tightest on the last day), then the ``truths`` (target_lift, launch_lift: per
    A/B day, None when unknown). Rows of ``undefined`` days are null. ``bounded``: a relative
    lift, whose bands stay above -100%.
    """
    sampling_se = lifts.se()
    lift = lifts.value
    se = np.sqrt(sampling_se**2 + lineage_sd**2) if lineage_sd else sampling_se
    ci_low, ci_high, p_value, _ = lift_interval(lift, se, z_critical(alpha), bounded=bounded)
    cs_low, cs_high = confidence_sequence(lift, se, units, alpha=alpha, rho=rho)
    if bounded:  # the band of a lift stays above -100% too (abtest_sim.stats.lift_floor)
        cs_low, cs_high, _ = floor_interval(lift, cs_high - lift, cs_low, cs_high)
    # No sampling information (a treatment without a click so far: a lift of -100% with SE 0,
    # shown clipped as daily.csv does): no band, rather than a band of one point that excludes 0.
    no_information = ~(sampling_se > 0)
    cs_low, cs_high = (
        np.where(no_information, np.nan, cs_low),
        np.where(no_information, np.nan, cs_high),
    )
    columns = {"lift": lift, "se": sampling_se, "se_total": se, "ci_low": ci_low,
               "ci_high": ci_high, "p_value": p_value,
               "cs_low": cs_low, "cs_high": cs_high}  # fmt: skip
    blanked = {
        name: pl.Series(name, np.where(undefined, np.nan, values), nan_to_null=True)
        for name, values in columns.items()
    }
    days = int(design.mask("ab").sum())
    return pl.DataFrame(
        [
            pl.Series("day", list(np.array(design.labels)[design.mask("ab")])),
            *(blanked[name] for name in ("lift", "se", "se_total", "ci_low", "ci_high", "p_value")),
            pl.Series("units", units.astype(np.int64)),
            blanked["cs_low"],
            blanked["cs_high"],
            *(_truth_series(name, truths.get(name), days) for name in SO_FAR_TRUTHS),
        ]
    )


def _truth_series(name: str, values: np.ndarray | None, days: int) -> pl.Series:
    if values is None:
        return pl.Series(name, [None] * days, dtype=pl.Float64)
    return pl.Series(name, values, dtype=pl.Float64, nan_to_null=True)


def units_so_far(a: ArmLog, b: ArmLog, design: Design) -> np.ndarray:
    """Units seen by each A/B day (cumulatively): both arms' users, each unit once in a paired
    design (one unit axis shared by the arms)."""
    days = design.mask("ab")
    seen = [np.logical_or.accumulate(log.present[days], axis=0) for log in (a, b)]
    if a.group == b.group:
        return (seen[0] | seen[1]).sum(axis=1).astype(np.float64)
    return (seen[0].sum(axis=1) + seen[1].sum(axis=1)).astype(np.float64)


def pooled_truths_so_far(a: ArmLog, b: ArmLog, design: Design) -> dict[str, np.ndarray | None]:
    """The truths pooled over the A/B days so far (served: the test target; the launch lineages':
    the launch effect), when known."""
    ab = design.mask("ab")
    return {
        "target_lift": _pooled_truth_so_far(served_totals(a), served_totals(b), ab),
        "launch_lift": _pooled_truth_so_far(a.launch_totals, b.launch_totals, ab),
    }


def _pooled_truth_so_far(
    control: tuple[np.ndarray, np.ndarray] | None,
    treatment: tuple[np.ndarray, np.ndarray] | None,
    days: np.ndarray,
) -> np.ndarray | None:
    """The true lift pooled over ``days`` so far (expected clicks over impressions per arm)."""
    if control is None or treatment is None:
        return None
    a, b = (_ratio(np.cumsum(c[days]), np.cumsum(m[days])) for c, m in (control, treatment))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > 0, b / a - 1.0, np.nan)


def arm_days(logs: Mapping[str, ArmLog], design: Design) -> pl.DataFrame:
    """Per arm and day: users, clicks, impressions, CTR, and when known the true CTR of what the
    arm served (target_ctr) and of its launch lineage (launch_ctr)."""
    frames = []
    for log in logs.values():
        impressions = log.impressions.sum(axis=1)
        served = served_totals(log)
        frames.append(
            pl.DataFrame(
                {
                    "arm": [log.name] * design.n_days,
                    "day": list(design.labels),
                    "phase": design.phases.tolist(),
                    "users": log.present.sum(axis=1),
                    "clicks": log.clicks.sum(axis=1),
                    "impressions": impressions,
                    "ctr": _ctr_series((log.clicks.sum(axis=1), impressions), design.n_days),
                    "target_ctr": _ctr_series(served, design.n_days),
                    "launch_ctr": _ctr_series(log.launch_totals, design.n_days),
                }
            )
        )
    return pl.concat(frames)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _ctr_series(totals: tuple[np.ndarray, np.ndarray] | None, n_days: int) -> pl.Series:
    """Clicks over impressions per day; null on a day without impressions (or truth)."""
    if totals is None:
        return pl.Series([None] * n_days, dtype=pl.Float64)
    return pl.Series(_ratio(*totals), dtype=pl.Float64, nan_to_null=True)
