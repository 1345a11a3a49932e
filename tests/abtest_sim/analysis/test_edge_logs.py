"""Valid logs at the edges: a day whose lift is undefined (a control without a click, an arm
missing), a single day, and counts that are not numbers. The report still comes out, and a day it
cannot read is left out of the daily means exactly as if it were not in the log."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from abtest_sim.analysis.unit_days import ReportInputError
from abtest_sim.report.writer import Arms, ReportInput, write_report
from abtest_sim.stats import SyntheticCtr
from abtest_sim.stats.synthetic import synthetic_unit_days

AVERAGE_COLUMNS = ("lift", "se", "ab_minus_aa", "ab_minus_aa_se", "cuped_lift", "cuped_se")


def log(seed: int = 3) -> pl.DataFrame:
    """Arms A and B, 6 days, the first 2 A/A."""
    table = synthetic_unit_days(
        np.random.default_rng(seed), lifts={"A": 0.0, "B": 0.05}, users=300, days=6, aa_days=2,
        population=SyntheticCtr(mean_impressions=4),
    )  # fmt: skip
    return table.drop("true_clicks")


def report(table: pl.DataFrame, folder) -> tuple[pl.DataFrame, dict]:
    write_report(ReportInput(table, Arms("A", "B")), folder, plots=False)
    daily = pl.read_csv(folder / "report" / "daily.csv")
    return daily, json.loads((folder / "report" / "summary.json").read_text())["summary"]


def averages(daily: pl.DataFrame) -> dict[str, float]:
    row = daily.filter((pl.col("day") == "Average") & (pl.col("phase") == "ab")).row(0, named=True)
    return {name: row[name] for name in AVERAGE_COLUMNS}


@pytest.mark.parametrize(
    ("day", "damage", "reason"),
    [
        (4, "control without clicks", "the control 'A' has no click"),
        (4, "arm missing", "arm 'B' has fewer than 2 units"),
        (1, "control without clicks", "the control 'A' has no click"),  # an A/A day: CUPED too
    ],
)
def test_a_day_without_a_lift_is_blank_and_out_of_the_means(day, damage, reason, tmp_path):
    table = log()
    on_day = pl.col("day") == day
    if damage == "arm missing":
        broken = table.filter((pl.col("arm") != "B") | ~on_day)
    else:
        zero = pl.when((pl.col("arm") == "A") & on_day).then(0).otherwise("clicks")
        broken = table.with_columns(zero.alias("clicks"))
    daily, summary = report(broken, tmp_path / "broken")
    row = daily.filter(pl.col("day") == str(day)).row(0, named=True)
    assert row["lift"] is None and row["se"] is None and row["cuped_lift"] is None
    assert row["impressions_control"] > 0  # the counts are still shown
    assert any(reason in w and f"day {day}" in w for w in summary["warnings"]), summary["warnings"]
    # The means over the other days equal those of the log without that day at all.
    without, _ = report(table.filter(~on_day), tmp_path / "without")
    assert averages(daily) == pytest.approx(averages(without), rel=1e-12)
    assert np.isfinite(summary["pooled"]["lift"])
    assert np.isfinite(summary["estimates"]["cuped"]["lift"])
    arms = pl.read_csv(tmp_path / "broken" / "report" / "arms.csv")
    if damage == "arm missing":  # no impressions that day: its CTR is null, not NaN
        assert arms.filter((pl.col("arm") == "B") & (pl.col("day") == day))["ctr"][0] is None


def test_an_aa_phase_without_a_defined_day_reports_as_no_pre_period(tmp_path):
    table = log()
    zero = pl.when((pl.col("arm") == "A") & (pl.col("phase") == "aa")).then(0).otherwise("clicks")
    daily, summary = report(table.with_columns(zero.alias("clicks")), tmp_path / "broken")
    plain, _ = report(table.filter(pl.col("phase") == "ab").drop("phase"), tmp_path / "plain")
    assert summary["headline"] == "pooled" and summary["aa_lift"] is None
    assert averages(daily)["lift"] == pytest.approx(averages(plain)["lift"], rel=1e-12)
    assert daily.filter(pl.col("day") == "Average").height == 1  # the A/B Average only


def test_a_treatment_without_any_click_still_gets_a_report(tmp_path):
    table = log()
    zero = pl.when((pl.col("arm") == "B") & (pl.col("phase") == "ab")).then(0).otherwise("clicks")
    _, summary = report(table.with_columns(zero.alias("clicks")), tmp_path)
    assert summary["pooled"]["lift"] == pytest.approx(-1.0)
    assert (tmp_path / "report" / "report.md").is_file()


def test_a_single_day_and_no_pre_period_give_a_report(tmp_path):
    table = log().filter(pl.col("day") == 3).drop("phase")
    daily, summary = report(table, tmp_path)
    assert summary["ab_days"] == 1 and summary["aa_days"] == 0
    assert daily.filter(pl.col("day") == "Average")["lift"][0] == pytest.approx(daily["lift"][0])


@pytest.mark.parametrize(
    ("value", "message"), [(float("inf"), "infinite value"), (float("nan"), "missing value")]
)
def test_counts_that_are_not_numbers_are_refused(value, message, tmp_path):
    table = log().with_columns(pl.col("impressions").cast(pl.Float64))
    table = table.with_columns(
        pl.when(pl.col("unit") == 5).then(value).otherwise("impressions").alias("impressions")
    )
    with pytest.raises(ReportInputError, match=message):
        write_report(ReportInput(table, Arms("A", "B")), tmp_path, plots=False)
    assert list(tmp_path.iterdir()) == []


def test_no_defined_day_in_a_phase_is_refused_in_one_line(tmp_path):
    table = log().with_columns(
        pl.when((pl.col("arm") == "A") & (pl.col("phase") == "ab")).then(0).otherwise("clicks")
        .alias("clicks")
    )  # fmt: skip
    with pytest.raises(ReportInputError, match="no A/B day has a defined lift"):
        write_report(ReportInput(table, Arms("A", "B")), tmp_path, plots=False)
