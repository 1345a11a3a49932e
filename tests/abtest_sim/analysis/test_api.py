"""abtest_sim.analyze, the Python API: several metrics and treatments in one call, checked
against an independent implementation (tea-tasting) and statsmodels' multipletests.

Conventions where they differ, stated once: tea-tasting reads one row per unit (the unit's sums
over the test), the same rows our pooled estimator's delta method reads, so the relative lift and
its standard error on the log scale agree to rounding (our SE is of the lift itself: se / (1 + L)
is tea-tasting's log-scale SE); tea-tasting's p-value tests the absolute difference, ours the
relative lift's Wald statistic, so p-values are not compared. CUPED: tea-tasting fits the slope
on both arms together, we pool it within arms; with one A/B day the two agree to a small fraction
of the SE.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.stats import norm

from abtest_sim import AnalysisError, Metric, analyze

tt = pytest.importorskip("tea_tasting")
Z = float(norm.ppf(0.975))


def a_log(seed: int, users: int = 3000, days: int = 5, arms: str = "ABC") -> pl.DataFrame:
    """One row per (user, day) with clicks, impressions and revenue; arm B lifts the CTR 5%."""
    rng = np.random.default_rng(seed)
    unit, day = np.repeat(np.arange(users), days), np.tile(np.arange(1, days + 1), users)
    arm = np.array(list(arms))[np.arange(users) % len(arms)][unit]
    impressions = rng.poisson(3 * rng.gamma(2.0, 1.0, users)[unit])
    ctr = rng.beta(2, 30, users)[unit] * np.where(arm == "B", 1.05, 1.0)
    clicks = rng.binomial(impressions, ctr)
    revenue = clicks * rng.gamma(2.0, 5.0, unit.size)
    log = pl.DataFrame({"user": unit, "variant": arm, "day": day, "clicks": clicks,
                        "impressions": impressions, "revenue": revenue})  # fmt: skip
    return log.filter(pl.col("impressions") > 0)


def log_scale(result) -> tuple[float, float]:
    """tea-tasting's relative effect and its log-scale SE (from its interval)."""
    low, high = result.rel_effect_size_ci_lower, result.rel_effect_size_ci_upper
    return result.rel_effect_size, (np.log1p(high) - np.log1p(low)) / (2 * Z)


def test_a_ratio_and_a_mean_metric_match_tea_tasting():
    log = a_log(1)
    metrics = [Metric.ratio("ctr", "clicks", "impressions"), Metric.mean("revenue", "revenue")]
    ours = analyze(log, metrics=metrics, control="A", treatments=["B"], unit="user", arm="variant")
    users = log.group_by("user", "variant").agg(
        pl.col("clicks", "impressions", "revenue").sum(), pl.len().alias("user_days")
    )
    experiment = tt.Experiment(
        variant="variant",
        ctr=tt.RatioOfMeans("clicks", "impressions", use_t=False),
        revenue=tt.RatioOfMeans("revenue", "user_days", use_t=False),  # per active user-day
    )
    theirs = experiment.analyze(users.filter(pl.col("variant") != "C"), control="A")
    for name in ("ctr", "revenue"):
        row = ours.overall.filter(pl.col("metric") == name).row(0, named=True)
        lift, se_log = log_scale(theirs[name])
        assert row["estimator"] == "pooled"
        assert row["lift"] == pytest.approx(lift, rel=1e-9)
        assert row["se"] / (1 + row["lift"]) == pytest.approx(se_log, rel=1e-9)
        assert row["control_value"] == pytest.approx(theirs[name].control, rel=1e-12)


def test_cuped_matches_tea_tasting_with_one_ab_day():
    log = a_log(2, users=4000, days=3, arms="AB")
    metric = Metric.ratio("ctr", "clicks", "impressions")
    ours = analyze(log, metrics=[metric], control="A", treatments=["B"], unit="user",
                   arm="variant", aa_days=2).overall.row(0, named=True)  # fmt: skip
    post = (
        log.filter(pl.col("day") == 3)
        .group_by("user", "variant")
        .agg(pl.col("clicks", "impressions").sum())
    )
    pre = (
        log.filter(pl.col("day") <= 2)
        .group_by("user")
        .agg(
            pl.col("clicks").sum().alias("pre_clicks"),
            pl.col("impressions").sum().alias("pre_impressions"),
        )
    )
    users = post.join(pre, on="user", how="left").fill_null(0)
    cuped = tt.RatioOfMeans("clicks", "impressions", "pre_clicks", "pre_impressions", use_t=False)
    lift, se_log = log_scale(tt.Experiment(variant="variant", ctr=cuped).analyze(users, "A")["ctr"])
    assert ours["estimator"] == "cuped"
    assert abs(ours["lift"] - lift) < 0.02 * ours["se"]
    assert ours["se"] / (1 + ours["lift"]) == pytest.approx(se_log, rel=1e-3)


def test_several_treatments_are_holm_adjusted_together_and_unnamed_arms_listed():
    from statsmodels.stats.multitest import multipletests

    log = a_log(3, arms="ABCD")
    metrics = [Metric.ratio("ctr", "clicks", "impressions"), Metric.mean("clicks", "clicks"),
               Metric.proportion("clicked", "clicks")]  # fmt: skip
    result = analyze(log, metrics=metrics, control="A", treatments=["B", "C"], unit="user",
                     arm="variant")  # fmt: skip
    assert result.overall.height == 6 and result.unnamed_arms == ("D",)
    expected = multipletests(result.overall["p_value"].to_numpy(), method="holm")[1]
    np.testing.assert_allclose(result.overall["p_holm"].to_numpy(), expected, rtol=1e-12)
    assert result.daily.height == 6 * 5
    assert "clicked" in result._repr_html_()
    # a proportion: the share of active user-days with a click, per arm
    share = log.group_by("variant").agg((pl.col("clicks") > 0).mean()).sort("variant")
    row = result.overall.filter((pl.col("metric") == "clicked") & (pl.col("treatment") == "B"))
    values = dict(share.iter_rows())
    assert row["lift"][0] == pytest.approx(values["B"] / values["A"] - 1, rel=1e-12)


@pytest.mark.parametrize(
    "metric, why",
    [
        (Metric.ratio("ctr", "clicks", "views"), "no column 'views'"),
        (Metric.ratio("neg", "clicks", "signed"), "negative value"),
        (Metric.mean("flat", "one"), "no variance"),
    ],
)
def test_a_bad_metric_is_one_line(metric, why):
    log = a_log(4, users=300, arms="AB").with_columns(
        signed=pl.col("impressions") - 2, one=pl.lit(1.0)
    )
    with pytest.raises(AnalysisError, match=why) as raised:
        analyze(log, metrics=[metric], control="A", treatments=["B"], unit="user", arm="variant")
    assert "\n" not in str(raised.value)


def with_segments(log: pl.DataFrame) -> pl.DataFrame:
    """Two unit-level segments, independent of the arm (user % 3): platform (ios / android) and
    country (de / fr / us)."""
    return log.with_columns(
        platform=pl.when(pl.col("user") % 2 == 0).then(pl.lit("ios")).otherwise(pl.lit("android")),
        country=(pl.col("user") // 3).mod(3).replace_strict({0: "de", 1: "fr", 2: "us"}),
    )


def test_three_arms_two_segments_a_guardrail():
    """The primary metric per segment value equals the analysis of that segment alone; Holm runs
    over segment values and treatments; a guardrail passes when its lower bound clears -margin
    and stays out of the primary/secondary Holm family."""
    from statsmodels.stats.multitest import multipletests

    log = with_segments(a_log(5, users=6000))
    metrics = [Metric.ratio("ctr", "clicks", "impressions"), Metric.mean("revenue", "revenue"),
               Metric.mean("impressions", "impressions")]  # fmt: skip
    result = analyze(log, metrics=metrics, control="A", treatments=["B", "C"], unit="user",
                     arm="variant", guardrails={"impressions": 0.2},
                     segments=["platform", "country"])  # fmt: skip
    overall = result.overall
    guard = overall.filter(pl.col("role") == "guardrail")
    assert guard.height == 2 and guard["p_holm"].null_count() == 2
    assert guard["passes"].to_list() == (guard["ci_low"] > -0.2).to_list()
    family = overall.filter(pl.col("role") != "guardrail")
    expected = multipletests(family["p_value"].to_numpy(), method="holm")[1]
    np.testing.assert_allclose(family["p_holm"].to_numpy(), expected, rtol=1e-12)
    segments = result.segments
    assert segments.height == (2 + 3) * 2
    np.testing.assert_allclose(
        segments["p_holm"].to_numpy(),
        multipletests(segments["p_value"].to_numpy(), method="holm")[1], rtol=1e-12,
    )  # fmt: skip
    fr = log.filter(pl.col("country") == "fr")
    alone = analyze(fr, metrics=metrics[:1], control="A", treatments=["C"], unit="user",
                    arm="variant").overall.row(0, named=True)  # fmt: skip
    mine = segments.filter((pl.col("value") == "fr") & (pl.col("treatment") == "C")).row(
        0, named=True
    )
    assert (mine["lift"], mine["se"]) == pytest.approx((alone["lift"], alone["se"]), rel=1e-12)
    assert 0 <= mine["srm_p_value"] <= 1


@pytest.mark.parametrize(
    "change, settings, why",
    [
        (None, {"guardrails": {"ctr": 0.01}}, "not one of the secondary"),
        (None, {"guardrails": {"revenue": 2.0}}, "margin must lie in"),
        (None, {"segments": ["browser"]}, "no such column"),
        (pl.col("day").cast(pl.String).alias("moving"), {"segments": ["moving"]}, "more than one"),
        (pl.when(pl.col("user") == 0).then(pl.lit("solo")).otherwise(pl.lit("many")).alias("tiny"),
         {"segments": ["tiny"]}, "fewer than 2 units"),
    ],
)  # fmt: skip
def test_bad_guardrails_and_segments_are_one_line(change, settings, why):
    log = a_log(6, users=400, arms="AB")
    if change is not None:
        log = log.with_columns(change)
    metrics = [Metric.ratio("ctr", "clicks", "impressions"), Metric.mean("revenue", "revenue")]
    with pytest.raises(AnalysisError, match=why) as raised:
        analyze(log, metrics=metrics, control="A", treatments=["B"], unit="user", arm="variant",
                **settings)  # fmt: skip
    assert "\n" not in str(raised.value)
