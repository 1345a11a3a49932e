"""Calibration sweep: are the report's intervals right, against which truth, with which noise?
(The measurement behind ``results/calibration/`` and ``results/lineage_default/``, through
``abtest-sim-aggregate``; the per-design study through ``abtest-sim-forecast``, with the lineage
SD held out, is ``calibration_study.py``.)

Runs, on Hydra's joblib launcher, independent replicates of ``experiment=calibration`` (a reduced
world: seeds differ, and so do the salts derived from them):

- ``--aa`` A/A tests (the treatment trains exactly as the control): the false-positive rate of
  every estimator, the lineage variance (the spread the per-user intervals do not contain);
- ``--ab`` A/B tests (ReLoop, alpha 0.5, with launch lineages): each estimator's coverage of the
  launch effect and of the test's target, without and with the lineage component.

Then ``abtest-sim-aggregate`` over both (each A/A run and each A/A week counted once), and the
figures are printed and saved under ``--out`` (``report.md``, ``summary.csv``, ``lineage.csv``).
Seeds run in chunks; a chunk's heavy files (logs, models, checkpoints) are removed once its
reports are written, so 1,200 runs fit on a small disk. Finished chunks are skipped on a rerun.

    python benchmarks/calibration_sweep.py --aa 1000 --ab 200 --out benchmarks/results/calibration
    python benchmarks/calibration_sweep.py --experiment default --aa 30 --ab 0 \
        --work multirun/lineage_default --out benchmarks/results/lineage_default
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("logs", "launch", "models", "checkpoint", "truth")


def sweep(kind: str, seeds: range, root: Path, args: argparse.Namespace) -> None:
    """One chunk of seeds of one kind of test, skipped if already finished."""
    folder = root / kind / f"seeds-{seeds.start}-{seeds.stop - 1}"
    if (folder / ".done").is_file():
        return
    recipe = (
        ["arm.treatment.recipe=baseline", "experiment.launch_truth=false"]
        if kind == "aa"
        else ["arm.treatment.recipe=reloop", "arm.treatment.alpha=0.5"]
    )
    command = [
        sys.executable, "-m", "abtest_sim", "-m",
        f"experiment={args.experiment}", f"seed=range({seeds.start},{seeds.stop})", *recipe,
        "torch_threads=1", "progress=false", "report_plots=false", "warmup_cache=null",
        f"hydra.sweep.dir={folder}", f"hydra.launcher.n_jobs={args.jobs}", *args.overrides,
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    for run in folder.iterdir():
        for name in HEAVY:
            shutil.rmtree(run / name, ignore_errors=True)
    (folder / ".done").touch()
    print(f"{kind} seeds {seeds.start}-{seeds.stop - 1}: {time.perf_counter() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aa", type=int, default=1000, help="A/A replicates")
    parser.add_argument("--ab", type=int, default=200, help="A/B replicates")
    parser.add_argument("--chunk", type=int, default=100, help="seeds per sweep")
    parser.add_argument("--jobs", type=int, default=2, help="parallel runs")
    parser.add_argument("--work", type=Path, default=Path("multirun/calibration"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/calibration"))
    parser.add_argument("--experiment", default="calibration", help="conf/experiment design")
    parser.add_argument("overrides", nargs="*", help="more abtest-sim overrides")
    args = parser.parse_args()
    for kind, count in (("aa", args.aa), ("ab", args.ab)):
        for start in range(0, count, args.chunk):
            sweep(kind, range(start, min(start + args.chunk, count)), args.work, args)
    command = [sys.executable, "-m", "abtest_sim.apps.aggregate", f"input={args.work}"]
    subprocess.run([*command, f"out={args.out.resolve()}"], check=True)
    for name in ("runs.csv",):  # per-run rows stay in the work dir: small files only here
        (args.out / name).unlink(missing_ok=True)
    print((args.out / "report.md").read_text())


if __name__ == "__main__":
    main()
