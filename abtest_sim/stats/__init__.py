"""Statistics for A/B tests of ratio metrics (CTR) with users as the unit of randomisation.

Inputs are typed per-user sums: ``UnitTotals`` (one arm, one period: num = clicks, den =
impressions), ``PrePost`` (the same users over a test period and its pre-period) and
``RatioPanel`` (one arm over several days, from ``ratio_panel``); results are small frozen
dataclasses. Only numpy, scipy and statsmodels: no torch, nothing from the simulator.
"""

from abtest_sim.stats.checks import SrmResult, srm_test
from abtest_sim.stats.cuped import CupedArms, cuped_arms, cuped_panels, cuped_relative_lift
from abtest_sim.stats.daily import (
    DailyLifts,
    ab_minus_aa_lift,
    adjust_p_values,
    average_lift,
    daily_lifts,
    shared_control_lift,
    shared_control_of,
)
from abtest_sim.stats.influence import (
    Linearized,
    RatioPanel,
    WaldColumns,
    chain,
    ratio_panel,
    relative_lift_of,
)
from abtest_sim.stats.power import (
    PerUserVariance,
    lift_standard_error,
    minimum_detectable_lift,
    minimum_detectable_lift_from_se,
    per_user_variance,
    power_from_se,
    power_of_lift,
    users_from_reference,
    users_per_arm,
    z_sum,
)
from abtest_sim.stats.ratio import (
    ArmEstimate,
    DifferenceResult,
    LiftResult,
    RatioStats,
    absolute_difference,
    compare_relative,
    fieller_bounds,
    relative_lift,
)
from abtest_sim.stats.synthetic import SyntheticCtr
from abtest_sim.stats.units import PrePost, UnitTotals

__all__ = [
    "ArmEstimate",
    "CupedArms",
    "DailyLifts",
    "DifferenceResult",
    "LiftResult",
    "Linearized",
    "PerUserVariance",
    "PrePost",
    "RatioPanel",
    "RatioStats",
    "SrmResult",
    "SyntheticCtr",
    "UnitTotals",
    "WaldColumns",
    "ab_minus_aa_lift",
    "absolute_difference",
    "adjust_p_values",
    "average_lift",
    "chain",
    "compare_relative",
    "cuped_arms",
    "cuped_panels",
    "cuped_relative_lift",
    "daily_lifts",
    "fieller_bounds",
    "lift_standard_error",
    "minimum_detectable_lift",
    "minimum_detectable_lift_from_se",
    "per_user_variance",
    "power_from_se",
    "power_of_lift",
    "ratio_panel",
    "relative_lift",
    "relative_lift_of",
    "shared_control_lift",
    "shared_control_of",
    "srm_test",
    "users_from_reference",
    "users_per_arm",
    "z_sum",
]
