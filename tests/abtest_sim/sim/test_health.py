"""A model that diverged is said so: in the run's log and report, and the aggregate skips it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import polars as pl
import pytest

from abtest_sim.sim.health import diverged_arms
from abtest_sim.sim.logs import write_partition
from abtest_sim.sweep.aggregate import aggregate


def served(pctr: np.ndarray, day: int) -> pl.DataFrame:
    return pl.DataFrame({"day": day, "pctr": pctr.astype(np.float32), "click": 0})


def test_saturated_or_non_finite_pctrs_mark_an_arm(tmp_path):
    rng = np.random.default_rng(0)
    sane = rng.uniform(0.001, 0.3, 1000)
    pinned = np.where(rng.random(1000) < 0.6, 0.0, 1.0)  # 100% saturated
    half = np.concatenate([sane[:600], pinned[:400]])  # 40%: not over the line
    write_partition(tmp_path, "ok", 1, served(sane, 1))
    write_partition(tmp_path, "ok", 2, served(half, 2))
    write_partition(tmp_path, "pinned", 1, served(sane, 1))
    write_partition(tmp_path, "pinned", 2, served(pinned, 2))
    write_partition(tmp_path, "nan", 1, served(np.append(sane[:-1], np.nan), 1))
    found = diverged_arms(tmp_path, ["ok", "pinned", "nan"], [1, 2])
    assert set(found) == {"pinned", "nan"}
    assert "day 2" in found["pinned"] and "100%" in found["pinned"]
    assert "1 non-finite" in found["nan"]


@pytest.mark.slow
def test_a_diverged_run_is_flagged_and_skipped_by_the_aggregate(reference_run, tmp_path):
    run_dir = tmp_path / "sweep" / "diverged"
    command = [sys.executable, "-m", "abtest_sim", "experiment=smoke", "warmup_cache=null",
               f"run_dir={run_dir}", "arm.treatment.train.lr=1e6"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "the model of arm treatment diverged" in result.stdout + result.stderr
    summary = json.loads((run_dir / "report" / "summary.json").read_text())["summary"]
    assert list(summary["diverged"]) == ["treatment"]
    assert summary["warnings"][0].startswith("A model diverged (treatment:")
    assert "A model diverged" in (run_dir / "report" / "report.md").read_text()
    sane = tmp_path / "sweep" / "sane"
    sane.mkdir()
    shutil.copy(reference_run / "config.json", sane)
    shutil.copytree(reference_run / "report", sane / "report")
    (tmp_path / "sweep" / "unfinished").mkdir()
    (tmp_path / "sweep" / "unfinished" / "config.json").write_text("{}")
    summary_table = aggregate(tmp_path / "sweep")
    assert summary_table["runs"].sum() == 1
    report = (tmp_path / "sweep" / "aggregate" / "report.md").read_text()
    assert "## Runs skipped (2)" in report
    assert "a model diverged" in report and "not finished" in report


@pytest.mark.slow
def test_a_model_with_non_finite_weights_stops_the_run_in_one_line(tmp_path):
    command = [sys.executable, "-m", "abtest_sim", "experiment=smoke", "warmup_cache=null",
               f"run_dir={tmp_path / 'run'}", "arm.treatment.train.lr=1e30"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("abtest-sim: error: the model of arm treatment diverged")
    assert "lower arm.treatment.train.lr" in last and "Traceback" not in result.stderr
