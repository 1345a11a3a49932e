"""abtest-analyze end to end (subprocess) on small CSV and parquet logs, and every bad input."""

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hydra import compose, initialize, initialize_config_dir

from abtest_sim.apps.analyze import CONFIG_NAME, AnalyzeError, AnalyzeSettings, analyze
from abtest_sim.report.writer import Arms, ReportInput, write_report
from abtest_sim.stats import SyntheticCtr
from abtest_sim.stats.synthetic import synthetic_unit_days
from reloop.hydra_app import CONF_DIR

COMMAND = [sys.executable, "-m", "abtest_sim.apps.analyze"]


def unit_day_log(users: int = 150, days: int = 4) -> pl.DataFrame:
    """Arms A, B, A2; days 1-2 are the A/A pre-period (phase aa)."""
    rng = np.random.default_rng(7)
    lifts = {"A": 0.0, "B": 0.05, "A2": 0.0}
    population = SyntheticCtr(mean_impressions=4)
    table = synthetic_unit_days(
        rng, lifts=lifts, users=users, days=days, aa_days=2, population=population
    )
    return table.drop("true_clicks").sort("arm", "unit", "day")


def impression_log(unit_days: pl.DataFrame) -> pl.DataFrame:
    """One row per impression, the first ``clicks`` of each unit-day clicked."""
    rows = unit_days.with_columns(k=pl.int_ranges(0, pl.col("impressions"))).explode("k")
    click = (pl.col("k") < pl.col("clicks")).cast(pl.Int8).alias("click")
    return rows.select("unit", "arm", "day", click).sample(fraction=1.0, shuffle=True, seed=1)


def run(*overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*COMMAND, *overrides], capture_output=True, text=True, timeout=120, check=False
    )


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("logs")
    table = unit_day_log()
    paths = {"unit_day_csv": folder / "days.csv", "impressions_parquet": folder / "imps.parquet"}
    table.write_csv(paths["unit_day_csv"])
    renamed = {"unit": "user_id", "arm": "group", "day": "date", "click": "clicked"}
    impression_log(table).rename(renamed).write_parquet(paths["impressions_parquet"])
    return paths


@pytest.fixture(scope="module")
def good_runs(logs, tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    out = tmp_path_factory.mktemp("good")
    jobs = {
        "unit_day": [f"input={logs['unit_day_csv']}", "phase=phase", "aa_control=A2"],
        "impressions": [
            f"input={logs['impressions_parquet']}",
            *("unit=user_id", "arm=group", "day=date", "click=clicked"),
            *("aa_days=2", "aa_control=A2"),
        ],
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            name: pool.submit(run, *args, "control=A", "treatment=B", f"out={out / name}")
            for name, args in jobs.items()
        }
        return {name: (f.result(), out / name) for name, f in futures.items()}


@pytest.mark.slow
def test_unit_day_csv_gives_the_report_of_the_same_table(good_runs, tmp_path) -> None:
    done, out = good_runs["unit_day"]
    assert done.returncode == 0, done.stderr
    assert "abtest-analyze: B vs A: CUPED (pre-period covariate) " in done.stdout
    names = {p.name for p in files_under(out)}
    assert {"daily.csv", "summary.json", "report.md", "daily_lift.png"} <= names
    # Nothing but the report in out: no Hydra folder, no log file.
    assert {p.parent for p in files_under(out)} == {out / "report"}
    write_report(ReportInput(unit_day_log(), Arms("A", "B", aa_control="A2")), tmp_path)
    expected = (tmp_path / "report" / "daily.csv").read_bytes()
    assert (out / "report" / "daily.csv").read_bytes() == expected


@pytest.mark.slow
def test_impression_rows_with_aa_days_equal_unit_day_rows_with_phase(good_runs) -> None:
    """Other column names, one row per impression (shuffled), aa_days instead of a phase column:
    the same unit-day sums, so byte for byte the same tables."""
    done, out = good_runs["impressions"]
    assert done.returncode == 0, done.stderr
    unit_day_out = good_runs["unit_day"][1]
    for name in ("daily.csv", "arms.csv", "cumulative.csv"):
        assert (out / "report" / name).read_bytes() == (unit_day_out / "report" / name).read_bytes()


def test_the_config_composes_into_settings() -> None:
    overrides = ["input=x.csv", "control=1", "treatment=2", "aa_days=3", "arm=group", "out=o"]
    with initialize(version_base="1.3", config_path=None):
        cfg = compose(config_name=CONFIG_NAME, overrides=overrides)
    settings = AnalyzeSettings.from_config(cfg)
    assert (settings.control, settings.treatment, settings.aa_days) == ("1", "2", 3)
    assert settings.arm == "group" and settings.unit == "unit" and settings.format == "auto"
    # The stored config is conf/analyze.yaml itself.
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        from_file = compose(config_name="analyze", overrides=overrides[:4])
    assert from_file.alpha == cfg.alpha and from_file.click == cfg.click == "click"


def write_log(folder: Path, name: str, frame: pl.DataFrame) -> Path:
    path = folder / name
    frame.write_parquet(path) if name.endswith(".parquet") else frame.write_csv(path)
    return path


def bad_logs(folder: Path) -> dict[str, Path]:
    """Each bad log of the contract, as a file."""
    table = unit_day_log(users=40, days=3)
    first = pl.col("unit") == table["unit"].min()
    click = impression_log(table)

    def set_where(frame: pl.DataFrame, condition: pl.Expr, column: str, value) -> pl.DataFrame:
        new = value if isinstance(value, pl.Expr) else pl.lit(value)
        return frame.with_columns(
            pl.when(condition).then(new).otherwise(pl.col(column)).alias(column)
        )

    is_b = pl.col("arm") == "B"
    frames = {
        "missing column": ("no_arm.csv", table.drop("arm")),
        "negative count": ("neg.csv", set_where(table, first, "clicks", -1)),
        "clicks above impressions": (
            "over.csv",
            set_where(table, first, "clicks", pl.col("impressions") + 1),
        ),
        "arm not in data": ("ok.csv", table),
        "empty arm": (
            "empty.csv",
            set_where(set_where(table, is_b, "clicks", 0), is_b, "impressions", 0),
        ),
        "non-binary click": ("imps.parquet", set_where(click, pl.col("unit") == 0, "click", 2)),
    }
    paths = {name: write_log(folder, *spec) for name, spec in frames.items()}
    return {"missing file": folder / "nope.csv", **paths}


EXPECTED = {
    "missing file": "no such file",
    "missing column": "column(s) arm not found",
    "negative count": "negative clicks",
    "clicks above impressions": "more clicks than impressions",
    "arm not in data": "arm 'C' not in the data (arms: A, A2, B)",
    "empty arm": "arm 'B' is empty",
    "non-binary click": "must be 0 or 1",
}


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    folder = tmp_path_factory.mktemp("bad")
    inputs = bad_logs(folder)
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {
            name: pool.submit(
                run,
                f"input={path}",
                "control=A",
                "treatment=C" if name == "arm not in data" else "treatment=B",
                f"out={folder / name.replace(' ', '_')}",
            )
            for name, path in inputs.items()
        }
        return {name: (f.result(), folder / name.replace(" ", "_")) for name, f in futures.items()}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(EXPECTED))
def test_bad_input_is_one_line_exit_2_and_no_files(bad_runs, case) -> None:
    done, out = bad_runs[case]
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("abtest-analyze: error: ")
    assert EXPECTED[case] in lines[0]
    assert "Traceback" not in done.stderr + done.stdout
    assert files_under(out) == []


@pytest.mark.slow
def test_a_missing_required_setting_is_one_line_exit_2(tmp_path) -> None:
    done = run("control=A", "treatment=B", f"out={tmp_path / 'out'}")
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == "abtest-analyze: error: input= is required (e.g. input=log.csv control=A treatment=B)"
    )


@pytest.mark.parametrize(
    ("edit", "settings", "message"),
    [
        ("txt", {}, "expected a .csv, .tsv, .parquet or .pq file"),
        ("nulls", {}, "missing value"),
        ("shared unit", {}, "more than one arm"),
        ("ok", {"phase": "phase", "aa_days": 1}, "at most one of phase= and aa_days="),
        ("ok", {"aa_days": 3}, "aa_days= must lie between 1 and 2"),
        ("ok", {"format": "wide"}, "format= must be one of"),
        ("ok", {"p_true": "p"}, "p_true= is for impression logs"),
        ("ok", {"unit": "arm"}, "named for more than one role"),
        ("ok", {"shares": {"A": 1.0}}, "shares has no entry for arm(s) B"),
        ("both shapes", {}, "set format=impressions or format=unit_day"),
        ("ok", {"headline": "best"}, "headline must be auto or one of"),
        ("ok", {"lineage_sd": {"raw": 0.01}}, "unknown estimator 'raw'"),
        ("ok", {"phase": None, "headline": "cuped"}, "needs an A/A pre-period"),
    ],
)
def test_other_bad_input_raises_one_line_and_writes_nothing(
    tmp_path, edit, settings, message
) -> None:
    table = unit_day_log(users=30, days=3)
    frames = {
        "txt": ("log.txt", table),
        "nulls": (
            "nulls.parquet",
            table.with_columns(
                pl.when(pl.col("unit") == 0).then(None).otherwise(pl.col("clicks")).alias("clicks")
            ),
        ),
        "shared unit": (
            "shared.csv",
            table.with_columns(
                pl.when(pl.col("arm") == "B").then(0).otherwise(pl.col("unit")).alias("unit")
            ),
        ),
        "ok": ("ok.csv", table),
        "both shapes": ("both.csv", table.with_columns(click=pl.lit(0))),
    }
    path = write_log(tmp_path, *frames[edit])
    out = tmp_path / "out"
    with pytest.raises(AnalyzeError, match=re.escape(message)) as error:
        analyze(AnalyzeSettings(input=path, out=out, control="A", treatment="B", **settings))
    assert "\n" not in str(error.value)
    assert files_under(out) == []


@pytest.mark.slow
def test_a_measured_lineage_sd_widens_the_headline_interval(logs, tmp_path) -> None:
    args = [f"input={logs['unit_day_csv']}", "phase=phase", "control=A", "treatment=B"]
    plain = run(*args, f"out={tmp_path / 'plain'}")
    widened = run(*args, f"out={tmp_path / 'wide'}", "lineage_sd={cuped:0.05}")
    assert plain.returncode == 0 and widened.returncode == 0, widened.stderr
    lead = [
        json.loads((tmp_path / name / "report" / "summary.json").read_text())["summary"]
        for name in ("plain", "wide")
    ]
    plain_cuped, wide_cuped = (s["estimates"]["cuped"] for s in lead)
    assert wide_cuped["se_total"] == pytest.approx(np.hypot(plain_cuped["se"], 0.05))
    assert plain_cuped["se_total"] == pytest.approx(plain_cuped["se"])


US_DATES = {1: "9/30/2024", 2: "10/1/2024", 3: "10/2/2024", 4: "10/3/2024"}


@pytest.mark.slow
def test_text_days_are_refused_unless_iso_or_given_a_format(tmp_path) -> None:
    table = unit_day_log(users=60, days=4).drop("phase")
    us = write_log(tmp_path, "us.csv", table.with_columns(pl.col("day").replace_strict(US_DATES)))
    settings = {"input": us, "out": tmp_path / "out", "control": "A", "treatment": "B"}
    with pytest.raises(AnalyzeError, match=re.escape("9/30/2024") + ".*day_format="):
        analyze(AnalyzeSettings(**settings, aa_days=2))
    assert files_under(tmp_path / "out") == []
    with pytest.raises(AnalyzeError, match="do not match day_format=%Y/%m/%d"):
        analyze(AnalyzeSettings(**settings, aa_days=2, day_format="%Y/%m/%d"))
    # Read with its format, the log is the numbered one: the same A/A days, the same report.
    dated = analyze(AnalyzeSettings(**settings, aa_days=2, day_format="%m/%d/%Y"))
    numbered_path = write_log(tmp_path, "numbered.csv", table)
    numbered = analyze(
        AnalyzeSettings(**{**settings, "input": numbered_path, "out": tmp_path / "n"}, aa_days=2)
    )
    assert dated.lead.lift == pytest.approx(numbered.lead.lift, rel=1e-12)
    assert dated.daily["day"][:4].to_list() == [
        f"2024-{d}" for d in ("09-30", "10-01", "10-02", "10-03")
    ]
