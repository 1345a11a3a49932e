"""``world=movielens100k`` is what the calibration app fits from the installed ML-100k."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

CONF = Path(__file__).parents[3] / "conf" / "world" / "movielens100k.yaml"


@pytest.mark.slow  # fits ML-100k through the app in a subprocess: minutes on busy cores
def test_the_shipped_movielens_world_is_what_the_app_fits(tmp_path):
    out = tmp_path / "ml"
    done = subprocess.run(
        [sys.executable, "-m", "abtest_sim.apps.calibrate", "dataset=movielens100k",
         "name=movielens100k", "fit.users=200000", f"out={out}", "fidelity=false"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    fitted = OmegaConf.to_container(OmegaConf.load(out / "world" / "movielens100k.yaml"))
    shipped = OmegaConf.to_container(OmegaConf.load(CONF))
    assert fitted == shipped
    assert fitted["n_categories"] == 19  # ML-100k's genres
