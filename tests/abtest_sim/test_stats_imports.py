"""abtest_sim.stats works on any log: it imports neither torch nor the simulator."""

import ast
import sys
from pathlib import Path

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
