"""Each built-in estimator's lift after each A/B day (``DailyTable.so_far``, the report's chart of
the lift over the days and cumulative.csv): its last row is the estimator's A/B lift, the pooled
one is the pooled cumulative lift, and the value after day k is what the same estimator gives on
the log cut after day k (it uses no later day)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from abtest_sim.analysis.daily_table import daily_table
from abtest_sim.analysis.estimators import BUILTIN
from abtest_sim.stats import SyntheticCtr
from abtest_sim.stats.synthetic import synthetic_unit_days

KEYS = [e.key for e in BUILTIN]


@pytest.fixture(scope="module")
def log() -> pl.DataFrame:
    rng = np.random.default_rng(11)
    population = SyntheticCtr(mean_impressions=6)
    return synthetic_unit_days(
        rng, lifts={"A": 0.0, "B": 0.04}, users=1500, days=7, aa_days=3, population=population
    )


@pytest.mark.parametrize("key", KEYS)
def test_the_last_day_is_the_estimators_ab_lift(log, key):
    table = daily_table(log, control="A", treatment="B")
    series = table.so_far(key, lineage_sd=0.01)
    estimate = BUILTIN[KEYS.index(key)].estimate(table.ab_rows, alpha=0.05, lineage_sd=0.01)
    assert series is not None and estimate is not None
    last = series.row(series.height - 1, named=True)
    assert last["lift"] == pytest.approx(estimate.lift, rel=1e-12)
    assert last["se"] == pytest.approx(estimate.se, rel=1e-12)
    assert last["se_total"] == pytest.approx(estimate.se_total, rel=1e-12)
    assert (last["ci_low"], last["ci_high"], last["p_value"]) == pytest.approx(
        (estimate.total_ci_low, estimate.total_ci_high, estimate.total_p_value), rel=1e-9
    )
    assert last["target_lift"] == pytest.approx(estimate.target, rel=1e-9)
    # the always-valid band holds the one-look interval on every day
    assert (series["cs_low"] <= series["ci_low"]).all()
    assert (series["cs_high"] >= series["ci_high"]).all()


def test_the_pooled_series_is_the_pooled_cumulative_lift(log):
    table = daily_table(log, control="A", treatment="B")
    series = table.so_far("pooled")
    assert series is not None
    assert series.drop("estimator").equals(table.pooled_so_far)


def _control_without_clicks(log: pl.DataFrame, day: int) -> pl.DataFrame:
    """The log with the control's clicks of ``day`` removed: that day's lift is undefined."""
    silent = (pl.col("arm") == "A") & (pl.col("day") == day)
    return log.with_columns(
        pl.when(silent).then(0).otherwise(pl.col(c)).alias(c) for c in ("clicks", "true_clicks")
    )


def _floats(column: pl.Series) -> np.ndarray:
    return column.cast(pl.Float64).fill_null(np.nan).to_numpy()


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("undefined_day", [None, 5])
def test_the_value_after_day_k_uses_no_later_day(log, key, undefined_day):
    """Every column after A/B day k (bands with a fixed tuning, truths) is what the log cut
    after day k gives, also across a day whose lift is undefined."""
    if undefined_day is not None:
        log = _control_without_clicks(log, undefined_day)
    full = daily_table(log, control="A", treatment="B", cs_rho=0.05).so_far(key, 0.01)
    for k in (4, 5, 6):  # A/B days 1..3 of the 4 (days 4..7)
        cut = daily_table(log.filter(pl.col("day") <= k), control="A", treatment="B", cs_rho=0.05)
        mine, theirs = full.head(k - 3), cut.so_far(key, 0.01)
        for column in mine.columns[2:]:
            np.testing.assert_allclose(_floats(theirs[column]), _floats(mine[column]), rtol=1e-10)


@pytest.mark.parametrize("key", ["pooled", "mean_daily"])
def test_a_treatment_without_a_click_so_far_has_no_band(log, key):
    """A -100% lift with SE 0 (no click in the treatment yet) is no evidence for a daily
    watcher: the day has no band (its one-look interval is the clipped one daily.csv shows),
    rather than a band of one point that excludes zero."""
    silent = (pl.col("arm") == "B") & (pl.col("day") == 4)
    quiet = log.with_columns(
        pl.when(silent).then(0).otherwise(pl.col(c)).alias(c) for c in ("clicks", "true_clicks")
    )
    series = daily_table(quiet, control="A", treatment="B").so_far(key)
    assert series["lift"][0] == -1.0 and series["se"][0] == 0.0
    assert series["cs_low"][0] is None and series["cs_high"][0] is None
    assert series["cs_low"][1:].null_count() == 0


def test_without_an_aa_week_the_contrasts_have_no_series(log):
    table = daily_table(log.filter(pl.col("phase") == "ab"), control="A", treatment="B")
    assert table.so_far("cuped") is None and table.so_far("ab_minus_aa") is None
    assert table.so_far("mean_daily") is not None
