"""A ratio metric per arm (CTR = sum of clicks / sum of impressions) and the comparison of two arms.

The unit of randomisation is the user, so the users' (clicks, impressions) pairs are the independent
observations, not the impressions. The delta method gives the variance of an arm's ratio:

    Var(R) = (s2_C - 2 R s_CM + R^2 s2_M) / (n Mbar^2) = sum_i (C_i - R M_i)^2 / (n (n-1) Mbar^2)

with sample (co)variances (ddof 1). The heteroskedasticity-consistent "HC0" sandwich variance of a
regression (WLS of C/M on the arm dummy with weights M, or a Poisson GLM with offset log M) is the
same sum divided by n^2 Mbar^2 instead, so ``Var_ddof1 = Var_HC0 * n / (n - 1)`` per arm.

Every method's p-value is the test that inverts its own interval: the interval excludes a lift of 0
exactly when p < alpha.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr, ndtri

from abtest_sim.stats.units import UnitTotals, unit_arrays

RelativeMethod = Literal["delta", "log", "fieller", "naive"]
AbsoluteMethod = Literal["delta", "naive"]


def z_critical(alpha: float) -> float:
    """The two-sided normal critical value z_{1 - alpha/2}."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    return float(ndtri(1.0 - alpha / 2.0))


def two_sided_p(z: np.ndarray | float) -> np.ndarray | float:
    """Two-sided normal p-value of a z statistic (NaN stays NaN)."""
    return 2.0 * ndtr(-np.abs(z))


@dataclass(frozen=True)
class ArmEstimate:
    """An arm's ratio and the variance of that estimate."""

    ratio: float
    variance: float

    @property
    def se(self) -> float:
        return float(np.sqrt(self.variance))


@dataclass(frozen=True)
class RatioStats:
    """Sufficient statistics of a ratio metric over ``n`` independent units (gbstats style).

    Sums over units of C, M, C^2, M^2 and C*M; ``+`` pools two disjoint sets of units.
    """

    n: int
    sum_num: float
    sum_den: float
    sum_num_sq: float
    sum_den_sq: float
    sum_num_den: float

    @classmethod
    def from_arrays(cls, num: ArrayLike, den: ArrayLike) -> RatioStats:
        c, m = unit_arrays(num, den)
        return cls(
            n=int(c.size),
            sum_num=float(c.sum()),
            sum_den=float(m.sum()),
            sum_num_sq=float(c @ c),
            sum_den_sq=float(m @ m),
            sum_num_den=float(c @ m),
        )

    @classmethod
    def from_totals(cls, totals: UnitTotals) -> RatioStats:
        return cls.from_arrays(totals.num, totals.den)

    def __add__(self, other: RatioStats) -> RatioStats:
        return RatioStats(
            n=self.n + other.n,
            sum_num=self.sum_num + other.sum_num,
            sum_den=self.sum_den + other.sum_den,
            sum_num_sq=self.sum_num_sq + other.sum_num_sq,
            sum_den_sq=self.sum_den_sq + other.sum_den_sq,
            sum_num_den=self.sum_num_den + other.sum_num_den,
        )

    @property
    def ratio(self) -> float:
        return self.sum_num / self.sum_den

    @property
    def mean_den(self) -> float:
        return self.sum_den / self.n

    @property
    def residual_sum_sq(self) -> float:
        """sum_i (C_i - R M_i)^2 = (n-1)(s2_C - 2R s_CM + R^2 s2_M), since sum(C - RM) = 0."""
        r = self.ratio
        value = self.sum_num_sq - 2.0 * r * self.sum_num_den + r * r * self.sum_den_sq
        return max(value, 0.0)

    @property
    def variance(self) -> float:
        """Delta-method variance of the ratio with sample (co)variances, ddof 1."""
        return self.residual_sum_sq / ((self.n - 1) * self.n * self.mean_den**2)

    @property
    def variance_hc0(self) -> float:
        """The HC0 sandwich variance, as statsmodels computes it: variance * (n - 1) / n."""
        return self.residual_sum_sq / self.sum_den**2

    @property
    def naive_variance(self) -> float:
        """Binomial variance R(1 - R) / sum M: every impression treated as independent."""
        r = self.ratio
        return r * (1.0 - r) / self.sum_den

    @property
    def design_effect(self) -> float:
        """How much larger the user-level variance is than the impression-level (naive) one."""
        return self.variance / self.naive_variance

    def estimate(self) -> ArmEstimate:
        return ArmEstimate(self.ratio, self.variance)

    def naive_estimate(self) -> ArmEstimate:
        return ArmEstimate(self.ratio, self.naive_variance)


@dataclass(frozen=True)
class LiftResult:
    """A relative lift (R_B / R_A - 1, or a contrast of such lifts) with its interval and test.

    ``se`` is on the scale the test is computed on: the lift for delta, naive and linear
    contrasts, log(1 + lift) for ``log``, and None for Fieller (its interval is not +- z * se).
    ``ci_low``/``ci_high`` are infinite when a Fieller interval is unbounded.
    """

    lift: float
    ci_low: float
    ci_high: float
    p_value: float
    se: float | None
    method: str
    alpha: float
    ratio_control: float | None = None
    ratio_treatment: float | None = None

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha


@dataclass(frozen=True)
class DifferenceResult:
    """An absolute difference R_B - R_A with its interval and test."""

    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    se: float
    method: str
    alpha: float
    ratio_control: float
    ratio_treatment: float

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha


def normal_lift(
    lift: float,
    se: float,
    *,
    alpha: float,
    method: str,
    ratios: tuple[float | None, float | None] = (None, None),
) -> LiftResult:
    """Wald interval lift +- z * se and the two-sided p-value of the same z statistic."""
    half = z_critical(alpha) * se
    return LiftResult(
        lift=float(lift),
        ci_low=float(lift - half),
        ci_high=float(lift + half),
        p_value=_wald_p(lift, se),
        se=float(se),
        method=method,
        alpha=alpha,
        ratio_control=ratios[0],
        ratio_treatment=ratios[1],
    )


def _wald_p(estimate: float, se: float) -> float:
    if se > 0:
        return float(two_sided_p(estimate / se))
    return 1.0 if estimate == 0 else 0.0


def compare_relative(
    control: ArmEstimate,
    treatment: ArmEstimate,
    *,
    alpha: float = 0.05,
    method: Literal["delta", "log", "fieller"] = "delta",
    label: str | None = None,
) -> LiftResult:
    """Relative lift R_B / R_A - 1 of two independent arm estimates."""
    if control.ratio <= 0:
        raise ValueError("the control ratio is 0: a relative lift is undefined")
    if method == "delta":
        return _delta_lift(control, treatment, alpha, label or method)
    if method == "log":
        return _log_lift(control, treatment, alpha)
    if method == "fieller":
        return _fieller_lift(control, treatment, alpha)
    raise ValueError(f"unknown method {method!r}: use delta, log, fieller or naive")


def _delta_lift(a: ArmEstimate, b: ArmEstimate, alpha: float, label: str) -> LiftResult:
    # Var(L) = V_B / R_A^2 + R_B^2 V_A / R_A^4 (independent arms).
    var = b.variance / a.ratio**2 + b.ratio**2 * a.variance / a.ratio**4
    return normal_lift(
        b.ratio / a.ratio - 1.0,
        float(np.sqrt(var)),
        alpha=alpha,
        method=label,
        ratios=(a.ratio, b.ratio),
    )


def _log_lift(a: ArmEstimate, b: ArmEstimate, alpha: float) -> LiftResult:
    if b.ratio <= 0:
        raise ValueError("the treatment ratio is 0: the log-ratio interval is undefined")
    log_ratio = float(np.log(b.ratio / a.ratio))
    se = float(np.sqrt(b.variance / b.ratio**2 + a.variance / a.ratio**2))
    half = z_critical(alpha) * se
    return LiftResult(
        lift=b.ratio / a.ratio - 1.0,
        ci_low=float(np.expm1(log_ratio - half)),
        ci_high=float(np.expm1(log_ratio + half)),
        p_value=_wald_p(log_ratio, se),
        se=se,
        method="log",
        alpha=alpha,
        ratio_control=a.ratio,
        ratio_treatment=b.ratio,
    )


def fieller_bounds(a: ArmEstimate, b: ArmEstimate, alpha: float) -> tuple[float, float]:
    """Fieller's set {t : (R_B - t R_A)^2 <= z^2 (V_B + t^2 V_A)} for the ratio t = R_B / R_A.

    Bounded exactly when R_A is itself significant (R_A^2 > z^2 V_A); otherwise the set is the whole
    line or two rays, reported as (-inf, inf).
    """
    z2 = z_critical(alpha) ** 2
    quad = a.ratio**2 - z2 * a.variance
    if quad <= 0:
        return -np.inf, np.inf
    mid = a.ratio * b.ratio
    disc = mid**2 - quad * (b.ratio**2 - z2 * b.variance)
    root = float(np.sqrt(max(disc, 0.0)))
    return (mid - root) / quad, (mid + root) / quad


def _fieller_lift(a: ArmEstimate, b: ArmEstimate, alpha: float) -> LiftResult:
    low, high = fieller_bounds(a, b, alpha)
    # The statistic Fieller's set inverts, at t = 1: (R_B - R_A) / sqrt(V_B + V_A).
    p_value = _wald_p(b.ratio - a.ratio, float(np.sqrt(a.variance + b.variance)))
    return LiftResult(
        lift=b.ratio / a.ratio - 1.0,
        ci_low=low - 1.0,
        ci_high=high - 1.0,
        p_value=p_value,
        se=None,
        method="fieller",
        alpha=alpha,
        ratio_control=a.ratio,
        ratio_treatment=b.ratio,
    )


def relative_lift(
    control: UnitTotals,
    treatment: UnitTotals,
    *,
    alpha: float = 0.05,
    method: RelativeMethod = "delta",
) -> LiftResult:
    """Relative lift R_B / R_A - 1 of the treatment over the control from per-unit sums.

    Methods: ``delta`` (Wald on the lift), ``log`` (Wald on log R_B - log R_A), ``fieller`` (exact
    ratio set under normality), ``naive`` (delta form with binomial variances, i.e. impressions as
    independent: a diagnostic only, far too many false positives when users see many impressions).
    """
    stats_a, stats_b = RatioStats.from_totals(control), RatioStats.from_totals(treatment)
    if method == "naive":
        return compare_relative(
            stats_a.naive_estimate(), stats_b.naive_estimate(), alpha=alpha, label="naive"
        )
    return compare_relative(stats_a.estimate(), stats_b.estimate(), alpha=alpha, method=method)


def absolute_difference(
    control: UnitTotals,
    treatment: UnitTotals,
    *,
    alpha: float = 0.05,
    method: AbsoluteMethod = "delta",
) -> DifferenceResult:
    """Absolute difference R_B - R_A with a Wald interval (``delta``, or ``naive`` binomial)."""
    if method not in ("delta", "naive"):
        raise ValueError(f"unknown method {method!r} for a difference: use delta or naive")
    stats_a, stats_b = RatioStats.from_totals(control), RatioStats.from_totals(treatment)
    var_a, var_b = (
        (stats_a.variance, stats_b.variance)
        if method == "delta"
        else (stats_a.naive_variance, stats_b.naive_variance)
    )
    diff = stats_b.ratio - stats_a.ratio
    se = float(np.sqrt(var_a + var_b))
    half = z_critical(alpha) * se
    return DifferenceResult(
        difference=diff,
        ci_low=diff - half,
        ci_high=diff + half,
        p_value=_wald_p(diff, se),
        se=se,
        method=method,
        alpha=alpha,
        ratio_control=stats_a.ratio,
        ratio_treatment=stats_b.ratio,
    )
