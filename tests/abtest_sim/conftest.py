"""Fixtures shared by the end-to-end tests of the simulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory) -> Path:
    """An uninterrupted smoke run (seed 0) through the CLI, without a warm-up cache."""
    run_dir = tmp_path_factory.mktemp("reference")
    command = [sys.executable, "-m", "abtest_sim", "experiment=smoke", f"run_dir={run_dir}",
               "warmup_cache=null"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return run_dir
