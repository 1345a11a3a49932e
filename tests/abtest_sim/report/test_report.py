"""The report: daily.csv against the stats functions on the same users, determinism, errors."""

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from abtest_sim.report.writer import (
    DAILY_COLUMNS,
    Arms,
    ReportContext,
    ReportInput,
    ReportInputError,
    ReportOptions,
    write_report,
)
from abtest_sim.stats import (
    PrePost,
    SyntheticCtr,
    UnitTotals,
    cuped_relative_lift,
    daily_lifts,
    ratio_panel,
    relative_lift,
    shared_control_lift,
    srm_test,
)
from abtest_sim.stats.synthetic import synthetic_unit_days

ARMS = {"A": 0.0, "B": 0.06, "A2": 0.0}
DAYS, AA_DAYS = 6, 2
POPULATION = SyntheticCtr(mean_impressions=6)
FILES = (
    "daily.csv",
    "summary.json",
    "report.md",
    "report.html",
    "arms.csv",
    "cumulative.csv",
    "daily_lift.png",
    "cumulative_lift.png",
    "ctr_per_arm.png",
)


def unit_days(seed: int = 0, users: int = 500, *, truth: bool = True) -> pl.DataFrame:
    """Three arms over 6 days; from day 3 (A/B phase) each arm's users click at CTR * (1+lift)."""
    rng = np.random.default_rng(seed)
    table = synthetic_unit_days(
        rng, lifts=ARMS, users=users, days=DAYS, aa_days=AA_DAYS, population=POPULATION
    )
    return table if truth else table.drop("true_clicks")


def day_arrays(table: pl.DataFrame, arm: str, day: int) -> UnitTotals:
    rows = table.filter((pl.col("arm") == arm) & (pl.col("day") == day)).sort("unit")
    return UnitTotals(rows["clicks"].to_numpy(), rows["impressions"].to_numpy())


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[pl.DataFrame, pl.DataFrame, Path]:
    table = unit_days()
    out = tmp_path_factory.mktemp("report")
    summary = write_report(ReportInput(table, Arms("A", "B", aa_control="A2")), out)
    daily = pl.read_csv(out / "report" / "daily.csv", schema_overrides={"day": pl.String})
    assert summary.report_dir == out / "report"
    return table, daily, out


def test_daily_csv_has_the_contract_columns_and_rows(report) -> None:
    _, daily, out = report
    assert tuple(daily.columns) == DAILY_COLUMNS
    assert all((out / "report" / name).stat().st_size > 0 for name in FILES)
    # Two pairs (A-B, A-A2), each: 6 days, then the A/A and the A/B Average rows.
    assert daily.height == 2 * (DAYS + 2)
    main = daily.filter(pl.col("treatment") == "B")
    assert main["day"].to_list() == [*map(str, range(1, DAYS + 1)), "Average", "Average"]
    assert main["phase"].to_list() == ["aa"] * AA_DAYS + ["ab"] * (DAYS - AA_DAYS) + ["aa", "ab"]


def test_daily_rows_equal_the_stats_functions_on_the_same_users(report) -> None:
    table, daily, _ = report
    main = daily.filter(pl.col("treatment") == "B")
    for day in range(1, DAYS + 1):
        row = main.row(day - 1, named=True)
        a, b = day_arrays(table, "A", day), day_arrays(table, "B", day)
        delta = relative_lift(a, b)
        assert (row["lift"], row["se"], row["ci_low"], row["ci_high"], row["p_value"]) == (
            pytest.approx(
                (delta.lift, delta.se, delta.ci_low, delta.ci_high, delta.p_value), rel=1e-9
            )
        )
        assert row["naive_p_value"] == pytest.approx(relative_lift(a, b, method="naive").p_value)
        assert row["design_effect"] == pytest.approx(
            delta.se**2 / relative_lift(a, b, method="naive").se ** 2
        )
        for method in ("log", "fieller"):
            other = relative_lift(a, b, method=method)
            assert row[f"{method}_ci_low"] == pytest.approx(other.ci_low, rel=1e-9)
            assert row[f"{method}_p_value"] == pytest.approx(other.p_value, rel=1e-9)
        users = [a.units, b.units, day_arrays(table, "A2", day).units]
        assert row["users_control"] == users[0]
        assert row["srm_p_value"] == pytest.approx(srm_test(users).p_value)
        d = shared_control_lift(a, day_arrays(table, "A2", day), b)
        assert row["shared_control_lift"] == pytest.approx(d.lift, rel=1e-9)
        assert row["shared_control_se"] == pytest.approx(d.se, rel=1e-9)


def matrices(table: pl.DataFrame, arm: str, column: str) -> np.ndarray:
    wide = table.filter(pl.col("arm") == arm).pivot(on="unit", index="day", values=column)
    return wide.sort("day").drop("day").fill_null(0).to_numpy().astype(float)


def test_average_and_ab_minus_aa_rows_use_the_cross_day_covariance(report) -> None:
    table, daily, _ = report
    a = [matrices(table, "A", c) for c in ("clicks", "impressions")]
    b = [matrices(table, "B", c) for c in ("clicks", "impressions")]
    lifts = daily_lifts(ratio_panel(*a, a[1] > 0), ratio_panel(*b, b[1] > 0))
    aa_days, ab_days = np.arange(AA_DAYS), np.arange(AA_DAYS, DAYS)
    average = lifts.average_lift(ab_days)
    diff = lifts.difference_of_averages(ab_days, aa_days)
    row = daily.filter(pl.col("treatment") == "B").row(-1, named=True)
    assert (row["day"], row["phase"]) == ("Average", "ab")
    assert row["lift"] == pytest.approx(average.lift, rel=1e-9)
    assert row["se"] == pytest.approx(average.se, rel=1e-9)
    assert row["ab_minus_aa"] == pytest.approx(diff.lift, rel=1e-9)
    assert row["ab_minus_aa_se"] == pytest.approx(diff.se, rel=1e-9)
    assert row["aa_lift"] == pytest.approx(lifts.average(aa_days).value[0], rel=1e-9)
    # Users seen on several days make the average wider than independent days would.
    day_se = daily.filter((pl.col("treatment") == "B") & (pl.col("phase") == "ab"))["se"][:-1]
    assert row["se"] > np.sqrt((day_se.to_numpy() ** 2).sum()) / len(ab_days)
    assert row["p_value_holm"] is None and row["srm_p_value"] is not None


def test_cuped_rows_use_each_users_pre_period_totals(report) -> None:
    table, daily, _ = report
    pre = (
        table.filter(pl.col("phase") == "aa")
        .group_by("unit")
        .agg(
            pl.col("clicks").sum().alias("pre_clicks"),
            pl.col("impressions").sum().alias("pre_imps"),
        )
    )
    day = AA_DAYS + 1
    arms = []
    for arm in ("A", "B"):
        rows = (
            table.filter((pl.col("arm") == arm) & (pl.col("day") == day))
            .join(pre, on="unit", how="left")
            .fill_null(0)
            .sort("unit")
        )
        columns = [rows[c].to_numpy() for c in ("clicks", "impressions", "pre_clicks", "pre_imps")]
        arms.append(PrePost(post=UnitTotals(*columns[:2]), pre=UnitTotals(*columns[2:])))
    expected = cuped_relative_lift(*arms)
    row = daily.filter((pl.col("treatment") == "B") & (pl.col("day") == str(day))).row(
        0, named=True
    )
    assert row["cuped_lift"] == pytest.approx(expected.lift, rel=1e-9)
    assert row["cuped_se"] == pytest.approx(expected.se, rel=1e-9)
    assert row["cuped_se"] < row["se"]


def test_truth_columns_cover_and_disappear_without_truth(report, tmp_path) -> None:
    table, daily, _ = report
    main = daily.filter(pl.col("treatment") == "B")
    day = main.row(AA_DAYS, named=True)
    rows = table.filter(pl.col("day") == AA_DAYS + 1)
    ctr = pl.col("true_clicks").sum() / pl.col("impressions").sum()
    true_ctr = {arm: rows.filter(pl.col("arm") == arm).select(ctr).item() for arm in ("A", "B")}
    assert day["target_lift"] == pytest.approx(true_ctr["B"] / true_ctr["A"] - 1, rel=1e-9)
    assert day["covers_target"] == (day["ci_low"] <= day["target_lift"] <= day["ci_high"])
    assert main["covers_target"].null_count() == 0
    # no launch lineages in this log: the launch truth is missing, never "not covered"
    assert main["covers_launch"].null_count() == main.height

    write_report(ReportInput(unit_days(truth=False), Arms("A", "B")), tmp_path)
    plain = pl.read_csv(tmp_path / "report" / "daily.csv")
    for column in (
        "target_ctr_control",
        "target_ctr_treatment",
        "target_lift",
        "covers_target",
        "launch_lift",
        "covers_launch",
        "test_to_launch_bias",
        "shared_control_lift",
        "concurrent_aa_lift",
    ):
        assert plain[column].null_count() == plain.height
    text = (tmp_path / "report" / "report.md").read_text()
    assert "Truths (simulation only)" not in text and "launch effect" not in text
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())["summary"]
    assert summary["truth"] is None
    assert all(e["covers_launch"] is None for e in summary["estimates"].values())


def test_without_phase_every_day_is_ab_and_no_aa_columns(tmp_path) -> None:
    table = unit_days(truth=False).drop("phase")
    summary = write_report(
        ReportInput(table, Arms("A", "B"), options=ReportOptions(alpha=0.1)), tmp_path
    )
    daily = pl.read_csv(tmp_path / "report" / "daily.csv")
    assert daily.height == DAYS + 1 and set(daily["phase"]) == {"ab"}
    assert (daily["ci_high"] - daily["lift"]).to_numpy() == pytest.approx(
        1.6448536 * daily["se"].to_numpy(), rel=1e-6
    )
    assert daily["ab_minus_aa"].null_count() == daily.height
    assert daily["cuped_lift"].null_count() == daily.height
    assert summary.ab_minus_aa is None and summary.cuped is None and summary.aa_days == 0
    assert summary.headline == "pooled"  # no pre-period: the pooled lift leads
    assert set(summary.estimates) == {"pooled", "mean_daily"}


def test_report_markdown_shows_table3_method_and_diagnostics(report) -> None:
    _, daily, out = report
    text = (out / "report" / "report.md").read_text()
    assert "## Daily lift (Table 3)" in text
    assert "| Average | A/B |" in text and "| 1 | A/A |" in text  # phases named as in the page
    assert "A/B - A/A [95% CI]" in text and "A/B - A/A shared control [95% CI]" in text
    assert "delta method" in text and "design effect" in text and "Sample ratio mismatch" in text
    assert "Truths (simulation only)" in text and "## Estimators" in text
    lift = daily.filter(pl.col("treatment") == "B").row(-1, named=True)["lift"]
    assert f"{100 * lift:+.2f}%" in text


def test_same_input_gives_byte_identical_files(report, tmp_path) -> None:
    table, _, out = report
    shuffled = table.sample(fraction=1.0, shuffle=True, seed=3)
    write_report(ReportInput(shuffled, Arms("A", "B", aa_control="A2")), tmp_path)
    for name in FILES:
        assert (tmp_path / "report" / name).read_bytes() == (out / "report" / name).read_bytes(), (
            name
        )


def test_rewriting_replaces_the_report_and_leaves_no_temp_folders(tmp_path) -> None:
    table = unit_days(users=200, truth=False)
    write_report(ReportInput(table, Arms("A", "B")), tmp_path)
    write_report(ReportInput(table, Arms("A", "A2")), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["report"]
    assert pl.read_csv(tmp_path / "report" / "daily.csv")["treatment"][0] == "A2"


def broken(kind: str) -> pl.DataFrame:
    table = unit_days(users=100, truth=False)
    first_b = pl.col("unit") == table.filter(pl.col("arm") == "B")["unit"].min()
    is_b = pl.col("arm") == "B"

    def set_where(condition: pl.Expr, column: str, value: object) -> pl.DataFrame:
        new = value if isinstance(value, pl.Expr) else pl.lit(value)
        return table.with_columns(
            pl.when(condition).then(new).otherwise(pl.col(column)).alias(column)
        )

    if kind == "missing column":
        return table.drop("impressions")
    if kind == "negative":
        return set_where(first_b, "clicks", -1)
    if kind == "clicks > impressions":
        return set_where(first_b, "clicks", pl.col("impressions") + 1)
    if kind == "shared unit":
        return set_where(first_b, "unit", 0)
    if kind == "two phases":
        return set_where(first_b, "phase", "aa")
    if kind == "no ab day":
        return set_where(pl.lit(True), "phase", "aa")
    if kind == "bad phase":
        return set_where(pl.lit(True), "phase", "test")
    if kind == "empty arm":
        return set_where(is_b, "impressions", 0).with_columns(
            pl.when(is_b).then(0).otherwise(pl.col("clicks")).alias("clicks")
        )
    assert kind == "one user in an arm"  # every day's lift undefined
    return table.filter(~is_b | first_b)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing column", "missing column"),
        ("negative", "negative clicks"),
        ("clicks > impressions", "more clicks than impressions"),
        ("shared unit", "more than one arm"),
        ("two phases", "more than one phase"),
        ("no ab day", "no A/B day"),
        ("bad phase", "aa or ab"),
        ("empty arm", "'B' is empty"),
        ("one user in an arm", "day has a defined lift .*fewer than 2 units"),
    ],
)
def test_bad_tables_raise_one_line_and_write_nothing(kind, message, tmp_path) -> None:
    with pytest.raises(ReportInputError, match=message) as error:
        write_report(ReportInput(broken(kind), Arms("A", "B")), tmp_path)
    assert "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_unknown_arm_names_the_arms_in_the_log(tmp_path) -> None:
    with pytest.raises(ReportInputError, match=r"arm 'C' not in the data \(arms: A, A2, B\)"):
        write_report(ReportInput(unit_days(users=50), Arms("A", "C")), tmp_path)
    with pytest.raises(ReportInputError, match="must differ"):
        write_report(ReportInput(unit_days(users=50), Arms("A", "A")), tmp_path)


def test_pooled_lift_is_the_lift_of_per_user_totals_over_the_ab_days(report) -> None:
    table, _, out = report
    summary = json.loads((out / "report" / "summary.json").read_text())["summary"]
    totals = (
        table.filter(pl.col("phase") == "ab")
        .group_by("arm", "unit")
        .agg(pl.col("clicks").sum(), pl.col("impressions").sum())
        .sort("unit")
    )
    arms = [
        UnitTotals(
            *(totals.filter(pl.col("arm") == arm)[c].to_numpy() for c in ("clicks", "impressions"))
        )
        for arm in ("A", "B")
    ]
    expected = relative_lift(*arms)
    assert summary["pooled"]["lift"] == pytest.approx(expected.lift, rel=1e-9)
    assert summary["pooled"]["se"] == pytest.approx(expected.se, rel=1e-9)
    units = table.group_by("arm").agg(pl.col("unit").n_unique()).sort("arm")
    assert summary["users"] == dict(units.iter_rows())


def test_launch_truth_sets_the_launch_columns(tmp_path) -> None:
    table = unit_days(truth=True)
    truth = pl.DataFrame(
        {
            "day": [d for d in range(1, DAYS + 1) for _ in ARMS],
            "arm": [arm for _ in range(DAYS) for arm in ARMS],
            "true_clicks": [100.0 * (1 + ARMS[arm]) for _ in range(DAYS) for arm in ARMS],
            "impressions": [2000 for _ in range(DAYS) for _ in ARMS],
        }
    )
    write_report(
        ReportInput(table, Arms("A", "B"), context=ReportContext(launch_truth=truth)), tmp_path
    )
    daily = pl.read_csv(tmp_path / "report" / "daily.csv", schema_overrides={"day": pl.String})
    days = daily.filter((pl.col("day") != "Average") & (pl.col("treatment") == "B"))
    assert days["launch_lift"].to_numpy() == pytest.approx(np.full(DAYS, 0.06))
    assert days["launch_ctr_control"].to_numpy() == pytest.approx(np.full(DAYS, 0.05))
    bias = days["target_lift"] - days["launch_lift"]
    assert days["test_to_launch_bias"].to_numpy() == pytest.approx(bias.to_numpy())
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())["summary"]
    ab = summary["estimates"]["ab_minus_aa"]
    assert ab["launch"] == pytest.approx(0.0, abs=1e-12)  # 6% in both periods: A/B - A/A is 0
    assert summary["estimates"]["mean_daily"]["launch"] == pytest.approx(0.06)
    assert summary["truth"]["launch"]["pooled"] == pytest.approx(0.06)
    with pytest.raises(ReportInputError, match="no row for arm 'B'"):
        write_report(
            ReportInput(
                table,
                Arms("A", "B"),
                context=ReportContext(launch_truth=truth.filter(pl.col("arm") != "B")),
            ),
            tmp_path,
        )
