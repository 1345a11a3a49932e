"""Power and MDE from per-user variances, against statsmodels and a simulation."""

import numpy as np
import pytest
from statsmodels.stats.power import NormalIndPower

from abtest_sim.stats import (
    RatioStats,
    SyntheticCtr,
    UnitTotals,
    minimum_detectable_lift,
    per_user_variance,
    power_of_lift,
    relative_lift,
    users_per_arm,
)

POPULATION = SyntheticCtr()


@pytest.fixture(scope="module")
def pilot():
    c, m = POPULATION.draw(np.random.default_rng(0), replicates=1, days=1, users=20_000)
    return per_user_variance(c[0, 0], m[0, 0])


def test_per_user_variance_times_users_is_the_ratio_variance(pilot) -> None:
    c, m = POPULATION.draw(np.random.default_rng(0), replicates=1, days=1, users=20_000)
    stats = RatioStats.from_arrays(c[0, 0], m[0, 0])
    assert pilot.variance / pilot.users == pytest.approx(stats.variance, rel=1e-12)
    assert pilot.relative_variance == pytest.approx(pilot.variance / stats.ratio**2)


@pytest.mark.parametrize(("lift", "n_a", "n_b"), [(0.05, 2000, 2000), (0.1, 1000, 3000)])
def test_power_equals_statsmodels_normal_power(pilot, lift, n_a, n_b) -> None:
    effect = lift / ((1 + lift) * np.sqrt(pilot.relative_variance))
    expected = NormalIndPower().power(effect, nobs1=n_a, alpha=0.05, ratio=n_b / n_a)
    got = power_of_lift(pilot, lift=lift, n_control=n_a, n_treatment=n_b)
    assert got == pytest.approx(expected, rel=1e-9)


def test_mde_and_sample_size_invert_the_power(pilot) -> None:
    mde = minimum_detectable_lift(pilot, n_control=3000, n_treatment=3000, power=0.8)
    assert power_of_lift(pilot, lift=mde, n_control=3000, n_treatment=3000) == pytest.approx(
        0.8, abs=1e-6
    )
    n = users_per_arm(pilot, lift=0.05, power=0.9)
    assert power_of_lift(pilot, lift=0.05, n_control=n, n_treatment=n) >= 0.9
    assert power_of_lift(pilot, lift=0.05, n_control=n - 1, n_treatment=n - 1) < 0.9


def test_predicted_power_matches_simulated_experiments(pilot) -> None:
    users = 1000
    lift = minimum_detectable_lift(pilot, n_control=users, n_treatment=users, power=0.6)
    rng = np.random.default_rng(1)
    c_a, m_a = POPULATION.draw(rng, replicates=600, days=1, users=users)
    c_b, m_b = SyntheticCtr(lift=lift).draw(rng, replicates=600, days=1, users=users)
    rejected = [
        relative_lift(UnitTotals(c_a[r, 0], m_a[r, 0]), UnitTotals(c_b[r, 0], m_b[r, 0])).p_value
        < 0.05
        for r in range(600)
    ]
    assert np.mean(rejected) == pytest.approx(0.6, abs=0.06)


def test_users_from_reference_is_the_smallest_size_with_the_power() -> None:
    """The planner's size, checked by the power it implies (SE ~ 1/sqrt(n), lineage SD fixed)."""
    from abtest_sim.stats.power import power_from_se, users_from_reference, z_sum

    lift, lineage = 0.02, 0.004
    n_ref, se_ref = 5000.0, 0.03
    z = z_sum(0.05, 0.8)
    n = users_from_reference(n_ref, se_ref, lift=lift, z=z, lineage_sd=lineage)

    def se_at(users: float) -> float:
        return float(np.hypot((1 + lift) * se_ref * np.sqrt(n_ref / users), lineage))

    # smallest n with z * SE_total <= lift (the far tail ignored, as documented), so power >= 0.8
    assert z * se_at(n) <= lift < z * se_at(n - 1)
    assert power_from_se(lift, se_at(n)) >= 0.8
    assert users_from_reference(n_ref, se_ref, lift=lift, z=z, lineage_sd=lift / z) is None
