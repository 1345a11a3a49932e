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


@pytest.fixture
def smoke_config():
    """Compose abtest-sim's config with ``experiment=smoke`` and the given overrides."""
    from hydra import compose, initialize_config_dir

    from reloop.hydra_app import CONF_DIR

    def compose_smoke(*overrides: str):
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            return compose("simulate", overrides=["experiment=smoke", *overrides])

    return compose_smoke


@pytest.fixture
def smoke_cli():
    """Run ``python -m abtest_sim ARGS`` (no warm-up cache unless asked)."""

    def run(*args: str) -> subprocess.CompletedProcess:
        if not any(arg.startswith("warmup_cache=") for arg in args):
            args = (*args, "warmup_cache=null")
        command = [sys.executable, "-m", "abtest_sim", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=600)

    return run
