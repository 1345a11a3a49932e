"""The estimator registry: every estimator in it appears in daily.csv, summary.json, both report
layouts and the sweep's runs.csv; one added in a test module (``LastDay``) appears in all of them
with nothing else changed, and goes away with its block."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from abtest_sim.analysis.daily_columns import Columns
from abtest_sim.analysis.estimator_base import Estimator, PairData
from abtest_sim.analysis.estimators import (
    DAILY_COLUMNS,
    daily_column_names,
    estimator_keys,
    estimators,
    register,
    registered,
)
from abtest_sim.analysis.options import ReportOptions
from abtest_sim.report.writer import Arms, ReportInput, write_report
from abtest_sim.stats import SyntheticCtr
from abtest_sim.stats.synthetic import synthetic_unit_days
from abtest_sim.sweep.aggregate import aggregate


class LastDay(Estimator):
    """The lift of the last A/B day alone: a test of the registry, not a good estimator."""

    key = "last_day"
    label = "lift of the last A/B day"
    short = "Last day"
    value_column = "last_day_lift"
    prefix = "last_day"

    def fill(self, cols: Columns, pair: PairData) -> None:
        last = int(np.flatnonzero(pair.design.defined_mask("ab"))[-1])
        rows = np.array([cols.ab_average_row])
        cols.put_wald(pair.lifts.select([last]), pair.alpha, rows, self.columns, floor=True)


def unit_days(seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return synthetic_unit_days(
        rng,
        lifts={"A": 0.0, "B": 0.05},
        users=200,
        days=5,
        aa_days=2,
        population=SyntheticCtr(mean_impressions=6),
    )


def sweep_of_two(root: Path) -> list[Path]:
    """Two runs (seeds 0 and 1) with a config.json each, their reports written from logs."""
    arm = {"share": 0.5, "alpha": 0.5, "y_last": "logged", "window_days": 1, "warm_start": True}
    folders = []
    for seed in (0, 1):
        folder = root / str(seed)
        write_report(ReportInput(unit_days(seed), Arms("A", "B")), folder, plots=False)
        config = {
            "seed": seed,
            "world": {"n_users": 10},
            "model": {},
            "experiment": {"control": "A", "treatments": ["B"]},
            "arms": [{**arm, "name": "B", "recipe": "reloop"},
                     {**arm, "name": "A", "recipe": "baseline"}],
        }  # fmt: skip
        (folder / "config.json").write_text(json.dumps(config))
        folders.append(folder)
    return folders


def everywhere(root: Path, key: str) -> dict[str, bool]:
    """Where estimator ``key`` shows up in a sweep of two runs written under ``root``."""
    folders = sweep_of_two(root)
    report = folders[0] / "report"
    daily = pl.read_csv(report / "daily.csv")
    summary = json.loads((report / "summary.json").read_text())["summary"]
    kind = next(e for e in estimators() if e.key == key)
    markdown, page = (report / "report.md").read_text(), (report / "report.html").read_text()
    aggregate(root, root / "aggregate")
    runs = pl.read_csv(root / "aggregate" / "runs.csv")
    cells = [c.header.format(level="95%") for c in kind.daily_cells()]
    return {
        "daily.csv": set(kind.columns) <= set(daily.columns),
        "summary.json": key in summary["estimates"],
        "report.md": f"| {kind.label}" in markdown and all(f"| {c} |" in markdown for c in cells),
        "report.html": f"<td>{kind.label}" in page and all(f"<th>{c}</th>" in page for c in cells),
        "runs.csv": {f"{key}_lift", f"{key}_se", f"{key}_target"} <= set(runs.columns),
        "aggregate report.md": f"| {key}" in (root / "aggregate" / "report.md").read_text(),
    }


@pytest.mark.slow
def test_every_registered_estimator_appears_everywhere(tmp_path) -> None:
    assert estimator_keys() == ("pooled", "mean_daily", "ab_minus_aa", "cuped")
    assert daily_column_names() == DAILY_COLUMNS
    for key in estimator_keys():
        found = everywhere(tmp_path / key, key)
        assert all(found.values()), (key, found)


def test_an_estimator_added_in_a_test_module_appears_everywhere(tmp_path) -> None:
    with registered(LastDay()):
        assert estimator_keys()[-1] == "last_day"
        names = daily_column_names()
        assert names[: len(DAILY_COLUMNS)] == DAILY_COLUMNS  # the contract's columns keep places
        assert names[len(DAILY_COLUMNS) :] == LastDay().columns
        found = everywhere(tmp_path, "last_day")
        assert all(found.values()), found
        report = tmp_path / "0" / "report"
        daily = pl.read_csv(report / "daily.csv", schema_overrides={"day": pl.String})
        ab_days = daily.filter((pl.col("phase") == "ab") & (pl.col("day") != "Average"))
        average = daily.row(-1, named=True)
        assert (average["last_day_lift"], average["last_day_se"]) == pytest.approx(
            (ab_days["lift"][-1], ab_days["se"][-1]), rel=1e-12
        )
        assert daily["last_day_lift"].null_count() == daily.height - 1
        estimate = json.loads((report / "summary.json").read_text())["summary"]["estimates"]
        assert estimate["last_day"]["lift"] == pytest.approx(ab_days["lift"][-1], rel=1e-12)
        assert estimate["last_day"]["target"] == pytest.approx(average["target_lift"])
        # the options know it: it can lead the report and carry a lineage component
        options = ReportOptions.from_mapping(
            {"headline": "last_day", "lineage_sd": {"last_day": 0}}
        )
        led = write_report(ReportInput(unit_days(0), Arms("A", "B"), options=options),
                           tmp_path / "led", plots=False)  # fmt: skip
        assert led.lead.label == "lift of the last A/B day"
    assert "last_day" not in estimator_keys() and daily_column_names() == DAILY_COLUMNS
    with pytest.raises(ValueError, match="headline"):
        ReportOptions.from_mapping({"headline": "last_day"})


def test_register_refuses_a_key_or_a_column_already_taken() -> None:
    class Clash(LastDay):
        key = "cuped"

    with pytest.raises(ValueError, match="already registered"):
        register(Clash())

    class SameColumns(LastDay):
        key = "another"
        value_column = "cuped_lift"
        prefix = "cuped"

    with pytest.raises(ValueError, match=r"daily\.csv already has"):
        register(SameColumns())
    assert estimator_keys() == ("pooled", "mean_daily", "ab_minus_aa", "cuped")


def _table(log: pl.DataFrame):
    from abtest_sim.analysis.daily_table import daily_table

    return daily_table(log, control="A", treatment="B")


def test_cupeds_target_is_its_own_adjustment_of_the_true_ctrs():
    """With true clicks equal to the clicks, CUPED's target is its own estimate to the bit (the
    same slope on the same numbers); with real truths it is not the mean daily target, which it
    would miss by theta times the A/A week's target."""
    log = synthetic_unit_days(
        np.random.default_rng(4), lifts={"A": 0.0, "B": 0.05}, users=400, days=5, aa_days=2
    )
    ab = _table(log.with_columns(pl.col("clicks").cast(pl.Float64).alias("true_clicks"))).ab_rows.ab
    assert ab["cuped_target"] == pytest.approx(ab["cuped_lift"], rel=1e-12)
    real = _table(log).ab_rows.ab
    assert real["cuped_target"] != pytest.approx(real["target_lift"], rel=1e-6)
    from abtest_sim.analysis.estimators import estimator

    truths = estimator("cuped").truths(_table(log).ab_rows)
    assert truths == {"target": real["cuped_target"], "launch": real["launch_lift"]}
    assert "cuped_target" in daily_column_names()
