"""Intervals of a relative lift that stay above -100%.

A CTR is never negative, so a lift L = R_B / R_A - 1 (or a mean of such lifts, a pooled or a
CUPED lift) lies above -1. The delta interval L +- h (h = z * se, or a confidence sequence's
half-width) ignores that, and with few clicks it reaches far below -100% (one control click:
+797% [-1055%, +2649%]). Where, and only where, its lower bound is at or below -100%, the interval
is taken on the log scale instead:

    exp(log(1 + L) +- h / (1 + L)) - 1,

the log-ratio interval: by the delta method Var(log(R_B / R_A)) = V_B / R_B^2 + V_A / R_A^2 =
Var(L) / (1 + L)^2, so for a lift of two ratios it is exactly the ``log`` interval of
``abtest_sim.stats.ratio``, and for a mean of lifts the same transformation of its delta interval.
Its bounds lie above -100%, and in simulated A/A tests with few clicks it covers the truth more
often than the delta interval it replaces (``benchmarks/few_clicks_coverage.py``). Its p-value
is the Wald test of log(1 + L) = 0 with that standard error, so interval and test still agree.
Where L is itself -100% (the treatment without a click) there is no log scale: the lower bound is
clipped at -100% (the truth lies above it, so clipping loses no coverage). Every other row keeps
its delta interval to the bit.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from abtest_sim.stats.ratio import two_sided_p

__all__ = ["CLIPPED", "DELTA", "FLOOR", "KIND_NAMES", "LOG", "floor_interval", "floor_p_value"]

FLOOR = -1.0  # a relative lift of -100%: the treatment's CTR is 0
DELTA, LOG, CLIPPED = 0, 1, 2  # how a row's interval was formed
KIND_NAMES = ("delta", "log-ratio", "clipped")


def floor_interval(
    lift: ArrayLike, half: ArrayLike, low: ArrayLike, high: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low, high, kind): the delta interval ``low``, ``high`` (``lift`` -+ ``half``) where its
    lower bound lies above -100%, else the log-ratio interval (``LOG``), or where the lift is
    -100% itself the delta interval clipped at -100% (``CLIPPED``). NaN rows stay NaN."""
    lift, half = np.asarray(lift, dtype=np.float64), np.asarray(half, dtype=np.float64)
    low, high = np.array(low, dtype=np.float64), np.array(high, dtype=np.float64)
    broken = np.nan_to_num(low, nan=np.inf) <= FLOOR
    kind = np.full(np.shape(low), DELTA, dtype=np.int8)
    if not broken.any():
        return low, high, kind
    with np.errstate(divide="ignore", invalid="ignore"):
        log_half = np.broadcast_to(half, low.shape) / (1.0 + lift)
        center = np.log1p(lift)
        on_log = broken & (lift > FLOOR) & np.isfinite(log_half)
        low = np.where(on_log, np.expm1(center - log_half), low)
        high = np.where(on_log, np.expm1(center + log_half), high)
    clipped = broken & ~on_log
    low = np.where(clipped, FLOOR, low)
    kind[on_log], kind[clipped] = LOG, CLIPPED
    return low, high, kind


def floor_p_value(
    lift: ArrayLike, se: ArrayLike, p_value: ArrayLike, kind: ArrayLike
) -> np.ndarray:
    """The p-value that goes with ``floor_interval``'s interval: the Wald test of log(1 + L) = 0
    (standard error se / (1 + L)) on the ``LOG`` rows, ``p_value`` on the others."""
    lift, se = np.asarray(lift, dtype=np.float64), np.asarray(se, dtype=np.float64)
    p = np.array(p_value, dtype=np.float64)
    on_log = np.asarray(kind) == LOG
    if on_log.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            log_p = two_sided_p(np.log1p(lift) * (1.0 + lift) / se)
        p = np.where(on_log, log_p, p)
    return p


def lift_interval(
    lift: ArrayLike, se: ArrayLike, z: float, *, bounded: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(low, high, p_value, kind) of the Wald interval ``lift`` -+ ``z`` ``se`` and its two-sided
    p-value (where se is 0: 1 if the lift is 0, else 0), kept above -100% when ``bounded`` (a
    relative lift: ``floor_interval``, ``floor_p_value``). Vectorised; the one definition of a
    reported lift's interval."""
    lift, se = np.asarray(lift, dtype=np.float64), np.asarray(se, dtype=np.float64)
    half = z * se
    low, high = lift - half, lift + half
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(se > 0, two_sided_p(lift / se), np.where(lift == 0, 1.0, 0.0))
    if not bounded:
        return low, high, p, np.full(np.shape(low), DELTA, dtype=np.int8)
    low, high, kind = floor_interval(lift, half, low, high)
    return low, high, floor_p_value(lift, se, p, kind), kind
