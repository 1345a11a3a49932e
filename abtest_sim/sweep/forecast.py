"""What a forecast's runs say together (``abtest-sim-forecast``): the launch effect over worlds, the
planned test's validity and power, and the size a test needs.

Input: one row per run of two kinds, each a replicate (its own seed, so its own world and split):

- ``test`` rows, the planned A/B test: per estimator ``e`` of the registry ``<e>_lift``,
  ``<e>_se`` (sampling only), ``<e>_launch`` (the launch effect in that estimator's own terms),
  ``<e>_target`` (what it converges to in that run: its own adjustment of the served truths);
  ``launch`` (the pooled launch effect: every user on a lineage of the recipe trained on every
  user, against the same for the control), ``launch_days`` (its per-day values), ``users``;
- ``aa`` rows, the planned design as an A/A (every arm trained as the control): ``<e>_lift``,
  ``<e>_se``, ``<e>_target``, ``users``.

Figures, each over independent replicates counted once:

- **launch effect**: mean over worlds, SD, 95% t-interval of the mean, the share of worlds where
  it is positive (Wilson), and the mean per-day curve;
- **lineage SD** of each estimator, from the A/As (mean(lift^2) - mean(se^2), bootstrap interval);
- **A/A false positives** of each estimator at ``alpha``: with the sampling interval alone, and
  with the lineage SD **estimated out of sample** (cross-fitted: the A/As in two halves by seed,
  each half's rejections counted with the SD measured on the other half); and how often the
  sampling interval holds the estimator's own test target (what it converges to in that run,
  the lineages' divergence included, so no lineage SD belongs in that interval);
- **the test's readout** (headline estimator): mean and SD over the A/B runs, its power (share of
  A/B runs whose interval, with the lineage SD of the A/As, excludes zero; Wilson), its
  test-to-launch bias (readout minus that run's launch effect, t-interval);
- **sizing**: users per arm for ``power`` at the forecast launch effect, from the A/As' sampling
  SE at their users (SE ~ 1 / sqrt(users)) plus the lineage SD, which does not shrink with users:
  no test detects an effect below ``z * lineage SD`` (the lineage floor).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats as scipy_stats

from abtest_sim.analysis.estimators import estimator_keys
from abtest_sim.stats.power import lineage_floor, power_from_se, users_from_reference, z_sum
from abtest_sim.stats.ratio import z_critical
from abtest_sim.sweep.validity import Rate, lineage_variance, rate

__all__ = ["EXTRAPOLATION", "Forecast", "Mean", "forecast"]

Row = Mapping[str, Any]
EXTRAPOLATION = 10.0  # sizes beyond this factor of the measured users per arm are extrapolated


@dataclass(frozen=True)
class Mean:
    """A mean over replicates with its SD and 95% t-interval (n: the replicates)."""

    mean: float
    sd: float
    low: float
    high: float
    n: int


def mean_of(values: Sequence[float]) -> Mean:
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if x.size == 0:
        return Mean(math.nan, math.nan, math.nan, math.nan, 0)
    if x.size == 1:
        return Mean(float(x[0]), math.nan, math.nan, math.nan, 1)
    sd = float(x.std(ddof=1))
    half = float(scipy_stats.t.ppf(0.975, x.size - 1)) * sd / math.sqrt(x.size)
    return Mean(float(x.mean()), sd, float(x.mean()) - half, float(x.mean()) + half, int(x.size))


@dataclass(frozen=True)
class EstimatorValidity:
    """One estimator on the A/As: its lineage SD and its false positives without and with it."""

    lineage_sd: float
    lineage_sd_low: float
    lineage_sd_high: float
    false_positives: Rate  # sampling interval alone
    false_positives_with_lineage: Rate  # lineage SD cross-fitted between the halves
    covers_target: Rate  # its sampling interval holds its own test target


@dataclass(frozen=True)
class Sizing:
    users_per_arm: int | None  # for the planned power at the forecast effect (None: unreachable)
    measured_users: float  # users per arm of the runs the SE was measured at
    lineage_floor: float  # the smallest lift any size detects with the planned power
    extrapolated: bool  # the size lies far outside the users measured
    power_at_design: float  # the planned design's power at the forecast effect


@dataclass(frozen=True)
class Forecast:
    headline: str
    alpha: float
    power_goal: float
    launch: Mean
    launch_positive: Rate
    launch_days: list[float]  # the mean launch effect on each A/B day
    validity: dict[str, EstimatorValidity]
    readout: Mean
    power: Rate  # share of the planned tests that detected the effect (with the lineage SD)
    bias: Mean  # readout minus the run's own launch effect, headline estimator
    sizing: Sizing
    worlds: int
    aa_runs: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("launch_positive", "power"):
            out[key]["value"] = getattr(self, key).value
        for name, validity in self.validity.items():
            for key in ("false_positives", "false_positives_with_lineage", "covers_target"):
                out["validity"][name][key]["value"] = getattr(validity, key).value
        return out


def _column(rows: Sequence[Row], name: str) -> np.ndarray:
    return np.array([np.nan if r.get(name) is None else r[name] for r in rows], dtype=np.float64)


def _rejects(lift: np.ndarray, se: np.ndarray, sd: float, alpha: float) -> np.ndarray:
    total = np.sqrt(se**2 + (sd if math.isfinite(sd) else 0.0) ** 2)
    return np.abs(lift) > z_critical(alpha) * total


def estimator_validity(aa: Sequence[Row], name: str, alpha: float) -> EstimatorValidity:
    """Lineage SD on every A/A; false positives cross-fitted between the halves by seed."""
    lift, se = _column(aa, f"{name}_lift"), _column(aa, f"{name}_se")
    seeds = np.array([int(r["seed"]) for r in aa])
    keep = np.isfinite(lift) & np.isfinite(se)
    lift, se, seeds = lift[keep], se[keep], seeds[keep]
    whole = lineage_variance(lift, se)
    target = _column(aa, f"{name}_target")[keep]
    crossed = np.zeros(lift.size, dtype=bool)
    for half in (0, 1):
        here, other = seeds % 2 == half, seeds % 2 != half
        sd = lineage_variance(lift[other], se[other]).sd if other.sum() >= 2 else math.nan
        crossed[here] = _rejects(lift[here], se[here], sd, alpha)
    return EstimatorValidity(
        lineage_sd=whole.sd,
        lineage_sd_low=math.sqrt(max(whole.low, 0.0)) if math.isfinite(whole.low) else math.nan,
        lineage_sd_high=math.sqrt(max(whole.high, 0.0)) if math.isfinite(whole.high) else math.nan,
        false_positives=rate(_rejects(lift, se, math.nan, alpha)),
        false_positives_with_lineage=rate(crossed),
        covers_target=rate(~_rejects(lift - target, se, math.nan, alpha)[np.isfinite(target)]),
    )


def forecast(
    test: Sequence[Row], aa: Sequence[Row], *, headline: str, alpha: float, power: float
) -> Forecast:
    """The forecast of the runs (see the module's docstring)."""
    validity = {name: estimator_validity(aa, name, alpha) for name in estimator_keys()}
    validity = {k: v for k, v in validity.items() if v.false_positives.trials}
    launch = mean_of([r["launch"] for r in test])
    sd = validity[headline].lineage_sd if headline in validity else math.nan
    lift, se = _column(test, f"{headline}_lift"), _column(test, f"{headline}_se")
    detected = _rejects(lift, se, sd, alpha)[np.isfinite(lift) & np.isfinite(se)]
    bias = [
        r[f"{headline}_lift"] - r[f"{headline}_launch"]
        for r in test
        if r.get(f"{headline}_lift") is not None and r.get(f"{headline}_launch") is not None
    ]
    return Forecast(
        headline=headline,
        alpha=alpha,
        power_goal=power,
        launch=launch,
        launch_positive=rate(np.array([r["launch"] > 0 for r in test if r["launch"] is not None])),
        launch_days=_mean_days([r["launch_days"] for r in test]),
        validity=validity,
        readout=mean_of(list(lift)),
        power=rate(detected),
        bias=mean_of(bias),
        sizing=sizing(aa, headline, launch.mean, sd, alpha=alpha, power=power),
        worlds=len(test),
        aa_runs=len(aa),
    )


def _mean_days(curves: Sequence[Sequence[float | None]]) -> list[float]:
    if not curves:
        return []
    width = min(len(c) for c in curves)
    values = np.array([[np.nan if v is None else v for v in c[:width]] for c in curves])
    return [float(v) for v in np.nanmean(values, axis=0)] if values.size else []


def sizing(
    aa: Sequence[Row],
    headline: str,
    effect: float,
    lineage_sd: float,
    *,
    alpha: float,
    power: float,
) -> Sizing:
    """Users per arm for ``power`` at ``effect``, from the A/As' sampling SE at their users."""
    se = _column(aa, f"{headline}_se")
    users = _column(aa, "users")
    keep = np.isfinite(se) & np.isfinite(users)
    sd = lineage_sd if math.isfinite(lineage_sd) else 0.0
    z, floor = z_sum(alpha, power), lineage_floor(sd, alpha=alpha, power=power)
    if not keep.any() or not math.isfinite(effect) or effect == 0:
        return Sizing(None, math.nan, floor, False, math.nan)
    se_ref = float(np.sqrt(np.mean(se[keep] ** 2)))
    n_ref = float(np.mean(users[keep]))
    needed = users_from_reference(n_ref, se_ref, lift=abs(effect), z=z, lineage_sd=sd)
    far = needed is None or not (n_ref / EXTRAPOLATION <= needed <= n_ref * EXTRAPOLATION)
    at_design = power_from_se(effect, math.hypot(se_ref, sd), alpha=alpha)
    return Sizing(needed, n_ref, floor, far and needed is not None, at_design)
