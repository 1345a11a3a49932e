"""The report's options (``conf/stats``): unknown keys and values are errors naming them; the
headline estimator, a configured lineage component, and the A/A week's identity."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from abtest_sim.analysis.options import AUTO_WITH_PRE_PERIOD, ReportOptions
from abtest_sim.report.writer import Arms, ReportInput, write_report
from abtest_sim.stats import SyntheticCtr
from abtest_sim.stats.synthetic import synthetic_unit_days


def unit_days() -> pl.DataFrame:
    """Two arms over 2 A/A and 4 A/B days, the treatment 6% better in the A/B phase."""
    return synthetic_unit_days(
        np.random.default_rng(0), lifts={"A": 0.0, "B": 0.06}, users=500, days=6, aa_days=2,
        population=SyntheticCtr(mean_impressions=6),
    ).drop("true_clicks")  # fmt: skip


def test_unknown_stats_options_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown key"):
        ReportOptions.from_mapping({"alhpa": 0.1})
    with pytest.raises(ValueError, match="unknown estimator"):
        ReportOptions.from_mapping({"lineage_sd": {"raw": 0.01}})
    with pytest.raises(ValueError, match="headline"):
        ReportOptions.from_mapping({"headline": "best"})


def test_headline_leads_with_the_calibrated_estimator_and_warns(tmp_path) -> None:
    table = unit_days()
    summary = write_report(ReportInput(table, Arms("A", "B")), tmp_path)
    assert summary.headline == AUTO_WITH_PRE_PERIOD
    text = (tmp_path / "report" / "report.md").read_text()
    lead = summary.estimates[summary.headline]
    assert f"\n{lead.label[0].upper()}{lead.label[1:]} of `B` over `A`: " in text
    assert "not model-lineage variance" in text  # no lineage_sd configured: said plainly
    # A configured lineage component widens the interval and the warning goes.
    options = ReportOptions(lineage_sd={AUTO_WITH_PRE_PERIOD: 0.02})
    widened = write_report(ReportInput(table, Arms("A", "B"), options=options), tmp_path / "w")
    lead_w = widened.estimates[widened.headline]
    assert lead_w.se_total == pytest.approx(float(np.hypot(lead.se, 0.02)))
    assert lead_w.total_ci_high - lead_w.total_ci_low > lead.ci_high - lead.ci_low
    assert not any("lineage" in w for w in widened.warnings)
    # An A/A pre-period that is itself significant is a headline warning.
    shifted = table.with_columns(
        pl.when((pl.col("arm") == "B") & (pl.col("phase") == "aa"))
        .then(pl.min_horizontal(pl.col("clicks") * 2, pl.col("impressions")))
        .otherwise(pl.col("clicks"))
        .alias("clicks"),
    )
    warned = write_report(ReportInput(shifted, Arms("A", "B")), tmp_path / "s")
    assert warned.aa_lift is not None and warned.aa_lift.p_value < 0.05
    assert any("A/A pre-period is itself significant" in w for w in warned.warnings)
    assert "**Stop:** The A/A pre-period" in (tmp_path / "s" / "report" / "report.md").read_text()


def test_identical_aa_weeks_share_an_id_and_others_do_not(tmp_path) -> None:
    table = unit_days()
    first = write_report(ReportInput(table, Arms("A", "B")), tmp_path / "a")
    later = table.with_columns(
        pl.when(pl.col("phase") == "ab").then(pl.col("clicks") // 2).otherwise(pl.col("clicks"))
    )
    second = write_report(ReportInput(later, Arms("A", "B")), tmp_path / "b")
    assert first.aa_week_id is not None and first.aa_week_id == second.aa_week_id
    other = table.with_columns(
        pl.when(pl.col("phase") == "aa").then(pl.col("clicks") // 2).otherwise(pl.col("clicks"))
    )
    third = write_report(ReportInput(other, Arms("A", "B")), tmp_path / "c")
    assert third.aa_week_id != first.aa_week_id
