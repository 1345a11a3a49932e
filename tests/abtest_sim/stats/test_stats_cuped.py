"""CUPED for a ratio metric against a hand computation and the equivalent regression."""

import numpy as np
import pytest
import statsmodels.api as sm

from abtest_sim.stats import (
    PrePost,
    SyntheticCtr,
    UnitTotals,
    cuped_arms,
    cuped_relative_lift,
    relative_lift,
)


def pre_and_post(seed: int, users: int = 600):
    """Per arm: (post clicks, post impressions, pre clicks, pre impressions) of the same users."""
    rng = np.random.default_rng(seed)
    arms = []
    for lift in (0.0, 0.08):
        c, m = SyntheticCtr(lift=lift).draw(rng, replicates=1, days=2, users=users)
        arms.append((c[0, 1], m[0, 1], c[0, 0], m[0, 0]))
    return arms


def arm(c: np.ndarray, m: np.ndarray, pre_c: np.ndarray, pre_m: np.ndarray) -> PrePost:
    return PrePost(post=UnitTotals(c, m), pre=UnitTotals(pre_c, pre_m))


def linearise(c: np.ndarray, m: np.ndarray) -> np.ndarray:
    """u_i = R + (C_i - R M_i) / Mbar, written out from the definition."""
    ratio = c.sum() / m.sum()
    return ratio + (c - ratio * m) / m.mean()


def test_cuped_difference_is_the_arm_coefficient_of_the_ancova_regression() -> None:
    arm_a, arm_b = pre_and_post(0)
    u = np.concatenate([linearise(*arm_a[:2]), linearise(*arm_b[:2])])
    v = np.concatenate([linearise(*arm_a[2:]), linearise(*arm_b[2:])])
    dummy = np.concatenate([np.zeros(arm_a[0].size), np.ones(arm_b[0].size)])
    fit = sm.OLS(u, sm.add_constant(np.column_stack([dummy, v]))).fit(cov_type="HC0")

    arms = cuped_arms(arm(*arm_a), arm(*arm_b))
    difference = arms.treatment.value[0] - arms.control.value[0]
    assert arms.theta[0] == pytest.approx(fit.params[2], rel=1e-9)
    assert difference == pytest.approx(fit.params[1], rel=1e-9)
    # The SE differs only by theta's own noise and the ddof: within a couple of percent.
    se = np.sqrt(arms.treatment.variance()[0] + arms.control.variance()[0])
    assert se == pytest.approx(fit.bse[1], rel=0.02)


def test_cuped_relative_lift_matches_a_hand_computation() -> None:
    arm_a, arm_b = pre_and_post(1)
    u = [linearise(*arm_a[:2]), linearise(*arm_b[:2])]
    v = [linearise(*arm_a[2:]), linearise(*arm_b[2:])]
    theta = sum(((x - x.mean()) * (y - y.mean())).sum() for x, y in zip(u, v, strict=True)) / sum(
        ((y - y.mean()) ** 2).sum() for y in v
    )
    pre_pooled = (arm_a[2].sum() + arm_b[2].sum()) / (arm_a[3].sum() + arm_b[3].sum())
    adjusted = [x.mean() - theta * (y.mean() - pre_pooled) for x, y in zip(u, v, strict=True)]
    var = [np.var(x - theta * y, ddof=1) / x.size for x, y in zip(u, v, strict=True)]
    lift = adjusted[1] / adjusted[0] - 1
    se = np.sqrt(var[1] / adjusted[0] ** 2 + adjusted[1] ** 2 * var[0] / adjusted[0] ** 4)

    result = cuped_relative_lift(arm(*arm_a), arm(*arm_b))
    assert result.lift == pytest.approx(lift, rel=1e-10)
    assert result.se == pytest.approx(se, rel=1e-10)
    assert (result.ratio_control, result.ratio_treatment) == pytest.approx(adjusted, rel=1e-12)
    plain = relative_lift(UnitTotals(*arm_a[:2]), UnitTotals(*arm_b[:2]))
    assert result.se < 0.9 * plain.se  # users' CTRs persist, so the pre-period explains variance


def test_an_unrelated_pre_period_changes_almost_nothing() -> None:
    arm_a, arm_b = pre_and_post(2)
    rng = np.random.default_rng(3)
    # Pre-periods of other users: one permutation for clicks and impressions keeps them consistent.
    perm_a, perm_b = rng.permutation(arm_a[0].size), rng.permutation(arm_b[0].size)
    unrelated_a = (arm_a[0], arm_a[1], arm_a[2][perm_a], arm_a[3][perm_a])
    unrelated_b = (arm_b[0], arm_b[1], arm_b[2][perm_b], arm_b[3][perm_b])
    result = cuped_relative_lift(arm(*unrelated_a), arm(*unrelated_b))
    plain = relative_lift(UnitTotals(*arm_a[:2]), UnitTotals(*arm_b[:2]))
    assert result.se == pytest.approx(plain.se, rel=0.05)
    assert result.lift == pytest.approx(plain.lift, abs=0.3 * plain.se)


def test_pre_period_arrays_must_align_with_the_users() -> None:
    arm_a, arm_b = pre_and_post(4)
    with pytest.raises(ValueError, match="aligned"):
        cuped_relative_lift(arm(arm_a[0], arm_a[1], arm_a[2][:-1], arm_a[3][:-1]), arm(*arm_b))
