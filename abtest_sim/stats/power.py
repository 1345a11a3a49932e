"""Power, minimum detectable effect and sample size for a relative CTR lift.

Everything follows from the per-user variance of the linearised CTR u_i = R + (C_i - R M_i) / Mbar,
measured on pilot or A/A data that covers the planned test duration (per-user sums over the same
number of days: a longer test changes the per-user variance, not just the user count). For a small
lift, Var(L) = (s2_u / R^2) * (1 / n_A + 1 / n_B): the treatment arm is assumed to have the
control's relative variance, which holds to first order in the lift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr, ndtri

from abtest_sim.stats.ratio import RatioStats, z_critical


@dataclass(frozen=True)
class PerUserVariance:
    """Ratio and per-user variance (ddof 1) of the linearised metric of one arm."""

    ratio: float
    variance: float
    users: int

    @property
    def relative_variance(self) -> float:
        """s2_u / R^2: the variance of a relative lift is this times (1/n_A + 1/n_B)."""
        return self.variance / self.ratio**2


def per_user_variance(num: ArrayLike, den: ArrayLike) -> PerUserVariance:
    """Per-user variance of u_i from per-user clicks and impressions (Var(R) = s2_u / n)."""
    stats = RatioStats.from_arrays(num, den)
    return PerUserVariance(ratio=stats.ratio, variance=stats.variance * stats.n, users=stats.n)


def lift_standard_error(per_user: PerUserVariance, n_control: int, n_treatment: int) -> float:
    """Standard error of the relative lift with ``n_control`` and ``n_treatment`` users."""
    if n_control < 2 or n_treatment < 2:
        raise ValueError("need at least 2 users per arm")
    return math.sqrt(per_user.relative_variance * (1.0 / n_control + 1.0 / n_treatment))


def power_of_lift(
    per_user: PerUserVariance,
    *,
    lift: float,
    n_control: int,
    n_treatment: int,
    alpha: float = 0.05,
) -> float:
    """Probability that the two-sided delta test at level alpha rejects at a true ``lift``."""
    shift = abs(lift) / lift_standard_error(per_user, n_control, n_treatment)
    z = z_critical(alpha)
    return float(ndtr(shift - z) + ndtr(-shift - z))


def minimum_detectable_lift_from_se(se: float, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest |lift| detected with probability ``power`` by a test with standard error ``se``."""
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must lie in (0, 1), got {power}")
    # The far tail (rejecting on the wrong side) is ignored: it is below 1e-6 at usual settings.
    return float((z_critical(alpha) + ndtri(power)) * se)


def minimum_detectable_lift(
    per_user: PerUserVariance,
    *,
    n_control: int,
    n_treatment: int,
    alpha: float = 0.05,
    power: float = 0.8,
) -> float:
    """Minimum detectable relative lift (MDE) with the given users per arm."""
    se = lift_standard_error(per_user, n_control, n_treatment)
    return minimum_detectable_lift_from_se(se, alpha=alpha, power=power)


def users_per_arm(
    per_user: PerUserVariance, *, lift: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Users needed in each of two equal arms to detect a relative ``lift`` with ``power``."""
    if lift == 0:
        raise ValueError("a lift of 0 cannot be detected")
    z_sum = z_critical(alpha) + float(ndtri(power))
    return int(np.ceil(2.0 * per_user.relative_variance * (z_sum / lift) ** 2))
