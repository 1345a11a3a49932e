"""A run dir belongs to one process; a resumed run leaves no temporaries of the killed attempt."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from abtest_sim.sim import logs
from abtest_sim.sim.rundir import RunDirBusy, owned_run_dir, sweep_temporaries

pytestmark = pytest.mark.slow
HOLD = (
    "from abtest_sim.sim.rundir import owned_run_dir as o; import sys, time\n"
    "with o(__import__('pathlib').Path(sys.argv[1])): print('held', flush=True); time.sleep(60)"
)


def smoke(*args: str) -> list[str]:
    return [sys.executable, "-m", "abtest_sim", "experiment=smoke", "warmup_cache=null", *args]


def test_a_second_owner_is_refused_and_the_lock_dies_with_its_holder(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunDirBusy, match="in use by another running process"):
        with owned_run_dir(tmp_path):
            pass
    os.kill(holder.pid, signal.SIGKILL)  # a killed owner leaves no stale lock
    holder.wait()
    with owned_run_dir(tmp_path), owned_run_dir(tmp_path):  # re-entrant in one process
        pass


def test_two_processes_on_one_run_dir_one_refused_the_other_exact(reference_run, tmp_path):
    run_dir = tmp_path / "run"
    first = subprocess.Popen(
        smoke(f"run_dir={run_dir}"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while not (run_dir / "config.json").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    second = subprocess.run(
        smoke("seed=6", f"run_dir={run_dir}", "resume=true"), capture_output=True, text=True
    )
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "in use by another running process" in lines[0], second.stderr
    assert first.wait(timeout=600) == 0
    for name in ("daily.csv", "summary.json"):
        assert (run_dir / "report" / name).read_bytes() == (
            reference_run / "report" / name
        ).read_bytes()
    assert json.loads((run_dir / "config.json").read_text())["seed"] == 0


def test_a_different_config_is_refused_before_any_checkpoint(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"seed": 5}))
    (tmp_path / ".written-by.json").write_text('{"app": "abtest-sim"}')  # a run of another config
    result = subprocess.run(
        smoke(f"run_dir={tmp_path}", "resume=true"), capture_output=True, text=True
    )
    assert result.returncode == 2 and "different config" in result.stderr


def test_temporaries_of_a_killed_write_are_swept_on_resume(reference_run, tmp_path):
    state = tmp_path / "checkpoint" / "state.json"
    process = subprocess.Popen(
        smoke(f"run_dir={tmp_path}"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    while process.poll() is None and not (state.exists() and _last_day(state) >= 2):
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    # what a kill inside a partition write, a report staging and an atomic write leaves
    partition = tmp_path / "logs" / "arm=control"
    (partition / ".tmp-day=4-0123456789ab").mkdir(parents=True)
    pl.DataFrame({"x": [1]}).write_parquet(partition / ".tmp-day=4-0123456789ab" / "part-0.parquet")
    (tmp_path / ".report-x1y2.tmp").mkdir()  # a report staging folder (reloop.atomic.atomic_dir)
    (tmp_path / "checkpoint" / ".state.json.x1.tmp").write_text("{")
    result = subprocess.run(smoke(f"run_dir={tmp_path}", "resume=true"), capture_output=True)
    assert result.returncode == 0, result.stderr
    assert sweep_temporaries(tmp_path) == []  # nothing was left to sweep
    frame = pl.scan_parquet(tmp_path / "logs" / "**" / "*.parquet", hive_partitioning=True)
    reference = logs.scan(reference_run / "logs").collect()
    assert frame.select(pl.len()).collect().item() == reference.height
    assert (tmp_path / "report" / "daily.csv").read_bytes() == (
        reference_run / "report" / "daily.csv"
    ).read_bytes()


def _last_day(state: Path) -> int:
    try:
        return json.loads(state.read_text())["last_day"]
    except (json.JSONDecodeError, KeyError):
        return -1


@pytest.mark.parametrize(
    "args",
    [
        ("++run_dir={dir}",),
        ("hydra.run.dir={dir}",),
        ("run_dir='{dir}'",),
        ("++run_dir={dir}", "retrain_workers=0"),  # refused config: must not remove the dir
    ],
)
def test_any_spelling_of_a_busy_run_dir_leaves_it_untouched(tmp_path, args):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "config.json").write_text("{}")  # what the owner has written so far
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(busy)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    try:
        before = sorted(p.relative_to(busy) for p in busy.rglob("*"))
        command = smoke(*(arg.format(dir=busy) for arg in args))
        result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert sorted(p.relative_to(busy) for p in busy.rglob("*")) == before
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()


def _files(folder: Path) -> dict[Path, bytes]:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("spelling", ["run_dir={dir}", "run_dir=${{hydra:runtime.cwd}}/mine"])
def test_a_users_folder_is_refused_whole_and_untouched(tmp_path, spelling):
    """A folder of the user's (not empty, not a run) is refused before anything is written, named
    directly or through an interpolation Hydra resolves."""
    mine = tmp_path / "mine"
    (mine / "notes").mkdir(parents=True)
    (mine / "notes" / ".draft.tmp").write_text("draft")
    (mine / ".tmp-cache").mkdir()
    (mine / "report").mkdir()
    (mine / "report" / "my_analysis.md").write_text("mine")
    before = _files(mine)
    result = subprocess.run(
        smoke(spelling.format(dir=mine)), capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"abtest-sim: error: run_dir {mine} holds "
        "files abtest-sim did not write: .tmp-cache, notes, report; choose a new or empty folder"
    ]
    assert _files(mine) == before
    assert sorted(p.name for p in mine.iterdir()) == [".tmp-cache", "notes", "report"]


def test_an_empty_folder_becomes_the_run_and_a_refused_config_leaves_it(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = subprocess.run(smoke(f"run_dir={empty}", "retrain_workers=0"), capture_output=True)
    assert result.returncode == 2
    assert empty.is_dir()  # the user made it: a refused run does not remove it


def test_a_users_files_inside_a_run_survive_its_resume(reference_run, tmp_path):
    """Notes saved into a finished run (its report folder, a folder of hidden drafts) are kept
    when the run resumes and its report is written again; the report's settings are recorded."""
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(reference_run, run_dir)
    (run_dir / "report" / "my_analysis.md").write_text("mine")
    (run_dir / "notes").mkdir()
    (run_dir / "notes" / ".draft.tmp").write_text("draft")
    (run_dir / ".tmp-cache").mkdir()
    args = (f"run_dir={run_dir}", "resume=true", "stats.headline=pooled", "report_plots=false",
            "report_calibration=false")  # fmt: skip
    assert (run_dir / "report" / "calibration.csv").is_file()
    result = subprocess.run(smoke(*args), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (run_dir / "report" / "my_analysis.md").read_text() == "mine"
    assert (run_dir / "notes" / ".draft.tmp").read_text() == "draft"
    assert (run_dir / ".tmp-cache").is_dir()
    assert not list((run_dir / "report").glob("*.png"))  # the report's own old files went
    assert not (run_dir / "report" / "calibration.csv").exists()
    recorded = json.loads((run_dir / "config.json").read_text())["report"]
    assert recorded["headline"] == "pooled" and recorded["report_plots"] is False
    assert recorded["report_calibration"] is False
    summary = json.loads((run_dir / "report" / "summary.json").read_text())["summary"]
    assert summary["headline"] == "pooled"


def test_a_refused_second_process_leaves_the_first_runs_hydra_record(tmp_path):
    """With an interpolated run_dir the lock is taken only inside Hydra's job: Hydra must not
    have written its record (or its log) into the dir by then."""
    busy = tmp_path / "busy"
    busy.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(busy)], stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"held"
    try:
        result = subprocess.run(
            smoke("run_dir=${hydra:runtime.cwd}/busy"), capture_output=True, text=True, cwd=tmp_path
        )
        assert result.returncode == 2, result.stderr
        assert "in use by another running process" in result.stderr
        assert sorted(p.name for p in busy.iterdir()) == [".lock"]
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
