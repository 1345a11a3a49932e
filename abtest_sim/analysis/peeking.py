"""Daily peeking, simulated: the first-look stopping rule on A/A tests, with the fixed-horizon
p-value and with the confidence sequence.

Each replicate is an independent A/A test: two arms of ``SyntheticCtr`` users (heavy-tailed
activity, a CTR of their own), who by default join over the test, a user's first day uniform over
the days (as traffic accrues in a running test), and come back on later days; optionally the test
has a pre-period (``aa_days``) before its looked-at days. Every A/B day an estimator's lift so far
is looked at, as the report's chart shows it (``abtest_sim.analysis.so_far``: the pooled CTR, the
mean of the daily lifts, A/B - A/A or CUPED over the A/B days so far, delta-method SE over users),
and the test is stopped at the first day that

- the fixed-horizon interval excludes zero (p < alpha), or
- the always-valid confidence sequence excludes zero.

Both rules run on the same replicates; there is no effect, so every stop is a false positive.
``benchmarks/peeking_study.py`` runs 1,000+ replicates; ``tests/abtest_sim/test_peeking.py`` a
smaller number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from abtest_sim.analysis.so_far import pair_data, so_far_of
from abtest_sim.analysis.unit_days import ArmLog, Design, undefined_day_reasons, with_defined_days
from abtest_sim.stats.sequential import rho_for_units
from abtest_sim.stats.synthetic import SyntheticCtr

__all__ = ["PeekingCounts", "simulate_peeking"]


@dataclass(frozen=True)
class PeekingCounts:
    """How many of ``replicates`` A/A tests each rule stopped (falsely), and the price in width."""

    replicates: int
    days: int
    users: int
    rho: float
    fixed_any_day: int  # stopped on some day by the fixed-horizon interval (p < alpha)
    fixed_last_day: int  # rejected at the horizon only (one look: about alpha)
    cs_any_day: int  # stopped on some day by the confidence sequence
    first_stop_fixed: np.ndarray  # per day: replicates first stopped that day (fixed-horizon)
    width_ratio: np.ndarray  # per day: mean CS width over the fixed-horizon interval's width


def _arm(name: str, clicks: np.ndarray, impressions: np.ndarray) -> ArmLog:
    return ArmLog(name, clicks, impressions, impressions > 0, None)


def _enrol(rng: np.random.Generator, clicks: np.ndarray, impressions: np.ndarray) -> None:
    """Users join over the test (in place): each user's first day is uniform over the days, and
    the user has no impressions before it, as traffic accrues in a running test."""
    replicates, days, users = impressions.shape
    first = rng.integers(0, days, (replicates, 1, users))
    joined = np.arange(days)[None, :, None] >= first
    clicks *= joined
    impressions *= joined


def _so_far(
    key: str, a: ArmLog, b: ArmLog, design: Design, alpha: float, rho: float
) -> pl.DataFrame:
    """The estimator's lift after each A/B day with its bands, as the report computes it."""
    design = with_defined_days(design, undefined_day_reasons([a, b], design))
    series = so_far_of(key, pair_data(a, b, design, alpha=alpha, cs_rho=rho))
    if series is None:
        raise ValueError(f"estimator {key!r} has no lift after each day in this design")
    return series


def _looks(cumulative: pl.DataFrame, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per day: the fixed-horizon stop (p < alpha), the CS stop, the CS over the CI width."""
    low, high, cs_low, cs_high, p = (
        cumulative[c].to_numpy().astype(np.float64)
        for c in ("ci_low", "ci_high", "cs_low", "cs_high", "p_value")
    )
    return p < alpha, (cs_low > 0) | (cs_high < 0), (cs_high - cs_low) / (high - low)


def simulate_peeking(
    rng: np.random.Generator,
    *,
    replicates: int,
    users: int,
    days: int = 14,
    alpha: float = 0.05,
    population: SyntheticCtr | None = None,
    enrol_over_days: bool = True,
    estimator: str = "pooled",
    aa_days: int = 0,
    chunk: int = 100,
) -> PeekingCounts:
    """Run ``replicates`` independent A/A tests of ``users`` users per arm over ``days`` daily
    looks at ``estimator``'s lift so far, after ``aa_days`` pre-period days (needed by CUPED and
    A/B - A/A). ``enrol_over_days``: users join over the pre-period and test days (else every
    user is there from the first day). The confidence sequence's tuning is fixed before the
    data, as a team monitoring a test would: tightest at the planned units, every user of both
    arms."""
    population = population or SyntheticCtr()
    rho = rho_for_units(2 * users, alpha)
    total = aa_days + days
    phases = np.array(["aa"] * aa_days + ["ab"] * days)
    design = Design(tuple(str(d + 1) for d in range(total)), phases)
    fixed = np.zeros((replicates, days), dtype=bool)
    cs = np.zeros((replicates, days), dtype=bool)
    ratios = np.zeros((replicates, days))
    for start in range(0, replicates, chunk):
        size = min(chunk, replicates - start)
        arms = [population.draw(rng, replicates=size, days=total, users=users) for _ in "AB"]
        if enrol_over_days:
            for clicks, impressions in arms:
                _enrol(rng, clicks, impressions)
        (c_a, m_a), (c_b, m_b) = arms
        for r in range(size):
            a, b = _arm("A", c_a[r], m_a[r]), _arm("B", c_b[r], m_b[r])
            looks = _looks(_so_far(estimator, a, b, design, alpha, rho), alpha)
            fixed[start + r], cs[start + r], ratios[start + r] = looks
    stopped = fixed.any(axis=1)
    return PeekingCounts(
        replicates=replicates,
        days=days,
        users=users,
        rho=rho,
        fixed_any_day=int(stopped.sum()),
        fixed_last_day=int(fixed[:, -1].sum()),
        cs_any_day=int(cs.any(axis=1).sum()),
        first_stop_fixed=np.bincount(fixed[stopped].argmax(axis=1), minlength=days),
        width_ratio=np.nanmean(ratios, axis=0),
    )
