"""A full disk (simulated by a file-size limit: writes past it fail with EFBIG, as ENOSPC would)
or a path through a file ends every writing app with one line naming the path and exit code 2;
nothing half-written looks complete, and a simulation resumes to the uninterrupted result."""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

pytestmark = pytest.mark.slow
LIMIT = 40_000  # bytes: config files fit, a log partition or a report does not


def limited(*args: str, cwd: Path, limit: int | None = LIMIT) -> subprocess.CompletedProcess:
    def small_disk() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=cwd, preexec_fn=small_disk,
        timeout=600,
    )  # fmt: skip


def assert_one_line(done: subprocess.CompletedProcess, prog: str, what: str) -> None:
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), done.stderr[-2000:]
    assert what in lines[0]


def test_a_full_disk_stops_a_simulation_cleanly_and_it_resumes(reference_run, tmp_path):
    run_dir = tmp_path / "run"
    args = ("-m", "abtest_sim", "experiment=smoke", "warmup_cache=null", f"run_dir={run_dir}")
    assert_one_line(limited(*args, cwd=tmp_path), "abtest-sim", "File too large")
    assert not (run_dir / "report").exists()
    resumed = limited(*args, "resume=true", cwd=tmp_path, limit=None)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert (run_dir / "report" / "daily.csv").read_bytes() == (
        reference_run / "report" / "daily.csv"
    ).read_bytes()
    through_a_file = ("-m", "abtest_sim", "experiment=smoke", f"run_dir={run_dir}/config.json/x")
    assert_one_line(limited(*through_a_file, cwd=tmp_path), "abtest-sim", "cannot be a folder")


def test_a_full_disk_stops_analyze_aggregate_and_the_world_fit_cleanly(reference_run, tmp_path):
    done = limited("-m", "abtest_sim.apps.analyze", f"input={reference_run / 'unit_days.parquet'}",
                   "control=control", "treatment=treatment", "phase=phase", "out=analysed",
                   cwd=tmp_path)  # fmt: skip
    assert_one_line(done, "abtest-analyze", "File too large")
    assert not (tmp_path / "analysed" / "report").exists()
    sweep = tmp_path / "sweep"
    shutil.copytree(reference_run / "report", sweep / "0" / "report")
    shutil.copy(reference_run / "config.json", sweep / "0")
    done = limited("-m", "abtest_sim.apps.aggregate", f"input={sweep}", f"out={tmp_path / 'agg'}",
                   cwd=tmp_path)  # fmt: skip
    assert_one_line(done, "abtest-sim-aggregate", "File too large")
    assert not (tmp_path / "agg").exists()
    rng = np.random.default_rng(0)
    n = 20_000
    pl.DataFrame({
        "user_id": rng.integers(0, 300, n), "item_id": rng.integers(0, 50, n),
        "timestamp": 1_700_000_000 + rng.integers(0, 14 * 86_400, n),
        "click": rng.binomial(1, 0.1, n),
    }).write_csv(tmp_path / "log.csv")  # fmt: skip
    done = limited("-m", "abtest_sim.apps.calibrate", "input=log.csv", "out=fitted",
                   "fit.factors=2", cwd=tmp_path, limit=4_000)  # fmt: skip
    assert_one_line(done, "abtest-sim-calibrate", "File too large")
    assert not (tmp_path / "fitted").exists()
