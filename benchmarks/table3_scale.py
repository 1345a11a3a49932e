"""Wall time and peak memory of ``abtest-sim experiment=table3`` (the paper's scale), and where the
time goes (the run's timings.json, wall seconds per stage).

    python benchmarks/table3_scale.py                       # 300k users per group, 2+7+7 days
    python benchmarks/table3_scale.py world.n_users=60000   # any abtest-sim override

Target: under 20 minutes on a 2-core machine.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

from abtest_sim.cli import CONF_DIR, simulate


def main(overrides: list[str]) -> None:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(
            "simulate",
            overrides=["experiment=table3", "warmup_cache=null", "progress=false", *overrides],
        )
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        summary = simulate(cfg, Path(tmp))
        wall = time.perf_counter() - started
        stages = json.loads((Path(tmp) / "timings.json").read_text())
        report = (Path(tmp) / "report" / "report.md").read_text()
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    # retrain_workers: the largest worker's peak (they run side by side, one per arm)
    worker_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    print(f"experiment=table3 {' '.join(overrides)}")
    print(f"users per arm: {summary['users']}")
    print(f"wall time: {wall / 60:.1f} min, peak memory (max RSS): {peak_gib:.2f} GiB", end="")
    print(f" + retraining workers {worker_gib:.2f} GiB each" if worker_gib else "")
    for stage, seconds in sorted(stages.items(), key=lambda item: -item[1]):
        print(f"  {stage:<36} {seconds:8.1f} s  {100 * seconds / wall:5.1f}%")
    print(f"  {'report':<36} {wall - sum(stages.values()):8.1f} s")
    print()
    print(report)


if __name__ == "__main__":
    main(sys.argv[1:])
