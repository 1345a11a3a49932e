"""Every abtest_sim command-line app turns Hydra's own composition errors into one line and exit
code 2, like its own input errors."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.slow
@pytest.mark.parametrize(
    ("module", "prog"),
    [
        ("abtest_sim.apps.simulate", "abtest-sim"),
        ("abtest_sim.apps.analyze", "abtest-analyze"),
        ("abtest_sim.apps.aggregate", "abtest-sim-aggregate"),
        ("abtest_sim.apps.plan", "abtest-sim-plan"),
        ("reloop.cli", "reloop-offline"),
        ("abtest_sim.apps.forecast", "abtest-sim-forecast"),
    ],
)
def test_an_unknown_config_group_is_one_line_and_exit_2(module, prog, tmp_path):
    code = f"from {module} import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", code, "stats=nope"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error:"), result.stderr
    assert "stats" in lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing written
