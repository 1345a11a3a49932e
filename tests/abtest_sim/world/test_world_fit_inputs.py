"""The world fit reads a log's times, positions and clicks as they are written in real logs (epoch
seconds, milliseconds, ..., ISO-8601 text, slots numbered from 1) or refuses them with the
reason, and a log too small for a part keeps the default world's value for it, saying why."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from abtest_sim.world.fit.log import InteractionLog, LogColumns, LogError, read_log
from abtest_sim.world.fit.world import FitSettings, fit_world

START = 1_727_654_400  # 2024-09-30 00:00:00 UTC, a Monday
FIT = FitSettings(factors=2, drift_window_days=3)
ROW = pl.int_range(pl.len())


def make_log(days: int = 21, n: int = 4000, seed: int = 0) -> pl.DataFrame:
    """A made-up log: 200 users, 40 items, slots 0..4 (the top clicked most), epoch seconds."""
    rng = np.random.default_rng(seed)
    position = rng.integers(0, 5, n)
    return pl.DataFrame(
        {
            "user_id": rng.integers(0, 200, n),
            "item_id": rng.integers(0, 40, n),
            "timestamp": START + rng.integers(0, days * 86_400, n),
            "click": rng.binomial(1, 0.2 / (position + 1)),
            "position": position,
        }
    )


def same_log(a: InteractionLog, b: InteractionLog) -> None:
    for name in ("user", "item", "day", "weekday", "hour", "click", "position"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert (a.n_days, a.start_weekday) == (b.n_days, b.start_weekday)


@pytest.mark.parametrize("unit,per", [("ms", 10**3), ("us", 10**6), ("ns", 10**9)])
def test_epoch_times_in_any_unit_read_as_the_same_log(unit, per):
    frame = make_log()
    seconds = read_log(frame, LogColumns(position="position"))
    scaled = frame.with_columns(pl.col("timestamp") * per)
    auto = read_log(scaled, LogColumns(position="position"))
    same_log(auto, seconds)
    assert auto.n_days == 21 and auto.times["unit"] == unit and "inferred" in auto.times["how"]
    same_log(read_log(scaled, LogColumns(position="position", time_unit=unit)), seconds)
    float_ms = frame.with_columns(pl.col("timestamp").cast(pl.Float64) * per + 0.5)
    same_log(read_log(float_ms, LogColumns(position="position")), seconds)


def test_a_millisecond_log_fits_the_same_world_as_in_seconds():
    frame = make_log()
    seconds = fit_world(read_log(frame, LogColumns()), FIT)
    ms = fit_world(read_log(frame.with_columns(pl.col("timestamp") * 1000), LogColumns()), FIT)
    assert ms.overrides == seconds.overrides
    assert ms.measured["days"] == seconds.measured["days"] == 21
    assert ms.measured["time"]["unit"] == "ms" and seconds.measured["time"]["unit"] == "s"


@pytest.mark.parametrize(
    "unit,message",
    [
        ("ms", "time_unit=ms reads time column 'timestamp' as 1970-01-20"),  # seconds as ms
        ("us", "set time_unit=s or auto"),
    ],
)
def test_an_explicit_unit_that_gives_no_dates_where_another_does_is_refused(unit, message):
    with pytest.raises(LogError, match=message):
        read_log(make_log(), LogColumns(time_unit=unit))


def test_numbers_that_are_no_epoch_times_need_a_unit_and_a_plausible_span():
    relative = make_log().with_columns(pl.col("timestamp") - START)
    with pytest.raises(LogError, match="in none of s, ms, us, ns: set time_unit=s"):
        read_log(relative, LogColumns())
    log = read_log(relative, LogColumns(time_unit="s"))
    assert log.n_days == 21 and "not epoch times" in log.times["how"]
    wide = relative.with_columns(pl.col("timestamp") * 100)  # 2,100 days as "seconds" x 100
    with pytest.raises(LogError, match=r"read as microseconds spans"):
        read_log(wide.with_columns(pl.col("timestamp") * 10**9), LogColumns(time_unit="us"))
    assert read_log(wide, LogColumns(time_unit="s")).n_days > 2000  # 5.8 years: plausible


@pytest.mark.parametrize(
    "text,shift",
    [
        ("%Y-%m-%dT%H:%M:%S", 0),
        ("%Y-%m-%d %H:%M:%S", 0),
        ("%Y-%m-%dT%H:%M:%SZ", 0),
        ("%Y-%m-%dT%H:%M:%S.123Z", 0),
        ("%Y-%m-%dT%H:%M:%S+02:00", 2),
        ("%Y-%m-%d %H:%M:%S-0530", -5.5),
    ],
)
def test_iso_text_times_read_equal_to_datetimes(text, shift):
    frame = make_log()
    instants = pl.from_epoch(pl.col("timestamp"), time_unit="s")
    as_datetime = read_log(frame.with_columns(instants), LogColumns(position="position"))
    local = pl.from_epoch(pl.col("timestamp") + int(shift * 3600), time_unit="s")
    as_text = frame.with_columns(local.dt.strftime(text).alias("timestamp"))
    log = read_log(as_text, LogColumns(position="position"))
    same_log(log, as_datetime)
    same_log(log, read_log(frame, LogColumns(position="position")))
    assert log.times["unit"] == "iso-8601 text" and log.times["first"].startswith("2024-09-30")


def test_text_that_is_no_date_time_is_refused_naming_the_value():
    frame = make_log().with_columns(
        pl.from_epoch("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%S").alias("timestamp")
    )
    bad = frame.with_columns(
        pl.when(ROW == 5).then(pl.lit("yesterday")).when(ROW == 9).then(pl.lit("2024-13-01"))
        .otherwise("timestamp").alias("timestamp")
    )  # fmt: skip
    with pytest.raises(
        LogError, match=r"'timestamp' .* 2 row\(s\), the first 'yesterday' \(row 6\)"
    ):
        read_log(bad, LogColumns())


def test_positions_numbered_from_1_fit_as_the_same_log_numbered_from_0():
    frame = make_log()
    zero = fit_world(read_log(frame, LogColumns(position="position")), FIT)
    one_based = frame.with_columns(pl.col("position") + 1)
    one = fit_world(read_log(one_based, LogColumns(position="position")), FIT)
    assert one.overrides == zero.overrides and "position_eta" in one.overrides
    assert one.measured["position_base"] == 1 and zero.measured["position_base"] == 0
    assert "numbered from 1" in one.measured["position_curve"]
    assert not one.measured["position_curve"].startswith("not logged")


def test_a_logged_position_curve_that_cannot_be_fitted_says_why_not_not_logged():
    frame = make_log().with_columns(
        pl.when(pl.col("position") == 0).then(0).otherwise(pl.col("click")).alias("click")
    )
    fitted = fit_world(read_log(frame, LogColumns(position="position")), FIT)
    assert "position_eta" not in fitted.overrides
    assert fitted.measured["position_curve"].startswith("logged, but the top slot has no clicks")


@pytest.mark.parametrize(
    "position,message",
    [
        (pl.when(ROW == 0).then(-1).otherwise("position").alias("position"), "1 negative value"),
        (pl.col("position") + 2, "'position' starts at 2: the top slot must be numbered 0 or 1"),
        (pl.col("position").cast(pl.Float64), "must hold integer slots"),
        (pl.col("position").cast(pl.String), "must hold integer slots"),
    ],
)
def test_positions_that_are_no_slots_from_0_or_1_are_refused(position, message):
    with pytest.raises(LogError, match=message):
        read_log(make_log().with_columns(position), LogColumns(position="position"))


@pytest.mark.parametrize(
    "column,value,message",
    [
        ("click", float("nan"), "click column 'click' holds 3 NaN value"),
        ("click", None, "click column 'click' holds 3 null value"),
        ("timestamp", float("inf"), "time column 'timestamp' holds 3 infinite value"),
        ("user_id", float("nan"), "user column 'user_id' holds 3 NaN value"),
        ("position", None, "position column 'position' holds 3 null value"),
    ],
)
def test_missing_or_non_finite_numbers_are_refused_with_their_count(column, value, message):
    frame = make_log()
    values = frame.get_column(column).cast(pl.Float64).scatter([1, 2, 3], value)
    if column == "position":
        values = values.cast(pl.Int64)
    with pytest.raises(LogError, match=message):
        read_log(frame.with_columns(values), LogColumns(position="position"))


def test_a_log_of_three_days_keeps_the_default_weekday_profile_and_says_why():
    log = read_log(make_log(days=3), LogColumns())
    fitted = fit_world(log, FIT)
    fitted.config()  # a world the simulator accepts (today: "invalid world config")
    kept = fitted.measured["defaults_kept"]
    assert "weekday_activity" not in fitted.overrides and "weekday_effect" not in fitted.overrides
    assert kept["weekday_activity"] == "the log spans 3 day(s); a weekday profile needs at least 7"
    assert kept["drift_tau"].startswith("the log spans 3 day(s), 1 window(s)")
    assert {"weekday_activity", "drift_tau"} <= set(fitted.measured["not_fitted"])
    one_day = fit_world(read_log(make_log(days=1), LogColumns()), FIT)
    assert "item_lifetime_days" in one_day.measured["defaults_kept"]
    assert "item_lifetime_days" not in one_day.overrides


def test_a_weekday_without_impressions_keeps_the_default_profile():
    frame = make_log(days=14)
    weekday = pl.from_epoch("timestamp").dt.weekday()  # 1 = Monday .. 7 = Sunday
    fitted = fit_world(read_log(frame.filter(weekday != 7), LogColumns()), FIT)
    fitted.config()
    assert fitted.measured["defaults_kept"]["weekday_activity"].endswith("impressions on Sun")


@pytest.mark.parametrize(
    "change,message",
    [
        (pl.lit(1).alias("user_id"), "1 user(s)"),
        (pl.lit(0).alias("click"), "0 click(s)"),
        (pl.lit(1).alias("click"), "0 non-click(s)"),
    ],
)
def test_a_log_without_two_users_items_clicks_and_non_clicks_is_refused(change, message):
    with pytest.raises(LogError, match=re.escape(message) + ".*the click model needs at least two"):
        read_log(make_log().with_columns(change), LogColumns())


def test_the_app_says_which_time_unit_it_assumed(tmp_path):
    log = tmp_path / "log.csv"
    make_log().with_columns(pl.col("timestamp") * 1000, pl.col("position") + 1).write_csv(log)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "abtest_sim.apps.calibrate", f"input={log}", f"out={out}",
         "position=position", "fit.factors=2", "fidelity=false"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "read as milliseconds since the epoch" in done.stdout
    report = json.loads((out / "fit.json").read_text())
    assert report["measured"]["time"]["unit"] == "ms" and report["measured"]["days"] == 21
    assert report["settings"]["columns"]["time_unit"] == "auto"
    markdown = (out / "calibration.md").read_text()
    assert "read as milliseconds since the epoch (inferred" in markdown
    assert "2024-09-30T" in markdown and "numbered from 1 in the log" in markdown


@pytest.mark.slow
def test_out_is_refused_unless_new_empty_or_the_apps_own_and_a_users_note_survives(tmp_path):
    log = tmp_path / "log.csv"
    make_log().write_csv(log)

    def fit(out: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "abtest_sim.apps.calibrate", f"input={log}", f"out={out}",
             "fit.factors=2", "fidelity=false"],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "fit.json").write_text("my own")
    refused = fit(mine)
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"abtest-sim-calibrate: error: out folder {mine} holds files")
    assert sorted(p.name for p in mine.iterdir()) == ["fit.json"]
    assert (mine / "fit.json").read_text() == "my own"
    out = tmp_path / "out"
    assert fit(out).returncode == 0
    (out / "notes.md").write_text("kept")
    again = fit(out)
    assert again.returncode == 0, again.stderr
    assert (out / "notes.md").read_text() == "kept" and (out / "fit.json").is_file()
