"""The package as a user installs it: ``pip install .`` (a wheel, not editable) into a fresh venv,
then every app (all seven) runs from an unrelated directory, finding its configs in the wheel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[1]


def sh(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd,
                          timeout=900)  # fmt: skip
    assert done.returncode == 0, f"{args}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def test_every_package_folder_is_listed_for_the_wheel():
    """pyproject.toml lists the packages by hand (conf/ ships under another name): a new folder
    must be listed, or the wheel would lack it."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    folders = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for root in ("abtest_sim", "reloop")
        for init in (ROOT / root).rglob("__init__.py")
    }
    assert folders <= listed, sorted(folders - listed)


@pytest.mark.slow
def test_a_wheel_in_a_fresh_venv_runs_every_app_from_elsewhere(tmp_path):
    sh(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", ROOT, "-w", tmp_path / "dist")
    wheel = next((tmp_path / "dist").glob("*.whl"))
    sh(sys.executable, "-m", "venv", tmp_path / "venv")
    bin_ = tmp_path / "venv" / "bin"
    sh(bin_ / "pip", "install", "-q", "torch==2.13.0")  # the CPU build first (see the Makefile)
    sh(bin_ / "pip", "install", "-q", wheel)
    work = tmp_path / "elsewhere"
    work.mkdir()
    sim = sh(bin_ / "abtest-sim", "experiment=smoke", "run_dir=run", "warmup_cache=null",
             "progress=false", cwd=work)  # fmt: skip
    assert (work / "run" / "report" / "report.md").is_file(), sim.stderr
    analyze = sh(bin_ / "abtest-analyze", "input=run/unit_days.parquet", "control=control",
                 "treatment=treatment", "phase=phase", "out=analyzed", cwd=work)  # fmt: skip
    assert "report: analyzed/report/report.md" in analyze.stdout
    plan = sh(bin_ / "abtest-sim-plan", "input=run/unit_days.parquet", cwd=work)
    assert "users per arm" in plan.stdout.lower()
    sh(bin_ / "abtest-sim-aggregate", "input=.", "out=aggregated", cwd=work)
    assert (work / "aggregated" / "report.md").is_file()
    (work / "t.csv").write_text(
        "user,item,click\n" + "".join(f"{i % 37},{i % 23},{int(i % 7 == 0)}\n" for i in range(2000))
    )
    sh(bin_ / "reloop-offline", "dataset=table", "dataset.path=t.csv", "dataset.label=click",
       "dataset.categorical=[user,item]", "seeds=1", "model=lr", "train.epochs=1",
       "run_dir=offline", "progress=false", cwd=work)  # fmt: skip
    assert (work / "offline" / "results.md").is_file()
    rng = np.random.default_rng(0)
    pl.DataFrame({"u": rng.integers(0, 200, 4000), "i": rng.integers(0, 60, 4000),
                  "ts": 1_700_000_000 + rng.integers(0, 14 * 86_400, 4000),
                  "c": rng.binomial(1, 0.1, 4000)}).write_csv(work / "log.csv")  # fmt: skip
    sh(bin_ / "abtest-sim-calibrate", "input=log.csv", "user=u", "item=i", "time=ts", "click=c",
       "name=mine", "out=calibrated", "fit.drift_window_days=2", cwd=work)  # fmt: skip
    assert (work / "calibrated" / "world" / "mine.yaml").is_file()
    sh(bin_ / "abtest-sim-forecast", "experiment=smoke", "forecast.worlds=1",
       "forecast.aa_runs=2", "forecast.out=forecast", cwd=work)  # fmt: skip
    assert "Shipping" in (work / "forecast" / "forecast.md").read_text()

    # the default design's lineage measurement ships as package data
    measured = subprocess.run([bin_ / "python", "-c", "import importlib.resources as r; print("
                               "len(list((r.files('abtest_sim.sim') / 'measured').iterdir())))"],
                              capture_output=True, text=True, cwd=work)  # fmt: skip
    assert measured.returncode == 0 and int(measured.stdout) >= 1, measured.stderr
    typo = subprocess.run([bin_ / "abtest-sim", "+sed=5"], capture_output=True, text=True, cwd=work)
    assert typo.returncode == 2 and "unknown key(s) ['sed']" in typo.stderr
