"""How long the simulated production system takes to reach steady state after the warm-up.

Runs ``abtest-sim`` with a long burn-in (one shared lineage serving every user, retrained nightly
with the control's settings) and prints the lineage's true CTR (mean p_true of what it served) per
day and its change against the same weekday a week earlier (weekday effects cancel).

    python benchmarks/burnin_curve.py --days 42 --run-dir /tmp/burnin
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import polars as pl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=42, help="burn-in days")
    parser.add_argument("--run-dir", type=Path, default=Path("/tmp/burnin-curve"))
    parser.add_argument("overrides", nargs="*", help="more abtest-sim overrides")
    args = parser.parse_args()
    if not (args.run_dir / "report").is_dir():
        command = [
            sys.executable, "-m", "abtest_sim", f"run_dir={args.run_dir}",
            f"experiment.burnin_days={args.days}", "experiment.aa_days=1",
            "experiment.ab_days=1", "warmup_cache=null", "progress=false",
            "experiment.launch_truth=false", *args.overrides,
        ]  # fmt: skip
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    daily = (
        pl.scan_parquet(str(args.run_dir / "logs" / "arm=burnin" / "*" / "part-0.parquet"))
        .group_by("day")
        .agg(pl.col("p_true").cast(pl.Float64).mean().alias("true_ctr"))
        .sort("day")
        .collect()
    )
    ctr = daily["true_ctr"].to_list()
    print("burn-in day  true CTR  change vs a week earlier")
    for index, (day, value) in enumerate(zip(daily["day"], ctr, strict=True)):
        week = f"{100 * (value / ctr[index - 7] - 1):+6.1f}%" if index >= 7 else ""
        print(f"{index + 1:>11}  {100 * value:7.3f}%  {week}  (simulated day {day})")


if __name__ == "__main__":
    main()
