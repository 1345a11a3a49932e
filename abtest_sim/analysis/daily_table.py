"""The numbers of daily.csv (**contract**): per day and compared pair, the Table-3 row.

Every estimate of a pair is a linear contrast of its daily lifts, or of CUPED-adjusted or
shared-control lifts, and all share per-user influence functions, so an "Average" row (the mean over
a phase's days) and "A/B minus A/A" (minus the mean lift of the pre-period days on the same users)
carry the cross-day covariance. Rows: each day of the log in order, then one "Average" row per phase
present ("aa" then "ab"); the last row of a pair is always its A/B Average.

Each registered estimator (``abtest_sim.analysis.estimators``) fills its own columns; this module
fills the counts, the truths, the checks of the day's lift and the shared-control block.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import polars as pl

from abtest_sim.analysis.daily_columns import (
    AVERAGE,
    Columns,
    frame,
    wald_names,
)
from abtest_sim.analysis.estimator_base import AbRows, PairData
from abtest_sim.analysis.estimators import (
    daily_column_names,
    estimators,
    kept_on_undefined_days,
)
from abtest_sim.analysis.series import served_totals
from abtest_sim.analysis.so_far import pair_data, so_far_of
from abtest_sim.analysis.unit_days import (
    ArmLog,
    Design,
    ReportInputError,
    build_arm_logs,
    prepare_unit_days,
    undefined_day_reasons,
    with_defined_days,
)
from abtest_sim.stats.checks import srm_test
from abtest_sim.stats.daily import adjust_p_values, shared_control_of
from abtest_sim.stats.influence import relative_lift_of
from abtest_sim.stats.lift_floor import FLOOR
from abtest_sim.stats.ratio import ArmEstimate, compare_relative, two_sided_p


def _phase_totals(design: Design, per_day: np.ndarray) -> np.ndarray:
    phases = np.array([design.mask(p) for p in design.average_phases], dtype=np.float64)
    return phases @ per_day


def _put_counts(cols: Columns, role: str, log: ArmLog) -> None:
    design = cols.design
    phase_users = [log.users(design.mask(p)) for p in design.average_phases]
    cols.put(f"users_{role}", log.present.sum(axis=1), phase_users)
    clicks, impressions = log.clicks.sum(axis=1), log.impressions.sum(axis=1)
    cols.put(f"impressions_{role}", impressions, _phase_totals(design, impressions))
    cols.put(f"clicks_{role}", clicks, _phase_totals(design, clicks))
    with np.errstate(divide="ignore", invalid="ignore"):  # a day the arm has no impression: NaN
        ctr = cols.values[f"clicks_{role}"] / cols.values[f"impressions_{role}"]
    cols.values[f"ctr_{role}"] = ctr


def _basic(cols: Columns, a: ArmLog, b: ArmLog) -> None:
    design = cols.design
    average_labels = [AVERAGE] * len(design.average_phases)
    cols.values["day"] = np.array([*design.labels, *average_labels], dtype=object)
    cols.values["phase"] = np.array(design.row_phases, dtype=object)
    cols.values["control"] = np.full(cols.n_rows, a.name, dtype=object)
    cols.values["treatment"] = np.full(cols.n_rows, b.name, dtype=object)
    for role, log in (("control", a), ("treatment", b)):
        _put_counts(cols, role, log)


def _truth(cols: Columns, a: ArmLog, b: ArmLog) -> None:
    """The two truths of a simulation, each per day and as the phase's mean of daily lifts (the
    Average row estimates a mean of daily lifts):

    - target: the expected CTR of what each arm served its own users (its lineage, trained on its
      own users): what the test's estimator converges to, an unbiased proxy of its expectation
      over the random split;
    - launch: the expected CTR of each arm's launch lineage, serving and trained on every user:
      the effect of shipping the recipe.
    """
    for truth, totals in (
        ("target", (served_totals(a), served_totals(b))),
        ("launch", (a.launch_totals, b.launch_totals)),
    ):
        _put_truth(cols, truth, *totals)
    target, launch = cols.values["target_lift"], cols.values["launch_lift"]
    cols.values["test_to_launch_bias"] = target - launch


def _put_truth(
    cols: Columns,
    truth: str,
    control: tuple[np.ndarray, np.ndarray] | None,
    treatment: tuple[np.ndarray, np.ndarray] | None,
) -> None:
    names = (f"{truth}_ctr_control", f"{truth}_ctr_treatment", f"{truth}_lift", f"covers_{truth}")
    if control is None or treatment is None:
        cols.empty(*names)
        return
    design = cols.design
    true_ctr = {}
    with np.errstate(divide="ignore", invalid="ignore"):  # a day without impressions: NaN
        for role, (clicks, impressions) in (("control", control), ("treatment", treatment)):
            true_ctr[role] = clicks / impressions
            phase_ctr = _phase_totals(design, clicks) / _phase_totals(design, impressions)
            cols.put(f"{truth}_ctr_{role}", true_ctr[role], phase_ctr)
        lift = true_ctr["treatment"] / true_ctr["control"] - 1.0
    cols.put(f"{truth}_lift", lift, design.average_weights() @ np.where(design.undefined, 0, lift))
    value, low, high = (cols.values[n] for n in (f"{truth}_lift", "ci_low", "ci_high"))
    cols.values[f"covers_{truth}"] = ((low <= value) & (value <= high)).astype(np.float64)


def _adjusted(cols: Columns) -> None:
    """Holm and BH adjustments of the daily p-values, one family of tests per phase."""
    design = cols.design
    methods: tuple[tuple[str, Literal["holm", "bh"]], ...] = (
        ("p_value_holm", "holm"),
        ("p_value_bh", "bh"),
    )
    for name, method in methods:
        adjusted = np.full(design.n_days, np.nan)
        for phase in design.average_phases:  # one family of tests per phase
            days = design.defined_mask(phase)
            adjusted[days] = adjust_p_values(cols.values["p_value"][: design.n_days][days], method)
        cols.put(name, adjusted)


def _naive(cols: Columns, a: ArmLog, b: ArmLog) -> None:
    with np.errstate(divide="ignore", invalid="ignore"):
        r_a, r_b = (log.clicks.sum(1) / log.impressions.sum(1) for log in (a, b))
        var_a, var_b = (r * (1 - r) / log.impressions.sum(1) for r, log in ((r_a, a), (r_b, b)))
        # Impressions as independent, within and across days: no covariance anywhere.
        daily_var = var_b / r_a**2 + r_b**2 * var_a / r_a**4
    daily_var = np.where(cols.design.undefined, 0.0, daily_var)
    naive_var = np.concatenate([daily_var, cols.design.average_weights() ** 2 @ daily_var])
    with np.errstate(divide="ignore", invalid="ignore"):  # undefined days: blanked later
        cols.values["naive_p_value"] = np.asarray(
            two_sided_p(cols.values["lift"] / np.sqrt(naive_var))
        )
        cols.values["design_effect"] = cols.values["se"] ** 2 / naive_var


def _other_intervals(cols: Columns, a: ArmLog, b: ArmLog, alpha: float) -> None:
    """Log-ratio and Fieller intervals per day, to show how far the choice of interval matters
    (a Fieller bound below -100%, e.g. an unbounded set, is clipped there)."""
    panel_a, panel_b = a.panel(), b.panel()
    var_a, var_b = (np.einsum("di,di->d", p.influence, p.influence) for p in (panel_a, panel_b))
    out = {
        f"{m}_{s}": np.full(cols.design.n_days, np.nan)
        for m in ("log", "fieller")
        for s in ("ci_low", "ci_high", "p_value")
    }
    for d in np.flatnonzero(~cols.design.undefined):  # a loop over days: scalar comparisons
        arm_a = ArmEstimate(float(panel_a.ratio[d]), float(var_a[d]))
        arm_b = ArmEstimate(float(panel_b.ratio[d]), float(var_b[d]))
        for method in ("log", "fieller") if arm_b.ratio > 0 else ("fieller",):
            result = compare_relative(arm_a, arm_b, alpha=alpha, method=method)
            out[f"{method}_ci_low"][d] = result.ci_low
            out[f"{method}_ci_high"][d] = result.ci_high
            out[f"{method}_p_value"][d] = result.p_value
    out["fieller_ci_low"] = np.maximum(out["fieller_ci_low"], FLOOR)  # unbounded: -inf
    for name, values in out.items():
        cols.put(name, values)


def _srm(cols: Columns, logs: Sequence[ArmLog], shares: np.ndarray | None) -> None:
    design = cols.design
    daily = [
        srm_test([log.present[d].sum() for log in logs], shares).p_value
        for d in range(design.n_days)
    ]
    per_phase = [
        srm_test([log.users(design.mask(p)) for log in logs], shares).p_value
        for p in design.average_phases
    ]
    cols.put("srm_p_value", daily, per_phase)


def _shared_control(
    cols: Columns,
    logs: Mapping[str, ArmLog],
    pair: tuple[str, str],
    aa_control: str | None,
    alpha: float,
) -> None:
    if aa_control is None:
        cols.values["aa_control"] = np.full(cols.n_rows, None, dtype=object)
        cols.empty("concurrent_aa_lift", *wald_names("shared_control", "shared_control_lift"))
        return
    control, treatment = pair
    a1, a2, b = (
        logs[n].panel().linearized(logs[n].group) for n in (control, aa_control, treatment)
    )
    undefined = cols.design.undefined
    with np.errstate(divide="ignore", invalid="ignore"):
        d = cols.with_averages(shared_control_of(a1, a2, b).without(undefined))
        concurrent = cols.with_averages(relative_lift_of(a1, a2).without(undefined))
    names = wald_names("shared_control", "shared_control_lift")
    cols.put_wald(d, alpha, np.arange(cols.n_rows), names)
    cols.values["concurrent_aa_lift"] = concurrent.value
    cols.values["aa_control"] = np.full(cols.n_rows, aa_control, dtype=object)


@dataclass(frozen=True)
class DailyTable:
    """daily.csv (all pairs), the treatment pair's rows, and the inputs behind them."""

    frame: pl.DataFrame
    main: pl.DataFrame
    logs: dict[str, ArmLog]
    design: Design
    shares: np.ndarray | None
    undefined_days: dict[str, str]  # day label -> why its lift is undefined
    pair: PairData  # what the treatment pair's estimators were computed from

    @property
    def pooled_so_far(self) -> pl.DataFrame:
        """The treatment pair's lift of the CTR pooled over the A/B days so far, with its bands
        (daily.csv's pooled columns; cumulative.csv when the pooled lift is the headline)."""
        return self.pair.pooled_so_far

    def so_far(self, key: str, lineage_sd: float | None = None) -> pl.DataFrame | None:
        """The treatment pair's lift after each A/B day by the estimator ``key``, with its bands
        (cumulative.csv; ``abtest_sim.analysis.so_far.so_far_of``)."""
        return so_far_of(key, self.pair, self.main.head(self.design.n_days), lineage_sd)

    @property
    def ab_average(self) -> dict[str, Any]:
        """The treatment pair's A/B Average row."""
        return self.main.row(self.main.height - 1, named=True)

    @property
    def aa_average(self) -> dict[str, Any] | None:
        """The treatment pair's A/A Average row (None without a pre-period)."""
        rows = self.main.filter((pl.col("day") == AVERAGE) & (pl.col("phase") == "aa"))
        return rows.row(0, named=True) if rows.height else None

    @property
    def ab_rows(self) -> AbRows:
        """What the estimators read their A/B lifts from."""
        pooled = self.pooled_so_far.row(self.pooled_so_far.height - 1, named=True)
        return AbRows(ab=self.ab_average, aa=self.aa_average, pooled=pooled)


def daily_table(
    unit_days: pl.DataFrame,
    *,
    control: str,
    treatment: str,
    aa_control: str | None = None,
    alpha: float = 0.05,
    shares: Mapping[str, float] | None = None,
    launch_truth: pl.DataFrame | None = None,
    paired: bool = False,
    cs_rho: float | None = None,
    counts: bool = True,
) -> DailyTable:
    """Validate a per-(unit, arm, day) table and compute daily.csv.

    Pairs: (control, treatment), then (control, aa_control) when a concurrent second control is
    given; the treatment pair's rows then also carry the shared-control A/B minus A/A.
    ``launch_truth`` (columns day, arm, true_clicks, impressions): each arm's launch lineage, a
    simulator's lineage of the arm's recipe serving and trained on every user (the launch effect).
    ``paired``: every unit is in every arm (a simulator's parallel worlds): the arms' estimates
    are correlated through the shared units, and with a truth each arm is its own launch lineage.
    ``cs_rho``: the tuning of the cumulative lift's confidence sequence (None: tightest on the
    last day; ``abtest_sim.stats.sequential``). ``counts``: clicks and impressions are counts;
    else any metric's numerator and denominator (``abtest_sim.analysis.metrics``).
    """
    if not 0.0 < alpha < 1.0:
        raise ReportInputError(f"alpha must lie in (0, 1), got {alpha}")
    arms = [str(control), str(treatment), *([] if aa_control is None else [str(aa_control)])]
    share_vector = _share_vector(shares, arms)
    table, design = prepare_unit_days(unit_days, arms, paired=paired, counts=counts)
    logs = build_arm_logs(table, design, arms, paired=paired)
    undefined = undefined_day_reasons([logs[arm] for arm in arms], design)
    design = with_defined_days(design, undefined)
    if launch_truth is not None:
        logs = _with_launch_truth(logs, design, launch_truth)
    elif paired:
        logs = {name: replace(log, launch_totals=served_totals(log)) for name, log in logs.items()}
    main, pair = analyse_pair(
        logs,
        design,
        (arms[0], arms[1]),
        aa_control=arms[2] if aa_control else None,
        alpha=alpha,
        shares=share_vector,
        cs_rho=cs_rho,
    )
    frames = [main]
    if aa_control is not None:
        second = analyse_pair(
            logs, design, (arms[0], arms[2]), aa_control=None, alpha=alpha, shares=share_vector,
            cs_rho=cs_rho,
        )  # fmt: skip
        frames.append(second[0])
    return DailyTable(pl.concat(frames), main, logs, design, share_vector, undefined, pair)


def _with_launch_truth(
    logs: dict[str, ArmLog], design: Design, truth: pl.DataFrame
) -> dict[str, ArmLog]:
    out = {}
    for name, log in logs.items():
        rows = truth.filter(pl.col("arm") == name).with_columns(pl.col("day").cast(pl.String))
        by_day = dict(
            zip(
                rows["day"].to_list(), rows.select("true_clicks", "impressions").rows(), strict=True
            )
        )
        missing = [day for day in design.labels if day not in by_day]
        if missing:
            raise ReportInputError(f"launch truth has no row for arm {name!r} on day {missing[0]}")
        clicks, impressions = (
            np.array([by_day[d][i] for d in design.labels], dtype=np.float64) for i in (0, 1)
        )
        out[name] = replace(log, launch_totals=(clicks, impressions))
    return out


def _share_vector(shares: Mapping[str, float] | None, arms: Sequence[str]) -> np.ndarray | None:
    if shares is None:
        return None
    missing = [arm for arm in arms if arm not in shares]
    if missing:
        raise ReportInputError(f"shares has no entry for arm(s) {', '.join(missing)}")
    vector = np.array([float(shares[arm]) for arm in arms])
    if (vector <= 0).any():
        raise ReportInputError("shares must be positive")
    return vector


def analyse_pair(
    logs: Mapping[str, ArmLog],
    design: Design,
    pair: tuple[str, str],
    *,
    aa_control: str | None,
    alpha: float,
    shares: np.ndarray | None,
    cs_rho: float | None = None,
) -> tuple[pl.DataFrame, PairData]:
    """daily.csv rows of one (control, treatment) pair and what its estimators read."""
    a, b = logs[pair[0]], logs[pair[1]]
    cols = Columns(design)
    _basic(cols, a, b)
    data = pair_data(a, b, design, alpha=alpha, cs_rho=cs_rho)
    for each in estimators():  # the day's lift (mean_daily) before the checks that read it
        each.fill(cols, data)
    _adjusted(cols)
    _truth(cols, a, b)
    _naive(cols, a, b)
    _other_intervals(cols, a, b, alpha)
    _srm(cols, list(logs.values()), shares)
    _shared_control(cols, logs, pair, aa_control, alpha)
    cols.blank_undefined_days(keep=kept_on_undefined_days())
    return frame(cols.values, daily_column_names()), data
