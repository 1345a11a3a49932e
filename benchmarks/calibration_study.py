"""Calibration of a design's intervals, measured by ``abtest-sim-forecast`` on independent A/As.

One call of the app per design (any abtest-sim overrides): ``--aa`` A/A replicates (every arm
trained as the control, so the true lift is 0) and ``--worlds`` A/B tests, each in its own world
(seed; the salt of the split derives from it). Per estimator the forecast gives, each replicate
counted once with Wilson intervals:

- the A/A false-positive rate of the sampling interval alone (what a run without the lineage
  component reports);
- the lineage SD (mean(lift^2) - mean(se^2), bootstrap interval) and the false-positive rate with
  it **out of sample**: the A/As in two halves by seed, each half's rejections counted with the SD
  measured on the other half;
- how often the sampling interval holds the estimator's own test target (what it converges to in
  that run, the lineages' divergence included).

The forecast's files are copied to ``--out/<name>/`` and ``--out/README.md`` tabulates every
design measured there. The app resumes: a rerun with more A/As keeps the finished ones.

    python benchmarks/calibration_study.py --name tau3_6000users --aa 400 -- \\
        experiment=smoke world.n_users=6000 world.drift_tau=3
    python benchmarks/calibration_study.py --name movielens100k --aa 400 -- \\
        experiment=smoke world=movielens100k
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

FILES = ("forecast.md", "forecast.json", "launch_curve.png")  # the page is the same figures


def run_design(args: argparse.Namespace) -> Path:
    """The forecast of the design, in ``--work/<name>`` (resumed if there)."""
    work = args.work / args.name
    command = [
        sys.executable, "-m", "abtest_sim.apps.forecast", *args.overrides,
        f"forecast.worlds={args.worlds}", f"forecast.aa_runs={args.aa}",
        f"forecast.jobs={args.jobs}", f"forecast.out={work}",
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True)
    print(f"{args.name}: {time.perf_counter() - started:.0f} s")
    target = args.out / args.name
    target.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copyfile(work / name, target / name)
    return target


def _rate(r: dict[str, Any]) -> str:
    share = f"{100 * r['value']:.1f}% [{100 * r['low']:.1f}, {100 * r['high']:.1f}]"
    return f"{share} ({r['successes']}/{r['trials']})"


def _rows(folder: Path) -> list[str]:
    data = json.loads((folder / "forecast.json").read_text())
    f, context = data["forecast"], data["context"]
    command = context["command"].split(" forecast.")[0]
    rows = []
    for name, v in f["validity"].items():
        lead = " (headline)" if name == f["headline"] else ""
        sd = (
            f"{100 * v['lineage_sd']:.2f}% [{100 * v['lineage_sd_low']:.2f}, "
            f"{100 * v['lineage_sd_high']:.2f}]"
        )
        covers = _rate(v["covers_target"]) if "covers_target" in v else "n/a"
        rows.append(
            f"| `{folder.name}` | {name}{lead} | {f['aa_runs']} | {_rate(v['false_positives'])} "
            f"| {sd} | {_rate(v['false_positives_with_lineage'])} | {covers} |"
        )
    rows.append(f"|  | command: `{command}` |  |  |  |  |  |")
    return rows


def write_table(out: Path) -> str:
    """README.md over every design measured under ``out``."""
    lines = [
        "# Calibration of designs nobody tuned (abtest-sim-forecast)",
        "",
        "Written by `benchmarks/calibration_study.py` (commands in its docstring and in each row).",
        "Each A/A replicate is an independent world and split, counted once; Wilson 95% intervals.",
        "'held out': each half of the A/As (by seed parity) is tested with the lineage SD measured",
        "on the other half. 'covers target': the sampling interval holds the estimator's own test",
        "target (what it converges to in that run, the lineages' divergence included).",
        "",
        "| design | estimator | A/As | false positives, sampling only | lineage SD [95%] "
        "| false positives, lineage SD held out | covers target |",
        "|---|---|---|---|---|---|---|",
    ]
    for folder in sorted(p for p in out.iterdir() if (p / "forecast.json").is_file()):
        lines += _rows(folder)
    text = "\n".join(lines) + "\n"
    (out / "README.md").write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="the design's folder under --out")
    parser.add_argument("--aa", type=int, default=200, help="A/A replicates")
    parser.add_argument("--worlds", type=int, default=4, help="A/B tests (worlds)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel runs")
    parser.add_argument("--work", type=Path, default=Path("multirun/calibration_designs"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/calibration_designs"))
    parser.add_argument("overrides", nargs="*", help="the design: abtest-sim overrides")
    args = parser.parse_args()
    run_design(args)
    print(write_table(args.out))


if __name__ == "__main__":
    main()
