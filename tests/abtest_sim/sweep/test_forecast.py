"""The forecast's statistics against independent computations (scipy, statsmodels, closed forms),
on rows made up here: each figure is a function of the replicates it names, counted once."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from abtest_sim.stats.power import power_from_se
from abtest_sim.sweep.forecast import estimator_validity, forecast, mean_of

KEYS = ("pooled", "mean_daily", "ab_minus_aa", "cuped")


def aa_rows(n: int, *, lineage: float, se: float, seed: int = 0) -> list[dict]:
    """A/A replicates of a design whose estimates carry an arm-level lineage component."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n):
        row = {"seed": s, "users": 1000.0, "headline": "cuped"}
        for key in KEYS:
            row[f"{key}_lift"] = float(rng.normal(0, math.hypot(se, lineage)))
            row[f"{key}_se"] = se
        rows.append(row)
    return rows


def test_mean_of_is_the_t_interval_of_the_mean():
    x = [0.01, 0.03, -0.02, 0.05, 0.02]
    m = mean_of(x)
    low, high = stats.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=stats.sem(x))
    assert (m.mean, m.sd, m.n) == pytest.approx((np.mean(x), np.std(x, ddof=1), 5))
    assert (m.low, m.high) == pytest.approx((low, high))
    assert mean_of([None, 0.1]).n == 1 and math.isnan(mean_of([]).mean)  # type: ignore[list-item]


def test_false_positives_are_cross_fitted_and_restore_the_level():
    """With a lineage component the sampling interval rejects far too often; with the SD measured
    on the other half of the A/As the rate comes back near alpha (out of sample)."""
    rows = aa_rows(400, lineage=0.02, se=0.01)
    v = estimator_validity(rows, "cuped", 0.05)
    lift = np.array([r["cuped_lift"] for r in rows])
    naive = int((np.abs(lift) > 1.959964 * 0.01).sum())
    assert v.false_positives.successes == naive and v.false_positives.trials == 400
    assert (v.false_positives.low, v.false_positives.high) == pytest.approx(
        proportion_confint(naive, 400, method="wilson")
    )
    assert v.false_positives.value > 0.3  # the lineage noise the interval misses
    assert 0.02 < v.false_positives_with_lineage.value < 0.09
    assert v.lineage_sd == pytest.approx(0.02, rel=0.15)
    even = lift[::2]  # seeds 0, 2, ...: the SD the odd half is judged with
    sd_even = math.sqrt(max(np.mean(even**2) - 0.01**2, 0))
    odd_rejects = int((np.abs(lift[1::2]) > 1.959964 * math.hypot(0.01, sd_even)).sum())
    assert v.false_positives_with_lineage.successes >= odd_rejects  # the odd half's share


def test_power_bias_and_sizing_follow_from_the_runs():
    aa = aa_rows(60, lineage=0.0, se=0.01, seed=1)
    rng = np.random.default_rng(2)
    test = []
    for s in range(30):
        launch = 0.03 + rng.normal(0, 0.002)
        row = {"seed": s, "users": 1000.0, "headline": "cuped", "launch": launch,
               "launch_days": [launch, launch]}  # fmt: skip
        for key in KEYS:
            row |= {f"{key}_lift": launch + rng.normal(0, 0.01), f"{key}_se": 0.01,
                    f"{key}_launch": launch}  # fmt: skip
        test.append(row)
    f = forecast(test, aa, headline="cuped", alpha=0.05, power=0.8)
    lifts = np.array([r["cuped_lift"] for r in test])
    total = math.hypot(0.01, f.validity["cuped"].lineage_sd)
    assert f.power.successes == int((np.abs(lifts) > 1.959964 * total).sum())
    assert f.bias.mean == pytest.approx(np.mean([r["cuped_lift"] - r["launch"] for r in test]))
    assert f.launch.mean == pytest.approx(np.mean([r["launch"] for r in test]))
    assert f.launch_positive.successes == 30 and f.launch_days == pytest.approx([f.launch.mean] * 2)
    # sizing: SE ~ 1/sqrt(n) from 1000 users at SE 0.01 plus the lineage SD, for 80% power
    sd = f.validity["cuped"].lineage_sd
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    needed = 1000 * 0.01**2 * (1 + f.launch.mean) ** 2 / ((f.launch.mean / z) ** 2 - sd**2)
    assert f.sizing.users_per_arm == math.ceil(needed)
    assert f.sizing.lineage_floor == pytest.approx(z * sd)
    assert f.sizing.power_at_design == pytest.approx(
        power_from_se(f.launch.mean, math.hypot(0.01, sd))
    )


def test_a_lineage_floor_above_the_effect_makes_any_size_unreachable():
    aa = aa_rows(200, lineage=0.05, se=0.01, seed=3)
    test = [{"seed": 0, "launch": 0.01, "launch_days": [0.01], "cuped_lift": 0.01,
             "cuped_se": 0.01, "cuped_launch": 0.01, "users": 1000.0}]  # fmt: skip
    f = forecast(test, aa, headline="cuped", alpha=0.05, power=0.8)
    assert f.sizing.users_per_arm is None and f.sizing.lineage_floor > 0.01


def test_the_sampling_interval_is_scored_against_the_estimators_own_target():
    """The target carries the lineages' divergence (SD 2%), the estimate adds sampling noise (SE
    1%) to it: the sampling interval covers the target at its nominal rate, counted exactly."""
    rng = np.random.default_rng(5)
    rows = []
    for s in range(400):
        target = float(rng.normal(0, 0.02))
        rows.append({"seed": s, "users": 1000.0, "cuped_se": 0.01, "cuped_target": target,
                     "cuped_lift": target + float(rng.normal(0, 0.01))})  # fmt: skip
    v = estimator_validity(rows, "cuped", 0.05)
    misses = sum(abs(r["cuped_lift"] - r["cuped_target"]) > 1.959964 * 0.01 for r in rows)
    assert v.covers_target.trials == 400 and v.covers_target.successes == 400 - misses
    assert v.covers_target.low < 0.95 < v.covers_target.high
    assert v.false_positives.value > 0.3  # the same interval around zero misses the divergence
