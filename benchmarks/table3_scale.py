"""Wall time and peak memory of ``abtest-sim experiment=table3`` (the paper's scale), and where the
time goes (the run's timings.json, wall seconds per stage).

    python benchmarks/table3_scale.py                       # 300k users per group, 2+7+7 days
    python benchmarks/table3_scale.py world.n_users=60000   # any abtest-sim override

Target: under 20 minutes on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

from abtest_sim.apps.simulate import CONF_DIR, simulate


class TreeMemory:
    """The peak resident memory of this process and its descendants together (the retraining
    workers), sampled twice a second from /proc (Linux; max RSS is no help here: a spawned
    worker inherits its parent's high-water mark at exec)."""

    def __init__(self, interval: float = 0.5) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(interval,), daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self, interval: float) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.wait(interval):
            total = sum(_resident_pages(pid) for pid in _tree(os.getpid())) * page
            self.peak = max(self.peak, total)


def _tree(pid: int) -> list[int]:
    pids = [pid]
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            kids = [int(child) for child in children.read_text().split()]
        except OSError:
            continue
        for child in kids:
            pids.extend(_tree(child))
    return pids


def _resident_pages(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0  # the process ended between listing and reading


def main(overrides: list[str]) -> None:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(
            "simulate",
            overrides=["experiment=table3", "warmup_cache=null", "progress=false", *overrides],
        )
    with tempfile.TemporaryDirectory() as tmp, TreeMemory() as memory:
        started = time.perf_counter()
        summary = simulate(cfg, Path(tmp))
        wall = time.perf_counter() - started
        stages = json.loads((Path(tmp) / "timings.json").read_text())
        report = (Path(tmp) / "report" / "report.md").read_text()
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"experiment=table3 {' '.join(overrides)}")
    print(f"users per arm: {summary['users']}")
    print(f"wall time: {wall / 60:.1f} min")
    print(
        f"peak memory: {peak_gib:.2f} GiB max RSS of the main process, {memory.peak / 2**30:.2f} "
        "GiB with its retraining workers (sampled RSS of the process tree)"
    )
    for stage, seconds in sorted(stages.items(), key=lambda item: -item[1]):
        print(f"  {stage:<36} {seconds:8.1f} s  {100 * seconds / wall:5.1f}%")
    print(f"  {'report':<36} {wall - sum(stages.values()):8.1f} s")
    print()
    print(report)


if __name__ == "__main__":
    main(sys.argv[1:])
