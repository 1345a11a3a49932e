"""How long the simulated production system takes to reach steady state after the warm-up.

Runs ``abtest-sim`` with a long burn-in (one shared lineage serving every user, retrained nightly
with the control's settings) and prints the lineage's true CTR (mean p_true of what it served) per
day and its change against the same weekday a week earlier (weekday effects cancel).

    python benchmarks/burnin_curve.py --days 42 --run-dir /tmp/burnin \
        --out benchmarks/results/burnin.md
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
    parser.add_argument("--out", type=Path, help="also write the table here (markdown)")
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
        pl.scan_parquet(
            str(args.run_dir / "truth" / "served" / "arm=burnin" / "*" / "part-0.parquet")
        )
        .group_by("day")
        .agg(pl.col("p_true").cast(pl.Float64).mean().alias("true_ctr"))
        .sort("day")
        .collect()
    )
    ctr = daily["true_ctr"].to_list()
    lines = [
        "| burn-in day | simulated day | true CTR | change vs a week earlier |",
        "|---|---|---|---|",
    ]
    for index, (day, value) in enumerate(zip(daily["day"], ctr, strict=True)):
        week = f"{100 * (value / ctr[index - 7] - 1):+.1f}%" if index >= 7 else ""
        lines.append(f"| {index + 1} | {day} | {100 * value:.3f}% | {week} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        command = " ".join(["python benchmarks/burnin_curve.py", f"--days {args.days}",
                            *args.overrides])  # fmt: skip
        args.out.write_text(
            "# Burn-in: how long the simulated production system takes to settle\n\n"
            f"Command: `{command}` (default world, 20k users; one shared lineage serves every "
            "user and retrains nightly with the control's settings after the random-slate "
            "warm-up). True CTR: mean p_true of what it served.\n\n" + table + "\n"
        )


if __name__ == "__main__":
    main()
