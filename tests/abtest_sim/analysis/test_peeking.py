"""Daily peeking on synthetic A/A tests (a smaller ``benchmarks/peeking_study.py``): stopping at
the first day the fixed-horizon p < 0.05 gives far more than 5% false positives; stopping at the
first day the confidence sequence excludes zero gives at most 5%."""

import numpy as np
import pytest

from abtest_sim.analysis.peeking import simulate_peeking
from abtest_sim.stats.synthetic import SyntheticCtr
from abtest_sim.sweep.validity import wilson


@pytest.fixture(scope="module")
def counts():
    return simulate_peeking(np.random.default_rng(7), replicates=500, users=1000, days=14)


def test_the_confidence_sequence_holds_its_level_under_daily_looks(counts):
    cs = wilson(counts.cs_any_day, counts.replicates)
    assert cs.low <= 0.05  # consistent with at most 5%
    assert cs.value <= 0.05


def test_the_fixed_horizon_interval_read_daily_does_not(counts):
    fixed = wilson(counts.fixed_any_day, counts.replicates)
    assert fixed.low > 0.08  # clearly above 5%
    one_look = wilson(counts.fixed_last_day, counts.replicates)
    assert one_look.low <= 0.05 <= one_look.high  # read once, at the horizon, it is fine
    assert counts.first_stop_fixed.sum() == counts.fixed_any_day


def test_the_price_is_width(counts):
    assert counts.width_ratio[-1] == pytest.approx(1.55, abs=0.01)  # tuned at the horizon
    assert (np.diff(counts.width_ratio) < 0).all()  # wider while few users are in


@pytest.mark.parametrize("key", ["cuped", "ab_minus_aa"])
def test_the_sequence_of_a_contrast_after_a_pre_period_holds_its_level(key):
    """The report's band around CUPED's (and A/B - A/A's) lift so far: stopping at its first
    exclusion of zero stays at most 5% (its time is the A/B units so far, as for the pooled)."""
    counts = simulate_peeking(
        np.random.default_rng(8), replicates=300, users=800, days=10, estimator=key, aa_days=5
    )
    cs = wilson(counts.cs_any_day, counts.replicates)
    assert cs.high <= 0.05  # below 5% beyond sampling doubt
    assert wilson(counts.fixed_any_day, counts.replicates).low > 0.05  # peeking still costs


def test_the_band_holds_with_about_two_clicks_per_arm_and_day():
    """With so few clicks that some days' treatment has none (a lift of -100%, SE 0), such a day
    has no band: stopping at the band's first exclusion stays below 5% (it was 13.6% when that
    day's band was the single point -100%)."""
    few = SyntheticCtr(mean_impressions=0.25, activity_shape=50, ctr=0.04, ctr_concentration=1e6)
    counts = simulate_peeking(
        np.random.default_rng(5), replicates=800, users=200, days=14, population=few,
        enrol_over_days=False,
    )  # fmt: skip
    assert wilson(counts.cs_any_day, counts.replicates).high <= 0.05
