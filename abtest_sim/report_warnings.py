"""The plain-words warnings that lead a report: a broken split, a significant A/A, noise the
interval does not hold, days without a lift, a model that diverged."""

from __future__ import annotations

from collections.abc import Mapping

from abtest_sim.estimates import Estimate
from abtest_sim.stats import LiftResult

__all__ = ["SRM_ALARM", "diverged_warning", "headline_warnings"]

SRM_ALARM = 1e-3  # an SRM p-value below this means the split itself is broken


def headline_warnings(
    lead: Estimate,
    aa_lift: LiftResult | None,
    srm_p: float,
    alpha: float,
    undefined_days: Mapping[str, str],
) -> list[str]:
    """Warnings that belong in the headline, most serious first."""
    out = []
    if srm_p < SRM_ALARM:
        out.append(
            f"Sample ratio mismatch (p = {srm_p:.2g}): the arms' user counts are not the designed "
            "split, so the assignment or the logging is broken; do not trust any lift."
        )
    if aa_lift is not None and aa_lift.p_value < alpha:
        out.append(
            f"The A/A pre-period is itself significant ({100 * aa_lift.lift:+.2f}%, p = "
            f"{aa_lift.p_value:.2g}): the buckets differed before the treatment (chance, or "
            "model-lineage divergence). Read the A/B - A/A or CUPED estimate, not the raw lift."
        )
    if lead.lineage_sd is None:
        out.append(
            "The interval holds the noise of which users landed where and of their clicks, not "
            "model-lineage variance (models trained on different users diverge); set "
            "stats.lineage_sd from an A/A sweep (abtest-sim-aggregate) to include it."
        )
    if undefined_days:
        days = "; ".join(f"day {day}: {why}" for day, why in undefined_days.items())
        out.append(
            f"The lift is undefined on {len(undefined_days)} day(s) ({days}); those days are "
            "blank in daily.csv and left out of the daily means (pooled lifts keep their data)."
        )
    return out


def diverged_warning(diverged: Mapping[str, str]) -> str:
    arms = "; ".join(f"{arm}: {why}" for arm, why in diverged.items())
    return (
        f"A model diverged ({arms}): its predictions are not a ranking, and no lift of this run "
        "means anything about the recipe; lower the learning rate or check the training data."
    )
