"""Every bad input in ``tests/bad_input_cases.py`` (329 across the seven apps) ends with exit
code 2, one line naming the problem, no traceback and nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("bad_inputs.py")
APPS = (
    "abtest-sim",
    "abtest-analyze",
    "abtest-sim-aggregate",
    "abtest-sim-plan",
    "reloop-offline",
    "abtest-sim-calibrate",
    "abtest-sim-forecast",
)


@pytest.mark.slow
@pytest.mark.parametrize("app", APPS)
def test_every_bad_input_is_one_line_exit_2_and_writes_nothing(app):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--app", app], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    cases = json.loads(done.stdout)["cases"]
    assert len(cases) >= 6
    failures = [c for c in cases if c["kind"] != "clean"]
    assert not failures, json.dumps(failures, indent=1)
    for case in cases:  # the line names what was wrong, not a generic failure
        assert len(case["stderr"]) > len(f"{app}: error: ") + 10
