"""Always-valid monitoring: an asymptotic confidence sequence (CS) for a lift read every day.

A fixed-horizon interval is right once, at the horizon. Looked at every day, with the test stopped
at the first day that excludes zero, it gives several times its nominal false positives
(``benchmarks/peeking_study.py``, results in ``benchmarks/results/peeking.md``). A confidence
sequence holds its level uniformly over time: the chance that *any* day's interval misses the
truth is at most alpha, so a reader may look every day and stop whenever it excludes zero.

The boundary is the Gaussian-mixture asymptotic CS of Waudby-Smith, Arnold, Wu, Howard and Ramdas
(2023), "Time-uniform central limit theory and asymptotic confidence sequences", Annals of
Statistics (arXiv:2103.06476v7, eq. 9), the boundary GrowthBook's gbstats uses for its sequential
test. After n units, with an estimate theta_n whose standard error is se_n = sigma_n / sqrt(n):

    theta_n +- sigma_n * sqrt( 2 (n rho^2 + 1) / (n^2 rho^2) * log( sqrt(n rho^2 + 1) / alpha ) )
  = theta_n +- se_n * sqrt( 2 (v + 1) / v * log( sqrt(v + 1) / alpha ) ),     v = n rho^2.

It is the set where the normal-mixture martingale
``integral exp(lam S - lam^2 V / 2) N(lam; 0, rho^2) dlam`` (S the centred sum, V its variance, in
units of one unit's SD) stays below 1 / alpha (Ville's inequality). ``rho`` is the tuning: the
boundary is tightest at ``n* = v* / rho^2`` units, where v* = -W_{-1}(-alpha^2 / e) - 1 (about 8.2
at alpha = 0.05; there the half-width is sqrt(v* + 1) = 3.03 standard errors against 1.96 for the
fixed-horizon interval). gbstats' tuning parameter is that n*, turned into rho with the paper's
eq. 161, v* ~ -2 log(alpha) + log(1 - 2 log(alpha)) (7.9 against the exact 8.2 here).

Here the estimate is a lift over the A/B days so far (the report's headline estimator: the pooled
CTR, the mean of the daily lifts, A/B - A/A or CUPED), se its delta-method standard error over
users, and n the users of both arms seen so far; users keep adding data on later days, which the
i.i.d. theory does not model, so the CS's level on such data is checked by simulation
(``tests/abtest_sim/analysis/test_peeking.py``, ``benchmarks/peeking_study.py``).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import lambertw

__all__ = [
    "boundary_multiplier",
    "confidence_sequence",
    "optimal_information",
    "rho_for_units",
]


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")


def optimal_information(alpha: float) -> float:
    """v* = n* rho^2: where the half-width in standard errors, sqrt(2 (v+1)/v log(sqrt(v+1)/a)),
    is smallest. Setting its derivative to zero gives v = log(1 + v) - 2 log(alpha), solved by the
    lower branch of Lambert's W; the minimum half-width is then sqrt(v* + 1)."""
    _check_alpha(alpha)
    w = lambertw(-(alpha**2) / math.e, k=-1)
    return float(-w.real - 1.0)


def rho_for_units(units: float, alpha: float) -> float:
    """The mixture tuning rho whose boundary is tightest after ``units`` units (both arms)."""
    if not units > 0:
        raise ValueError(f"units must be positive, got {units}")
    return math.sqrt(optimal_information(alpha) / units)


def boundary_multiplier(units: ArrayLike, rho: float, alpha: float) -> np.ndarray:
    """The CS half-width in standard errors after ``units`` units: sqrt(2 (v+1)/v log(sqrt(v+1) /
    alpha)) with v = units rho^2 (vectorised; NaN where units <= 0)."""
    _check_alpha(alpha)
    if not (math.isfinite(rho) and rho > 0):
        raise ValueError(f"rho must be a positive number, got {rho}")
    n = np.asarray(units, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.where(n > 0, n * rho**2, np.nan)
        return np.sqrt(2.0 * (v + 1.0) / v * np.log(np.sqrt(v + 1.0) / alpha))


def confidence_sequence(
    estimate: ArrayLike,
    se: ArrayLike,
    units: ArrayLike,
    *,
    alpha: float,
    rho: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the (1 - alpha) confidence sequence at each look.

    ``estimate``, ``se`` and ``units`` are per look (e.g. per day, in time order): the estimate so
    far, its standard error and the units it rests on. ``rho``: the mixture tuning, fixed before
    the data (e.g. ``rho_for_units(planned units)``); None tunes it to the last look's units (the
    units are ancillary: how many users came says nothing about the lift). NaN estimates or SEs
    give NaN bounds.
    """
    theta = np.asarray(estimate, dtype=np.float64)
    se_arr = np.asarray(se, dtype=np.float64)
    n = np.asarray(units, dtype=np.float64)
    if not theta.shape == se_arr.shape == n.shape:
        raise ValueError(
            f"estimate, se and units must share one shape, got {theta.shape}, {se_arr.shape}, "
            f"{n.shape}"
        )
    if rho is None:
        last = n.reshape(-1)[-1] if n.size else 0.0
        rho = rho_for_units(float(last), alpha) if last > 0 else 1.0
    half = se_arr * boundary_multiplier(n, rho, alpha)
    return theta - half, theta + half
