"""Synthetic A/A and A/B data sets: false-positive rates, uniform p-values and interval coverage.

2000 data sets of 2 x 1000 users with heavy-tailed impressions per user and per-user CTRs; no
models. Fixed seeds, so the rates below are deterministic; the bounds are about 3 binomial SEs.
"""

import numpy as np
import pytest
from scipy.stats import kstest

from abtest_sim.stats import PrePost, SyntheticCtr, UnitTotals, cuped_relative_lift, relative_lift

DATA_SETS = 2000
USERS = 1000
METHODS = ("delta", "log", "fieller", "naive")


def run_tests(control: SyntheticCtr, treatment: SyntheticCtr, seed: int) -> dict[str, list]:
    """Every method on DATA_SETS fresh data sets; results per method."""
    rng = np.random.default_rng(seed)
    results: dict[str, list] = {method: [] for method in METHODS}
    for _ in range(4):  # chunks keep memory small
        c_a, m_a = control.draw(rng, replicates=DATA_SETS // 4, days=1, users=USERS)
        c_b, m_b = treatment.draw(rng, replicates=DATA_SETS // 4, days=1, users=USERS)
        for r in range(DATA_SETS // 4):
            for method in METHODS:
                a, b = UnitTotals(c_a[r, 0], m_a[r, 0]), UnitTotals(c_b[r, 0], m_b[r, 0])
                result = relative_lift(a, b, method=method)
                results[method].append(result)
    return results


@pytest.fixture(scope="module")
def aa_results() -> dict[str, list]:
    return run_tests(SyntheticCtr(), SyntheticCtr(), seed=0)


@pytest.fixture(scope="module")
def ab_results() -> dict[str, list]:
    return run_tests(SyntheticCtr(), SyntheticCtr(lift=0.05), seed=1)


@pytest.mark.parametrize("method", ["delta", "log", "fieller"])
def test_user_level_methods_hold_their_level_with_uniform_p_values(aa_results, method) -> None:
    p = np.array([r.p_value for r in aa_results[method]])
    assert 0.035 <= (p < 0.05).mean() <= 0.065
    assert kstest(p, "uniform").pvalue > 0.01


def test_naive_test_gives_far_too_many_false_positives(aa_results) -> None:
    p = np.array([r.p_value for r in aa_results["naive"]])
    assert (p < 0.05).mean() > 0.10
    assert kstest(p, "uniform").pvalue < 1e-6


@pytest.mark.parametrize("method", ["delta", "log", "fieller"])
def test_intervals_cover_a_known_lift(ab_results, method) -> None:
    covered = np.array([r.ci_low <= 0.05 <= r.ci_high for r in ab_results[method]])
    assert 0.935 <= covered.mean() <= 0.965


def test_naive_intervals_undercover_a_known_lift(ab_results) -> None:
    covered = np.array([r.ci_low <= 0.05 <= r.ci_high for r in ab_results["naive"]])
    assert covered.mean() < 0.85


def test_cuped_holds_its_level_and_shrinks_the_interval() -> None:
    rng = np.random.default_rng(2)
    population = SyntheticCtr()
    p_values, width_ratio = [], []
    for _ in range(2):
        # Day 0 is the pre-period, day 1 the test; the same users on both days.
        c_a, m_a = population.draw(rng, replicates=DATA_SETS // 4, days=2, users=USERS)
        c_b, m_b = population.draw(rng, replicates=DATA_SETS // 4, days=2, users=USERS)
        for r in range(DATA_SETS // 4):
            arm_a = PrePost(
                post=UnitTotals(c_a[r, 1], m_a[r, 1]), pre=UnitTotals(c_a[r, 0], m_a[r, 0])
            )
            arm_b = PrePost(
                post=UnitTotals(c_b[r, 1], m_b[r, 1]), pre=UnitTotals(c_b[r, 0], m_b[r, 0])
            )
            cuped = cuped_relative_lift(arm_a, arm_b)
            plain = relative_lift(arm_a.post, arm_b.post)
            p_values.append(cuped.p_value)
            width_ratio.append((cuped.ci_high - cuped.ci_low) / (plain.ci_high - plain.ci_low))
    p = np.array(p_values)
    assert 0.03 <= (p < 0.05).mean() <= 0.07
    assert kstest(p, "uniform").pvalue > 0.01
    assert np.median(width_ratio) < 0.9
