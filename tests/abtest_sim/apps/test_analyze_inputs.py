"""abtest-analyze's reading and settings: the one table reader's rules, days at sub-day resolution,
counts too large for a float, numeric settings typed as every app types them; and valid logs that
are hard to read (.pq parquet, ISO-date days, midnight timestamps, one control click)."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from abtest_sim.apps.analyze import AnalyzeError, AnalyzeSettings, analyze
from abtest_sim.stats import SyntheticCtr
from abtest_sim.stats.synthetic import synthetic_unit_days


def log(users: int = 60, days: int = 3) -> pl.DataFrame:
    table = synthetic_unit_days(
        np.random.default_rng(5), lifts={"A": 0.0, "B": 0.05}, users=users, days=days,
        population=SyntheticCtr(mean_impressions=4, ctr=0.1),
    )  # fmt: skip
    return table.drop("true_clicks", "phase")


def settings(path: Path, out: Path, **extra) -> AnalyzeSettings:
    return AnalyzeSettings(input=path, out=out, control="A", treatment="B", **extra)


def refused(path: Path, message: str, **extra) -> None:
    out = path.parent / "out"
    with pytest.raises(AnalyzeError, match=message) as error:
        analyze(settings(path, out, **extra))
    assert "\n" not in str(error.value)
    assert not out.exists()


def test_a_repeated_column_name_is_refused_not_renamed(tmp_path):
    """polars reads a second ``clicks`` as ``clicks_duplicated_0``: the first, here impressions
    copied by mistake, would be read as the clicks (CTR 100%, lift +0.00%)."""
    table = log()
    path = tmp_path / "twice.csv"
    with_copy = table.select("unit", "arm", "day", pl.col("impressions").alias("clicks"),
                             "impressions", pl.col("clicks").alias("clicks_2"))  # fmt: skip
    text = with_copy.write_csv().replace("clicks_2", "clicks", 1)
    path.write_text(text)
    refused(path, "column 'clicks' appears twice in the header")


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "is empty"), ("unit,arm,day,clicks,impressions\n", "has no rows")],
)
def test_an_empty_or_header_only_file_says_so(tmp_path, content, message):
    path = tmp_path / "log.csv"
    path.write_text(content)
    refused(path, message)


def test_days_with_times_of_day_are_refused_with_a_hint(tmp_path):
    table = log().with_columns(
        (pl.datetime(2024, 1, 1) + pl.duration(days=pl.col("day"), hours=pl.col("unit") % 24))
        .alias("day")
    )  # fmt: skip
    table.write_parquet(tmp_path / "hours.parquet")
    refused(tmp_path / "hours.parquet", r"times of day .*cast the column to a date")
    text = table.with_columns(pl.col("day").dt.strftime("%Y-%m-%d %H:%M"))
    text.write_csv(tmp_path / "hours.csv")
    refused(tmp_path / "hours.csv", "holds timestamps such as '2024-01-02 ")


@pytest.mark.slow
def test_dates_iso_text_and_midnight_timestamps_read_as_the_numbered_days(tmp_path):
    table = log()
    numbered = tmp_path / "numbered.csv"
    table.write_csv(numbered)
    as_date = pl.date(2024, 9, 29) + pl.duration(days=pl.col("day"))
    variants = {
        "dates.parquet": table.with_columns(as_date.alias("day")),
        "iso.csv": table.with_columns(as_date.dt.strftime("%Y-%m-%d").alias("day")),
        "midnight.pq": table.with_columns(as_date.cast(pl.Datetime("us")).alias("day")),
    }
    expected = analyze(settings(numbered, tmp_path / "n", aa_days=1)).daily
    for name, frame in variants.items():
        path = tmp_path / name
        frame.write_parquet(path) if name.endswith(("parquet", "pq")) else frame.write_csv(path)
        daily = analyze(settings(path, tmp_path / name.replace(".", "_"), aa_days=1)).daily
        assert daily.drop("day").equals(expected.drop("day")), name
    assert isinstance(variants["dates.parquet"]["day"][0], date)
    assert isinstance(variants["midnight.pq"]["day"][0], datetime)


@pytest.mark.parametrize(
    ("value", "kind"),
    [(1e23, pl.Float64), (2**62, pl.Int64)],  # not exact as floats; int64 sums would wrap round
)
def test_counts_beyond_exact_floats_name_their_cause(tmp_path, value, kind):
    """Before: 1e23 crashed, 2**62 summed past int64 to an arm 'with no impressions'."""
    table = log().with_columns(
        pl.when(pl.col("unit") < 4).then(pl.lit(value, dtype=kind))
        .otherwise(pl.col("impressions").cast(kind)).alias("impressions")
    )  # fmt: skip
    table.write_csv(tmp_path / "big.csv")
    refused(tmp_path / "big.csv", re.escape("count above 2**53"))


def test_true_false_counts_are_refused(tmp_path):
    log().with_columns(pl.col("clicks") > 0).write_csv(tmp_path / "bool.csv")
    refused(tmp_path / "bool.csv", "holds true/false, not counts of clicks")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"shares": {"A": math.nan, "B": 0.5}}, "shares.A must be a finite number"),
        ({"shares": {"A": math.inf, "B": 0.5}}, "shares.A must be a finite number"),
        ({"shares": {"A": -1.0, "B": 0.5}}, "shares.A must be positive"),
        ({"shares": {"A": "0.5", "B": 0.5}}, "shares.A must be a number, got '0.5'"),
        ({"alpha": "0.05"}, "alpha must be a number, got '0.05'"),
        ({"alpha": math.nan}, "alpha must be a finite number"),
        ({"lineage_sd": {"cuped": math.nan}}, "lineage_sd.cuped must be a non-negative number"),
        ({"cs_rho": math.nan}, "cs_rho must be a positive number"),
    ],
)
def test_numeric_settings_are_typed_and_finite(tmp_path, extra, message):
    """A NaN share used to drop the SRM test without a word."""
    path = tmp_path / "log.csv"
    log().write_csv(path)
    raw = {"input": str(path), "out": str(tmp_path / "out"), "control": "A", "treatment": "B"}
    from omegaconf import OmegaConf

    with pytest.raises(AnalyzeError, match=re.escape(message)):
        cfg = OmegaConf.create({**raw, **extra})
        analyze(AnalyzeSettings.from_config(cfg))
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_valid_parquet_named_pq_runs_from_the_command_line(tmp_path):
    log().write_parquet(tmp_path / "log.pq")
    done = subprocess.run(
        [sys.executable, "-m", "abtest_sim.apps.analyze", f"input={tmp_path / 'log.pq'}",
         "control=A", "treatment=B", f"out={tmp_path / 'out'}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "report" / "daily.csv").is_file()


def one_control_click(users: int = 300) -> pl.DataFrame:
    """One day; the control has 1 click, the treatment 9: a lift of about +800% whose delta
    interval reached -1000% and more."""
    table = log(users=users, days=1)
    rank = pl.col("unit").rank("ordinal").over("arm")
    keep = pl.when(pl.col("arm") == "A").then(rank == 1).otherwise(rank <= 9)
    return table.with_columns(pl.when(keep).then(1).otherwise(0).alias("clicks"))


def test_one_control_click_warns_and_no_bound_falls_below_minus_100(tmp_path):
    path = tmp_path / "one.csv"
    one_control_click().write_csv(path)
    summary = analyze(settings(path, tmp_path / "out"))
    report = tmp_path / "out" / "report"
    daily = pl.read_csv(report / "daily.csv")
    warnings = json.loads((report / "summary.json").read_text())["summary"]["warnings"]
    assert any(w.startswith("Few clicks: an arm has fewer than 30 clicks") for w in warnings)
    assert any("log-ratio interval" in w for w in warnings)
    lead = summary.lead
    assert lead.lift == pytest.approx(8.0, rel=0.3) and lead.interval == "log-ratio"
    assert lead.total_ci_low > -1 and daily["ci_low"].min() > -1
    assert lead.total_ci_low == pytest.approx(pl.read_csv(report / "cumulative.csv")["ci_low"][-1])
    # the day's interval is daily.csv's own log-ratio interval (ratio.compare_relative, "log")
    day = daily.row(0, named=True)
    assert (day["ci_low"], day["ci_high"]) == pytest.approx((day["log_ci_low"], day["log_ci_high"]))
    text = (report / "report.md").read_text()  # every signed percentage (not the MDE's "+-")
    assert min(float(x) for x in re.findall(r"(?<!\+)([+-]\d+\.\d+)%", text)) > -100


@pytest.mark.slow
def test_out_with_a_users_report_folder_is_refused_and_a_note_in_its_own_survives(tmp_path):
    path = tmp_path / "log.csv"
    log().write_csv(path)
    mine = tmp_path / "mine"
    (mine / "report").mkdir(parents=True)
    (mine / "report" / "my_analysis.md").write_text("mine")
    app = [
        sys.executable,
        "-m",
        "abtest_sim.apps.analyze",
        f"input={path}",
        "control=A",
        "treatment=B",
    ]
    done = subprocess.run([*app, f"out={mine}"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr == (
        f"abtest-analyze: error: report folder {mine / 'report'} holds files abtest-analyze did "
        "not write: my_analysis.md; choose a new or empty folder\n"
    )
    assert sorted(p.name for p in (mine / "report").iterdir()) == ["my_analysis.md"]
    out = tmp_path / "out"
    assert subprocess.run([*app, f"out={out}"], capture_output=True).returncode == 0
    (out / "report" / "notes.md").write_text("kept")
    again = subprocess.run([*app, f"out={out}", "headline=pooled"], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert (out / "report" / "notes.md").read_text() == "kept"
    assert json.loads((out / "report" / "summary.json").read_text())["summary"]["headline"] == (
        "pooled"
    )
