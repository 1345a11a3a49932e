"""Lift intervals that stay above -100% (abtest_sim.stats.lift_floor): untouched where the delta
interval is fine, the log-ratio interval of a Poisson GLM (statsmodels) where it breaks, and
better coverage than the delta interval in simulated A/A tests with few clicks."""

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm
from scipy.stats import norm

from abtest_sim.report.writer import Arms, ReportInput, write_report
from abtest_sim.stats import SyntheticCtr, UnitTotals, relative_lift
from abtest_sim.stats.influence import ratio_panel, relative_lift_of
from abtest_sim.stats.lift_floor import CLIPPED, DELTA, LOG, floor_interval, floor_p_value
from abtest_sim.stats.synthetic import synthetic_unit_days

Z = norm.ppf(0.975)


def test_rows_whose_delta_interval_holds_are_untouched_to_the_bit():
    rng = np.random.default_rng(0)
    lift, se = rng.uniform(-0.5, 2, 1000), rng.uniform(0, 0.25, 1000)
    low, high, p = lift - Z * se, lift + Z * se, rng.uniform(0, 1, 1000)
    floored_low, floored_high, kind = floor_interval(lift, Z * se, low, high)
    assert (kind == DELTA).all()
    assert np.array_equal(floored_low, low) and np.array_equal(floored_high, high)
    assert np.array_equal(floor_p_value(lift, se, p, kind), p)


def few_clicks(seed: int) -> tuple[np.ndarray, ...]:
    """Per-user clicks and impressions of two arms with a handful of clicks each."""
    rng = np.random.default_rng(seed)
    population = SyntheticCtr(mean_impressions=4, ctr=0.004)
    arms = [population.draw(rng, replicates=1, days=1, users=500) for _ in range(2)]
    (c_a, m_a), (c_b, m_b) = ((c[0, 0], m[0, 0]) for c, m in arms)
    keep_a, keep_b = m_a > 0, m_b > 0
    return c_a[keep_a], m_a[keep_a], c_b[keep_b], m_b[keep_b]


def glm_log_ratio(c_a, m_a, c_b, m_b) -> tuple[float, float]:
    """log(R_B / R_A) and its SE from a Poisson GLM with offset log M and HC0 errors, per arm
    scaled to sample variances (n / (n - 1)) as the report's are."""
    y, m = np.concatenate([c_a, c_b]), np.concatenate([m_a, m_b])
    arm_b = np.concatenate([np.zeros(c_a.size), np.ones(c_b.size)])
    fit = sm.GLM(y, np.column_stack([1 - arm_b, arm_b]), family=sm.families.Poisson(),
                 offset=np.log(m)).fit(cov_type="HC0")  # fmt: skip
    cov = fit.cov_params()
    var = cov[0, 0] * c_a.size / (c_a.size - 1) + cov[1, 1] * c_b.size / (c_b.size - 1)
    return float(fit.params[1] - fit.params[0]), float(np.sqrt(var))


@pytest.mark.parametrize("seed", range(8))
def test_a_broken_delta_interval_becomes_the_glm_log_ratio_interval(seed):
    c_a, m_a, c_b, m_b = few_clicks(seed)
    delta = relative_lift(UnitTotals(c_a, m_a), UnitTotals(c_b, m_b), method="delta")
    low, high, kind = floor_interval(delta.lift, Z * delta.se, delta.ci_low, delta.ci_high)
    p = floor_p_value(delta.lift, delta.se, delta.p_value, kind)
    if delta.ci_low > -1:  # this draw's delta interval holds
        assert kind == DELTA and (low, high) == (delta.ci_low, delta.ci_high)
        return
    log_ratio, se = glm_log_ratio(c_a, m_a, c_b, m_b)
    assert kind == LOG and low > -1
    assert (low, high) == pytest.approx(np.expm1([log_ratio - Z * se, log_ratio + Z * se]))
    assert p == pytest.approx(2 * norm.sf(abs(log_ratio) / se))
    log = relative_lift(
        UnitTotals(c_a, m_a), UnitTotals(c_b, m_b), method="log"
    )  # ratio.py's own log-ratio method
    assert (low, high, p) == pytest.approx((log.ci_low, log.ci_high, log.p_value))


def test_a_lift_of_minus_100_percent_is_clipped_there():
    low, high, kind = floor_interval([-1.0, 0.2], [0.5, 0.1], [-1.5, 0.1], [-0.5, 0.3])
    assert low.tolist() == [-1.0, 0.1] and high.tolist() == [-0.5, 0.3]
    assert kind.tolist() == [CLIPPED, DELTA]


def test_the_reported_interval_covers_more_often_than_the_delta_one_with_few_clicks():
    """A/A tests with 5 expected clicks per arm (benchmarks/few_clicks_coverage.py's design):
    the delta interval covers the zero lift far less than 95%, the interval reported near 95%."""
    rng = np.random.default_rng(1)
    population = SyntheticCtr(mean_impressions=4, ctr=5 / (300 * 4))
    panels = []
    for group in ("a", "b"):
        c, m = (x[:, 0] for x in population.draw(rng, replicates=4000, days=1, users=300))
        panels.append(ratio_panel(c, m, m > 0, strict=False).linearized(group))
    with np.errstate(divide="ignore", invalid="ignore"):
        wald = relative_lift_of(*panels).wald(0.05)
    low, high, _ = floor_interval(wald.estimate, Z * wald.se, wald.ci_low, wald.ci_high)
    defined = np.isfinite(wald.estimate) & (panels[0].value > 0)
    delta = ((wald.ci_low <= 0) & (0 <= wald.ci_high))[defined].mean()
    reported = ((low <= 0) & (0 <= high))[defined].mean()
    assert delta < 0.9 and reported > 0.93 and reported > delta + 0.05


def test_a_treatment_without_a_click_is_clipped_everywhere_and_said(tmp_path):
    table = synthetic_unit_days(
        np.random.default_rng(2), lifts={"A": 0.0, "B": 0.0}, users=40, days=2,
        population=SyntheticCtr(mean_impressions=4, ctr=0.05),
    ).drop("true_clicks", "phase")  # fmt: skip
    table = table.with_columns(
        pl.when(pl.col("arm") == "B").then(0).otherwise("clicks").alias("clicks")
    )
    summary = write_report(ReportInput(table, Arms("A", "B")), tmp_path, plots=False)
    daily = pl.read_csv(tmp_path / "report" / "daily.csv")
    cumulative = pl.read_csv(tmp_path / "report" / "cumulative.csv")
    assert daily["lift"].to_list() == [-1.0] * 3
    assert daily["ci_low"].to_list() == [-1.0] * 3 and daily["fieller_ci_low"].min() >= -1
    assert cumulative["ci_low"].min() == -1.0
    # no sampling information (SE 0): no always-valid band, rather than the point -100%
    assert cumulative["cs_low"].null_count() == cumulative.height
    assert summary.lead.total_ci_low == -1.0 and summary.lead.interval == "clipped"
    assert any("clipped at -100% where the treatment has no click" in w for w in summary.warnings)
