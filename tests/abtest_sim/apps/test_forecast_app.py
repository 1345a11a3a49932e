"""abtest-sim-forecast end to end: a recipe written outside the package, on a design not shipped
in conf/, gets a forecast page and JSON with every figure from one command; the forecast goes on
from its finished runs; the lineage SDs it stores are applied by later runs of exactly that
design, and by no other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

RECIPE = '''
import torch
import torch.nn.functional as F


def anchored(logits, y, y_last, alpha, weight=1.0):
    """BCE plus a pull towards the previous version's pCTR."""
    bce = F.binary_cross_entropy_with_logits(logits, y)
    return bce + weight * alpha * ((torch.sigmoid(logits) - y_last) ** 2).mean()
'''
DESIGN = ("experiment=smoke", "world.n_users=2000", "world.drift_tau=3",
          "arm.treatment.recipe={_target_:my_recipes.anchored,weight:2.0}")  # fmt: skip


def run(tmp_path: Path, *args: str, module: str = "abtest_sim.apps.forecast"):
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=1800)  # fmt: skip


def test_a_forecast_of_a_plugged_recipe_on_a_new_design(tmp_path):
    (tmp_path / "my_recipes.py").write_text(RECIPE)
    out = tmp_path / "fc"
    settings = ("forecast.worlds=2", "forecast.aa_runs=2", "forecast.store_from=2",
                f"forecast.out={out}")  # fmt: skip
    done = run(tmp_path, *DESIGN, *settings)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "changes CTR by" in done.stdout and "my_recipes.anchored" in done.stdout
    data = json.loads((out / "forecast.json").read_text())
    f = data["forecast"]
    assert f["worlds"] == 2 and f["aa_runs"] == 2
    for key in ("launch", "launch_positive", "launch_days", "validity", "readout", "power", "bias",
                "sizing"):  # fmt: skip
        assert f[key] is not None, key
    assert set(f["validity"]) == {"pooled", "mean_daily", "ab_minus_aa", "cuped"}
    assert f["sizing"]["lineage_floor"] is not None and len(f["launch_days"]) == 2
    page = (out / "forecast.html").read_text()
    assert (
        "my_recipes.anchored" in page
        and "<svg" in page
        and data["lead"] in (out / "forecast.md").read_text()
    )
    assert not (out / "runs" / "test" / "seed_0" / "logs").exists()  # heavy files removed
    stored = data["context"]["stored"]
    assert stored.startswith("stored in ")

    # More worlds: the finished runs are kept, only the new seed runs.
    more = run(tmp_path, *DESIGN, *settings[1:], "forecast.worlds=3")
    assert more.returncode == 0, more.stderr[-3000:]
    assert json.loads((out / "forecast.json").read_text())["forecast"]["worlds"] == 3
    assert "test runs: 100%" in more.stderr and "1/1" in more.stderr

    # Another design into the same folder: refused before any run (its runs are not this one's).
    refused = run(tmp_path, *DESIGN, *settings[1:], "arm.treatment.alpha=0.2")
    assert refused.returncode == 2 and "holds the runs of another design" in refused.stderr
    assert json.loads((out / "forecast.json").read_text())["forecast"]["worlds"] == 3

    # A run of exactly this design applies the stored SDs; a derived design does not.
    same = run(tmp_path, *DESIGN, "run_dir=same", "progress=false", module="abtest_sim")
    assert same.returncode == 0, same.stderr[-3000:]
    note = json.loads((tmp_path / "same" / "report" / "summary.json").read_text())["summary"]
    assert "measured for this design" in note["lineage_note"]
    assert note["estimates"]["cuped"]["lineage_sd"] is not None
    other = run(tmp_path, *DESIGN, "world.n_users=2100", "run_dir=other", "progress=false",
                module="abtest_sim")  # fmt: skip
    assert other.returncode == 0, other.stderr[-3000:]
    summary = json.loads((tmp_path / "other" / "report" / "summary.json").read_text())["summary"]
    assert "not yet measured for this design" in summary["lineage_note"]
    assert "abtest-sim-forecast" in summary["lineage_note"]
    assert summary["estimates"]["cuped"]["lineage_sd"] is None
    verdict = (tmp_path / "other" / "report" / "report.md").read_text()
    assert "Its interval omits model-lineage variance (not yet measured for this design" in verdict


def test_a_users_folder_is_refused_as_out(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.md").write_text("mine")
    done = run(tmp_path, "experiment=smoke", f"forecast.out={mine}")
    assert done.returncode == 2 and "holds files abtest-sim-forecast did not write" in done.stderr
    assert sorted(p.name for p in mine.iterdir()) == ["notes.md"]
