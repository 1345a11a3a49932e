"""Lifts over days that share users: brute-force covariance, simulation, shared control, Holm/BH."""

import numpy as np
import pytest

from abtest_sim.stats import (
    PrePost,
    RatioStats,
    SyntheticCtr,
    UnitTotals,
    ab_minus_aa_lift,
    adjust_p_values,
    average_lift,
    daily_lifts,
    ratio_panel,
    relative_lift,
    shared_control_lift,
)


def panel(seed: int, *, days: int = 5, users: int = 300, lift: float = 0.0):
    """(clicks, impressions) of arms A and B as (days, users) matrices, plus presence masks."""
    rng = np.random.default_rng(seed)
    c_a, m_a = SyntheticCtr(mean_impressions=8).draw(rng, replicates=1, days=days, users=users)
    pop_b = SyntheticCtr(mean_impressions=8, lift=lift)
    c_b, m_b = pop_b.draw(rng, replicates=1, days=days, users=users + 20)
    return c_a[0], m_a[0], c_b[0], m_b[0]


def brute_force_average_variance(c_a, m_a, c_b, m_b) -> float:
    """Each user's influence on the mean lift, summed over days by an explicit loop; users present
    on every day, so one n / (n - 1) factor per arm."""
    days = c_a.shape[0]
    total_a, total_b = np.zeros(c_a.shape[1]), np.zeros(c_b.shape[1])
    for d in range(days):
        r_a, r_b = c_a[d].sum() / m_a[d].sum(), c_b[d].sum() / m_b[d].sum()
        total_b += (c_b[d] - r_b * m_b[d]) / m_b[d].sum() / r_a / days
        total_a -= (c_a[d] - r_a * m_a[d]) / m_a[d].sum() * r_b / r_a**2 / days
    n_a, n_b = total_a.size, total_b.size
    return (total_a**2).sum() * n_a / (n_a - 1) + (total_b**2).sum() * n_b / (n_b - 1)


def test_average_se_equals_the_brute_force_per_user_sum_over_days() -> None:
    c_a, m_a, c_b, m_b = panel(0)
    everyone_a, everyone_b = np.ones_like(m_a, dtype=bool), np.ones_like(m_b, dtype=bool)
    result = average_lift(ratio_panel(c_a, m_a, everyone_a), ratio_panel(c_b, m_b, everyone_b))
    daily = [c_b[d].sum() / m_b[d].sum() / (c_a[d].sum() / m_a[d].sum()) - 1 for d in range(5)]
    assert result.lift == pytest.approx(np.mean(daily), rel=1e-12)
    assert result.se**2 == pytest.approx(
        brute_force_average_variance(c_a, m_a, c_b, m_b), rel=1e-10
    )


def test_daily_standard_errors_equal_the_single_day_comparison_of_active_users() -> None:
    c_a, m_a, c_b, m_b = panel(1)  # users with no impression on a day are absent that day
    lifts = daily_lifts(ratio_panel(c_a, m_a), ratio_panel(c_b, m_b))
    for d in range(5):
        active_a, active_b = m_a[d] > 0, m_b[d] > 0
        assert active_a.sum() < m_a.shape[1]
        one_day = relative_lift(
            UnitTotals(c_a[d, active_a], m_a[d, active_a]),
            UnitTotals(c_b[d, active_b], m_b[d, active_b]),
        )
        assert lifts.on_day(d).lift == pytest.approx(one_day.lift, rel=1e-12)
        assert lifts.on_day(d).se == pytest.approx(one_day.se, rel=1e-10)


def test_cross_day_covariance_is_positive_and_needed() -> None:
    c_a, m_a, c_b, m_b = panel(2)
    lifts = daily_lifts(ratio_panel(c_a, m_a), ratio_panel(c_b, m_b))
    cov = lifts.lifts.covariance()
    off_diagonal = cov[~np.eye(5, dtype=bool)]
    assert (off_diagonal > 0).all()  # persistent per-user CTRs tie the days together
    independent_se = np.sqrt(np.diag(cov).sum()) / 5
    assert lifts.average_lift().se > 1.2 * independent_se


def test_average_se_matches_the_spread_over_simulated_experiments() -> None:
    rng = np.random.default_rng(3)
    population = SyntheticCtr(mean_impressions=8)
    c_a, m_a = population.draw(rng, replicates=300, days=5, users=400)
    c_b, m_b = population.draw(rng, replicates=300, days=5, users=400)
    results = [
        average_lift(ratio_panel(c_a[r], m_a[r]), ratio_panel(c_b[r], m_b[r])) for r in range(300)
    ]
    lifts = np.array([r.lift for r in results])
    mean_se = np.mean([r.se for r in results])
    assert mean_se == pytest.approx(lifts.std(ddof=1), rel=0.12)
    # The SE that treats the days as independent is far too small.
    independent = [
        np.sqrt(
            np.sum(
                daily_lifts(
                    ratio_panel(c_a[r], m_a[r]), ratio_panel(c_b[r], m_b[r])
                ).lifts.variance()
            )
        )
        / 5
        for r in range(50)
    ]
    assert np.mean(independent) < 0.8 * lifts.std(ddof=1)


def test_ab_minus_aa_on_the_same_users_uses_the_covariance_of_the_two_periods() -> None:
    c_a, m_a, c_b, m_b = panel(4, days=2, lift=0.1)
    a = PrePost(post=UnitTotals(c_a[1], m_a[1]), pre=UnitTotals(c_a[0], m_a[0]))
    b = PrePost(post=UnitTotals(c_b[1], m_b[1]), pre=UnitTotals(c_b[0], m_b[0]))
    result = ab_minus_aa_lift(a, b)
    post = relative_lift(a.post, b.post)
    pre = relative_lift(a.pre, b.pre)
    assert result.lift == pytest.approx(post.lift - pre.lift, rel=1e-12)

    def influence(c, m, r_a, r_b, sign):  # per-user influence on a lift, arm by arm
        return (
            sign * (c - (c.sum() / m.sum()) * m) / m.sum() * (r_b / r_a**2 if sign < 0 else 1 / r_a)
        )

    cov = 0.0
    for c, m, sign in ((c_a, m_a, -1.0), (c_b, m_b, 1.0)):
        n = c.shape[1]
        post_infl = influence(c[1], m[1], post.ratio_control, post.ratio_treatment, sign)
        pre_infl = influence(c[0], m[0], pre.ratio_control, pre.ratio_treatment, sign)
        cov += (post_infl * pre_infl).sum() * n / (n - 1)
    assert cov > 0
    assert result.se**2 == pytest.approx(post.se**2 + pre.se**2 - 2 * cov, rel=1e-9)


def test_shared_control_difference_matches_the_design_formula() -> None:
    c_1, m_1, c_b, m_b = panel(5, days=1, lift=0.1)
    c_2, m_2, _, _ = panel(6, days=1)
    a1, a2, b = (
        RatioStats.from_arrays(c[0], m[0]) for c, m in ((c_1, m_1), (c_2, m_2), (c_b, m_b))
    )
    d = (b.ratio - a2.ratio) / a1.ratio
    var = (b.variance + a2.variance) / a1.ratio**2 + (
        b.ratio - a2.ratio
    ) ** 2 * a1.variance / a1.ratio**4
    one, two, treated = (
        UnitTotals(c_1[0], m_1[0]),
        UnitTotals(c_2[0], m_2[0]),
        UnitTotals(c_b[0], m_b[0]),
    )
    result = shared_control_lift(one, two, treated)
    assert result.lift == pytest.approx(d, rel=1e-12)
    assert result.se == pytest.approx(np.sqrt(var), rel=1e-10)
    # D is the A/B lift minus the A/A lift, both against A1; sharing A1 makes it tighter than the
    # two lifts' SEs added as if independent.
    ab = relative_lift(one, treated)
    aa = relative_lift(one, two)
    assert result.lift == pytest.approx(ab.lift - aa.lift, rel=1e-12)
    assert result.se < np.sqrt(ab.se**2 + aa.se**2)


def test_holm_and_bh_match_their_definitions_and_keep_nan() -> None:
    p = np.array([0.01, 0.04, np.nan, 0.03, 0.2])
    finite = np.array([0.01, 0.04, 0.03, 0.2])
    order = np.argsort(finite)
    m = finite.size
    holm = np.minimum(1, np.maximum.accumulate((m - np.arange(m)) * finite[order]))
    bh = np.minimum(1, np.minimum.accumulate(m / np.arange(m, 0, -1) * finite[order][::-1]))[::-1]
    expected_holm, expected_bh = np.empty(m), np.empty(m)
    expected_holm[order], expected_bh[order] = holm, bh
    got_holm, got_bh = adjust_p_values(p, "holm"), adjust_p_values(p, "bh")
    assert np.isnan(got_holm[2]) and np.isnan(got_bh[2])
    np.testing.assert_allclose(np.delete(got_holm, 2), expected_holm, rtol=1e-12)
    np.testing.assert_allclose(np.delete(got_bh, 2), expected_bh, rtol=1e-12)
    with pytest.raises(ValueError, match="holm or bh"):
        adjust_p_values(p, "bonferroni")  # type: ignore[arg-type]


@pytest.mark.parametrize("method, name", [("holm", "holm"), ("bh", "fdr_bh")])
def test_holm_and_bh_equal_statsmodels_multipletests(method, name) -> None:
    """The adjustments are computed here (statsmodels' Holm runs gc.collect on every call);
    they equal statsmodels' multipletests, ties and values near 1 included."""
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(4)
    for size in (1, 2, 7, 30):
        p = rng.uniform(size=size) ** 2
        p[: size // 3] = p[0]  # ties
        expected = multipletests(p, method=name)[1]
        np.testing.assert_array_equal(adjust_p_values(p, method), expected)
