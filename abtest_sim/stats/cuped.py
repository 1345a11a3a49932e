"""CUPED for a ratio metric: a pre-period of the same users as a control variate.

Each user's post- and pre-period CTR is linearised, u_i = R + (C_i - R M_i) / Mbar and
v_i = R' + (C'_i - R' M'_i) / Mbar' (Deng et al., 2018). A pooled within-arm slope
theta = sum (u - u_bar)(v - v_bar) / sum (v - v_bar)^2 adjusts each arm's ratio,

    R_adj = R - theta * (R' - R'_pooled),

and the adjusted per-user influence u - theta v feeds the same delta formulas as the plain ratio.
theta and the pooled pre-period ratio are treated as constants (their noise is second order), which
is what makes ``R_adj_B - R_adj_A`` equal the arm coefficient of the regression u ~ arm + v.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from abtest_sim.stats.influence import (
    Linearized,
    RatioPanel,
    chain,
    ratio_panel,
    relative_lift_of,
)
from abtest_sim.stats.ratio import LiftResult, normal_lift
from abtest_sim.stats.units import PrePost


@dataclass(frozen=True)
class CupedArms:
    """CUPED-adjusted ratios of two arms per period, with the slope used for each period."""

    control: Linearized
    treatment: Linearized
    theta: np.ndarray

    def relative_lift(self) -> Linearized:
        return relative_lift_of(self.control, self.treatment)


def pooled_theta(post: tuple[RatioPanel, ...], pre: tuple[RatioPanel, ...]) -> np.ndarray:
    """Per-period regression slope of the post on the pre linearised metric, pooled within arms."""
    pairs = zip(post, pre, strict=True)
    cross = sum(np.einsum("di,di->d", u.deviation, v.deviation) for u, v in pairs)
    spread = sum(np.einsum("di,di->d", v.deviation, v.deviation) for v in pre)
    # No pre-period spread (e.g. nobody was active before): nothing to adjust with.
    return np.divide(cross, spread, out=np.zeros_like(spread), where=spread > 0)


def cuped_panels(
    control_post: RatioPanel,
    control_pre: RatioPanel,
    treatment_post: RatioPanel,
    treatment_pre: RatioPanel,
    *,
    groups: tuple[str, str] = ("control", "treatment"),
) -> CupedArms:
    """CUPED-adjusted ratios; each pre panel must cover the same users as its post panel."""
    for post, pre in ((control_post, control_pre), (treatment_post, treatment_pre)):
        if post.deviation.shape != pre.deviation.shape or not np.array_equal(post.users, pre.users):
            raise ValueError("a pre-period panel must cover the same users as its post panel")
    theta = pooled_theta((control_post, treatment_post), (control_pre, treatment_pre))
    pre_pooled = (
        control_pre.ratio * control_pre.sum_den + treatment_pre.ratio * treatment_pre.sum_den
    ) / (control_pre.sum_den + treatment_pre.sum_den)

    def adjust(post: RatioPanel, pre: RatioPanel, group: str) -> Linearized:
        value = post.ratio - theta * (pre.ratio - pre_pooled)
        return chain(value, [(1.0, post.linearized(group)), (-theta, pre.linearized(group))])

    return CupedArms(
        control=adjust(control_post, control_pre, groups[0]),
        treatment=adjust(treatment_post, treatment_pre, groups[1]),
        theta=theta,
    )


def cuped_arms(control: PrePost, treatment: PrePost) -> CupedArms:
    """CUPED-adjusted ratios of two arms, each given over one test period and its pre-period."""
    post_a, pre_a, post_b, pre_b = (
        ratio_panel(*totals.as_panel_rows())
        for totals in (control.post, control.pre, treatment.post, treatment.pre)
    )
    return cuped_panels(post_a, pre_a, post_b, pre_b)


def cuped_relative_lift(control: PrePost, treatment: PrePost, *, alpha: float = 0.05) -> LiftResult:
    """CUPED-adjusted relative lift R_adj_B / R_adj_A - 1 with a delta-method Wald interval."""
    arms = cuped_arms(control, treatment)
    lift = arms.relative_lift()
    return normal_lift(
        float(lift.value[0]),
        float(lift.se()[0]),
        alpha=alpha,
        method="cuped",
        ratios=(float(arms.control.value[0]), float(arms.treatment.value[0])),
    )
