"""Power, minimum detectable effect and sample size for a relative CTR lift.

Everything follows from the per-user variance of the linearised CTR u_i = R + (C_i - R M_i) / Mbar,
measured on pilot or A/A data that covers the planned test duration (per-user sums over the same
number of days: a longer test changes the per-user variance, not just the user count). The
treatment arm is assumed to keep the control's relative variance s2_u / R^2 (every user's CTR scaled
by 1 + lift), so a true lift L is estimated with

    Var(L_hat) = (1 + L)^2 * (s2_u / R^2) * (1 / n_A + 1 / n_B).
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


def lift_standard_error(
    per_user: PerUserVariance, n_control: int, n_treatment: int, *, lift: float = 0.0
) -> float:
    """Standard error of the relative lift estimate when the true lift is ``lift``."""
    if n_control < 2 or n_treatment < 2:
        raise ValueError("need at least 2 users per arm")
    unit_se = math.sqrt(per_user.relative_variance * (1.0 / n_control + 1.0 / n_treatment))
    return (1.0 + lift) * unit_se


def power_of_lift(
    per_user: PerUserVariance,
    *,
    lift: float,
    n_control: int,
    n_treatment: int,
    alpha: float = 0.05,
) -> float:
    """Probability that the two-sided delta test at level alpha rejects at a true ``lift``."""
    return power_from_se(lift, lift_standard_error(per_user, n_control, n_treatment, lift=lift),
                         alpha=alpha)  # fmt: skip


def power_from_se(lift: float, se: float, *, alpha: float = 0.05) -> float:
    """Power of the two-sided normal test at level alpha when the estimate of a true ``lift`` has
    standard error ``se`` (NaN when the SE is not positive)."""
    if not se > 0:
        return float("nan")
    shift = abs(lift) / se
    z = z_critical(alpha)
    return float(ndtr(shift - z) + ndtr(-shift - z))


def z_sum(alpha: float, power: float) -> float:
    """z_(1 - alpha/2) + z_power: an estimate with SE s detects a lift of z_sum * s."""
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must lie in (0, 1), got {power}")
    # The far tail (rejecting on the wrong side) is ignored: it is below 1e-6 at usual settings.
    return z_critical(alpha) + float(ndtri(power))


def lineage_floor(lineage_sd: float, *, alpha: float, power: float) -> float:
    """The smallest lift any number of users detects with ``power``: a model-lineage SD does not
    shrink with users, so an estimate's SE never falls below it."""
    return z_sum(alpha, power) * lineage_sd


def users_from_reference(
    reference_users: float, reference_se: float, *, lift: float, z: float, lineage_sd: float = 0.0
) -> int | None:
    """Users per arm at which z * sqrt(SE^2 + lineage_sd^2) equals ``lift``, the SE scaling as
    1 / users from ``reference_se`` at ``reference_users`` (and with 1 + lift, as above); None when
    the lineage component alone already exceeds lift / z (no number of users is enough)."""
    room = (lift / z) ** 2 - lineage_sd**2
    if room <= 0:
        return None
    return math.ceil(reference_users * reference_se**2 * (1 + lift) ** 2 / room)


def minimum_detectable_lift_from_se(se: float, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest |lift| detected with probability ``power`` by a test whose SE stays ``se``."""
    return z_sum(alpha, power) * se


def minimum_detectable_lift(
    per_user: PerUserVariance,
    *,
    n_control: int,
    n_treatment: int,
    alpha: float = 0.05,
    power: float = 0.8,
) -> float:
    """Minimum detectable positive relative lift (MDE) with the given users per arm."""
    # Solve L / ((1 + L) s) = z_sum for L, s being the SE per unit of (1 + L).
    k = z_sum(alpha, power) * lift_standard_error(per_user, n_control, n_treatment)
    if k >= 1.0:
        raise ValueError("too few users: no lift is detectable with this power")
    return k / (1.0 - k)


def users_per_arm(
    per_user: PerUserVariance, *, lift: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Users needed in each of two equal arms to detect a relative ``lift`` with ``power``."""
    if lift == 0:
        raise ValueError("a lift of 0 cannot be detected")
    ratio = z_sum(alpha, power) * (1.0 + lift) / lift
    return int(np.ceil(2.0 * per_user.relative_variance * ratio**2))
