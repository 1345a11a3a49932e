"""abtest_sim.stats works on any log: it imports neither torch nor the simulator."""

import ast
import sys
from pathlib import Path

import pytest

import abtest_sim.stats

ALLOWED = {"numpy", "scipy", "statsmodels", "polars", "abtest_sim"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_stats_modules_import_only_numpy_scipy_statsmodels_polars_and_themselves() -> None:
    folder = Path(abtest_sim.stats.__file__).parent
    files = sorted(folder.glob("*.py"))
    assert len(files) >= 6
    for path in files:
        for name in imported_roots(path):
            root = name.split(".")[0]
            if root == "abtest_sim":
                assert name.startswith("abtest_sim.stats"), (path.name, name)
            else:
                assert root in ALLOWED or root in sys.stdlib_module_names, (path.name, name)


@pytest.mark.slow
def test_the_statistics_apps_start_and_report_without_torch(tmp_path) -> None:
    """abtest-analyze, abtest-sim-plan and abtest-sim-aggregate import no torch (3 s of start-up
    a statistics user would pay for nothing); abtest-analyze writes a whole report without it."""
    import subprocess

    import numpy as np
    import polars as pl

    rng = np.random.default_rng(0)
    impressions = rng.integers(1, 5, 400)
    pl.DataFrame(
        {"unit": np.arange(400) % 100, "arm": np.where(np.arange(400) % 100 < 50, "A", "B"),
         "day": np.arange(400) // 100, "clicks": rng.binomial(impressions, 0.2),
         "impressions": impressions}
    ).write_csv(tmp_path / "log.csv")  # fmt: skip
    code = (
        "import sys\n"
        "import abtest_sim.apps.plan, abtest_sim.apps.aggregate\n"
        "from abtest_sim.apps.analyze import main\n"
        f"sys.argv = ['abtest-analyze', 'input={tmp_path / 'log.csv'}', 'control=A',\n"
        f"            'treatment=B', 'out={tmp_path / 'out'}']\n"
        "main()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "out" / "report" / "report.md").is_file()
