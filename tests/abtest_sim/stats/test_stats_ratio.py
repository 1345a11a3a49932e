"""Ratio comparisons checked against statsmodels regressions, proportion tests and root finding."""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.optimize import brentq
from scipy.stats import norm
from statsmodels.stats import proportion

from abtest_sim.stats import (
    ArmEstimate,
    RatioStats,
    SyntheticCtr,
    UnitTotals,
    absolute_difference,
    compare_relative,
    relative_lift,
)


def two_arms(seed: int, users: int = 400, lift: float = 0.1):
    """Per-user (clicks, impressions) of arms A and B, everybody with at least one impression."""
    rng = np.random.default_rng(seed)
    c_a, m_a = SyntheticCtr().draw(rng, replicates=1, days=1, users=users)
    c_b, m_b = SyntheticCtr(lift=lift).draw(rng, replicates=1, days=1, users=users + 37)
    keep_a, keep_b = m_a[0, 0] > 0, m_b[0, 0] > 0
    return c_a[0, 0][keep_a], m_a[0, 0][keep_a], c_b[0, 0][keep_b], m_b[0, 0][keep_b]


def hc0_cell_means(c_a, m_a, c_b, m_b, family=None):
    """statsmodels fit of C on one indicator per arm (no intercept) with HC0 covariance."""
    y = np.concatenate([c_a, c_b])
    m = np.concatenate([m_a, m_b])
    arm_b = np.concatenate([np.zeros(c_a.size), np.ones(c_b.size)])
    x = np.column_stack([1.0 - arm_b, arm_b])
    if family is None:
        fit = sm.WLS(y / m, x, weights=m).fit(cov_type="HC0")
    else:
        fit = sm.GLM(y, x, family=family, offset=np.log(m)).fit(cov_type="HC0")
    return fit.params, fit.cov_params()


def ddof1(n: int) -> float:
    """Our variances use sample (co)variances: HC0 times n / (n - 1), per arm."""
    return n / (n - 1)


def test_ratio_stats_variance_is_the_design_formula_with_sample_covariances() -> None:
    c, m, _, _ = two_arms(0)
    stats = RatioStats.from_arrays(c, m)
    r = c.sum() / m.sum()
    cov = np.cov(c, m, ddof=1)
    expected = (cov[0, 0] - 2 * r * cov[0, 1] + r**2 * cov[1, 1]) / (c.size * m.mean() ** 2)
    assert stats.ratio == pytest.approx(r, rel=1e-14)
    assert stats.variance == pytest.approx(expected, rel=1e-10)
    assert stats.variance == pytest.approx(stats.variance_hc0 * ddof1(c.size), rel=1e-12)


def test_ratio_stats_pool_like_the_concatenated_units() -> None:
    c, m, c2, m2 = two_arms(1)
    pooled = RatioStats.from_arrays(c, m) + RatioStats.from_arrays(c2, m2)
    direct = RatioStats.from_arrays(np.concatenate([c, c2]), np.concatenate([m, m2]))
    assert pooled.n == direct.n
    assert pooled.ratio == pytest.approx(direct.ratio, rel=1e-14)
    assert pooled.variance == pytest.approx(direct.variance, rel=1e-10)


def test_delta_se_of_the_difference_equals_wls_hc0_up_to_the_ddof_factor() -> None:
    c_a, m_a, c_b, m_b = two_arms(2)
    # WLS of C/M on an intercept and the arm dummy, weights M: the slope is R_B - R_A.
    y = np.concatenate([c_a / m_a, c_b / m_b])
    dummy = np.concatenate([np.zeros(c_a.size), np.ones(c_b.size)])
    fit = sm.WLS(y, sm.add_constant(dummy), weights=np.concatenate([m_a, m_b])).fit(cov_type="HC0")
    _, cells = hc0_cell_means(c_a, m_a, c_b, m_b)
    result = absolute_difference(UnitTotals(c_a, m_a), UnitTotals(c_b, m_b))

    assert result.difference == pytest.approx(fit.params[1], rel=1e-10)
    assert fit.cov_params()[1, 1] == pytest.approx(cells[0, 0] + cells[1, 1], rel=1e-10)
    expected_var = cells[0, 0] * ddof1(c_a.size) + cells[1, 1] * ddof1(c_b.size)
    assert result.se**2 == pytest.approx(expected_var, rel=1e-10)
    # The ddof-1 SE is larger than the HC0 one, by less than the larger arm's n/(n-1) factor.
    assert 1 < result.se / fit.bse[1] < np.sqrt(ddof1(min(c_a.size, c_b.size)))


def test_delta_se_of_the_relative_lift_equals_the_gradient_through_wls_hc0() -> None:
    c_a, m_a, c_b, m_b = two_arms(3)
    params, cells = hc0_cell_means(c_a, m_a, c_b, m_b)
    factors = np.array([ddof1(c_a.size), ddof1(c_b.size)])
    cov = cells * np.sqrt(np.outer(factors, factors))  # cells is diagonal: independent arms
    r_a, r_b = params
    grad = np.array([-r_b / r_a**2, 1 / r_a])
    result = relative_lift(UnitTotals(c_a, m_a), UnitTotals(c_b, m_b), method="delta")
    assert result.lift == pytest.approx(r_b / r_a - 1, rel=1e-10)
    assert result.se == pytest.approx(np.sqrt(grad @ cov @ grad), rel=1e-10)
    z = norm.ppf(0.975)
    assert result.ci_low == pytest.approx(result.lift - z * result.se, rel=1e-12)
    assert result.p_value == pytest.approx(2 * norm.sf(abs(result.lift) / result.se), rel=1e-10)


def test_zero_impression_users_only_change_the_ddof_factor() -> None:
    c_a, m_a, c_b, m_b = two_arms(4)
    idle = UnitTotals(np.append(c_a, [0, 0, 0]), np.append(m_a, [0, 0, 0]))
    with_idle = relative_lift(idle, UnitTotals(c_b, m_b))
    plain = RatioStats.from_arrays(c_a, m_a)
    idle = RatioStats.from_arrays(np.append(c_a, [0, 0, 0]), np.append(m_a, [0, 0, 0]))
    assert idle.ratio == plain.ratio
    assert idle.variance_hc0 == pytest.approx(plain.variance_hc0, rel=1e-12)
    assert with_idle.lift == pytest.approx(
        relative_lift(UnitTotals(c_a, m_a), UnitTotals(c_b, m_b)).lift, rel=1e-14
    )


def test_log_ratio_interval_equals_poisson_glm_with_offset_and_hc0() -> None:
    c_a, m_a, c_b, m_b = two_arms(5)
    y = np.concatenate([c_a, c_b])
    dummy = np.concatenate([np.zeros(c_a.size), np.ones(c_b.size)])
    offset = np.log(np.concatenate([m_a, m_b]))
    fit = sm.GLM(y, sm.add_constant(dummy), family=sm.families.Poisson(), offset=offset).fit(
        cov_type="HC0"
    )
    log_params, log_cells = hc0_cell_means(c_a, m_a, c_b, m_b, family=sm.families.Poisson())
    result = relative_lift(UnitTotals(c_a, m_a), UnitTotals(c_b, m_b), method="log")

    assert np.log1p(result.lift) == pytest.approx(fit.params[1], rel=1e-8)
    assert fit.bse[1] ** 2 == pytest.approx(log_cells[0, 0] + log_cells[1, 1], rel=1e-8)
    se = np.sqrt(log_cells[0, 0] * ddof1(c_a.size) + log_cells[1, 1] * ddof1(c_b.size))
    assert result.se == pytest.approx(se, rel=1e-8)
    z = norm.ppf(0.975)
    assert result.ci_low == pytest.approx(np.expm1(fit.params[1] - z * se), rel=1e-8)
    assert result.ci_high == pytest.approx(np.expm1(fit.params[1] + z * se), rel=1e-8)
    assert result.p_value == pytest.approx(2 * norm.sf(abs(fit.params[1]) / se), rel=1e-8)
    # With HC0 itself (ddof 0) the GLM's own interval comes out.
    glm_low, glm_high = np.expm1(fit.conf_int()[1])
    assert (glm_low, glm_high) == pytest.approx(
        (np.expm1(fit.params[1] - z * fit.bse[1]), np.expm1(fit.params[1] + z * fit.bse[1]))
    )
    assert np.exp(log_params) == pytest.approx([c_a.sum() / m_a.sum(), c_b.sum() / m_b.sum()])


def test_naive_difference_equals_the_statsmodels_two_proportion_wald_test() -> None:
    c_a, m_a, c_b, m_b = two_arms(6)
    counts = (int(c_b.sum()), int(m_b.sum()), int(c_a.sum()), int(m_a.sum()))
    result = absolute_difference(UnitTotals(c_a, m_a), UnitTotals(c_b, m_b), method="naive")
    test = proportion.test_proportions_2indep(*counts, method="wald", compare="diff")
    low, high = proportion.confint_proportions_2indep(*counts, method="wald", compare="diff")
    assert result.p_value == pytest.approx(test.pvalue, rel=1e-10)
    assert result.difference / result.se == pytest.approx(test.statistic, rel=1e-10)
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), rel=1e-10)


def test_naive_lift_uses_the_binomial_variance_of_each_arm() -> None:
    c_a, m_a, c_b, m_b = two_arms(7)
    z = norm.ppf(0.975)
    var = []
    for c, m in ((c_a, m_a), (c_b, m_b)):
        low, high = proportion.proportion_confint(
            int(c.sum()), int(m.sum()), alpha=0.05, method="normal"
        )
        var.append(((high - low) / (2 * z)) ** 2)
        assert RatioStats.from_arrays(c, m).naive_variance == pytest.approx(var[-1], rel=1e-10)
    r_a, r_b = c_a.sum() / m_a.sum(), c_b.sum() / m_b.sum()
    expected_se = np.sqrt(var[1] / r_a**2 + r_b**2 * var[0] / r_a**4)
    naive = relative_lift(UnitTotals(c_a, m_a), UnitTotals(c_b, m_b), method="naive")
    assert naive.se == pytest.approx(expected_se, rel=1e-10)
    # Users see many impressions and differ in CTR: the naive SE is far too small.
    assert naive.se < 0.8 * relative_lift(UnitTotals(c_a, m_a), UnitTotals(c_b, m_b)).se


def test_fieller_interval_solves_its_defining_equation() -> None:
    c_a, m_a, c_b, m_b = two_arms(8)
    a, b = RatioStats.from_arrays(c_a, m_a), RatioStats.from_arrays(c_b, m_b)
    z2 = norm.ppf(0.975) ** 2

    def excess(t: float) -> float:  # <= 0 exactly on Fieller's set
        return (b.ratio - t * a.ratio) ** 2 - z2 * (b.variance + t**2 * a.variance)

    t_hat = b.ratio / a.ratio
    low = brentq(excess, t_hat - 5, t_hat, xtol=1e-14)
    high = brentq(excess, t_hat, t_hat + 5, xtol=1e-14)
    result = relative_lift(UnitTotals(c_a, m_a), UnitTotals(c_b, m_b), method="fieller")
    assert result.se is None
    assert result.ci_low == pytest.approx(low - 1, abs=1e-10)
    assert result.ci_high == pytest.approx(high - 1, abs=1e-10)
    # The p-value is the same statistic at t = 1: the absolute-difference Wald test.
    assert result.p_value == pytest.approx(
        absolute_difference(UnitTotals(c_a, m_a), UnitTotals(c_b, m_b)).p_value
    )


def test_fieller_is_unbounded_when_the_control_ratio_is_not_significant() -> None:
    control = ArmEstimate(ratio=0.01, variance=0.01**2)
    result = compare_relative(control, ArmEstimate(0.02, 1e-6), method="fieller")
    assert (result.ci_low, result.ci_high) == (-np.inf, np.inf)


@pytest.mark.parametrize("method", ["delta", "log", "fieller", "naive"])
def test_each_p_value_matches_its_own_interval(method: str) -> None:
    rng = np.random.default_rng(11)
    significant = []
    for _ in range(150):
        users = int(rng.integers(30, 400))
        lift = rng.uniform(-0.4, 0.4)
        pop_a = SyntheticCtr(activity_shape=rng.uniform(0.3, 3), ctr=rng.uniform(0.02, 0.2))
        pop_b = SyntheticCtr(activity_shape=pop_a.activity_shape, ctr=pop_a.ctr, lift=lift)
        c_a, m_a = pop_a.draw(rng, replicates=1, days=1, users=users)
        c_b, m_b = pop_b.draw(rng, replicates=1, days=1, users=users)
        alpha = float(rng.choice([0.01, 0.05, 0.1, 0.2]))
        a, b = UnitTotals(c_a[0, 0], m_a[0, 0]), UnitTotals(c_b[0, 0], m_b[0, 0])
        r = relative_lift(a, b, alpha=alpha, method=method)
        assert np.isfinite(r.ci_low) and np.isfinite(r.ci_high)
        assert r.ci_low <= r.lift <= r.ci_high
        excludes_zero = r.ci_low > 0 or r.ci_high < 0
        assert excludes_zero == (r.p_value < alpha), (r, alpha)
        significant.append(excludes_zero)
    # Both outcomes occur, so the property was exercised on each side of the boundary.
    assert 0.2 < np.mean(significant) < 0.8


def test_bad_inputs_raise_value_errors() -> None:
    def units(num: list[int], den: list[int]) -> UnitTotals:
        return UnitTotals(np.array(num), np.array(den))

    with pytest.raises(ValueError, match="one length"):
        units([1, 2], [3, 4, 5])
    with pytest.raises(ValueError, match="non-negative"):
        units([1, -2], [3, 4])
    with pytest.raises(ValueError, match="sums to 0"):
        units([0, 0], [0, 0])
    good = units([1, 2], [3, 4])
    with pytest.raises(ValueError, match="unknown method"):
        relative_lift(good, good, method="bootstrap")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown method"):
        absolute_difference(good, good, method="log")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="alpha"):
        relative_lift(good, good, alpha=1.5)
