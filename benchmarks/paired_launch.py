"""The launch effect of ReLoop against BCE at steady state, over independent seeds, from paired
runs (the measurement behind ``results/reloop_verdict.md`` and ``reloop_map.py``; the same figure
for any recipe and design, with the test that would see it, is ``reloop_verdict.py``, a call of
``abtest-sim-forecast``).

For each seed, one paired run (``experiment.paired=true``: every arm serves every user and trains
on every user's logs, so every arm is its recipe's launch lineage) after a burn-in of
``--burnin`` days: a BCE control and one ReLoop arm per alpha, all starting from the burn-in's
model, one A/A day (every arm trains its recipe that night, as on a test's last A/A night), then
``--days`` A/B days on which each arm retrains nightly with its recipe. The launch effect
of an alpha is the true CTR (expected clicks from p_true over impressions) of its arm over the
control's, per day; reported as the pooled ratio over the days and the mean of the daily ratios,
with the mean over seeds, its SD and a t interval, and the share of seeds where ReLoop wins.

    python benchmarks/paired_launch.py --seeds 20 --out benchmarks/results/reloop_verdict.md
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats

ALPHAS = (0.1, 0.3, 0.5)


def arm_name(alpha: float) -> str:
    """The paired run's arm of ReLoop at ``alpha`` (``reloop1`` for 0.1)."""
    return f"reloop{round(alpha * 10)}"


def run_seed(
    seed: int, args: argparse.Namespace, work: Path | None = None, extra: Sequence[str] = ()
) -> Path:
    """One paired run of ``seed`` under ``work`` (default ``args.work``), skipped if finished.

    ``extra`` overrides follow ``args.overrides``; every run shares the warm-up cache
    ``args.work / "cache"``."""
    run_dir = (work or args.work) / f"seed-{seed}"
    if (run_dir / "unit_days.parquet").is_file():
        return run_dir
    arms = []
    for alpha in ALPHAS:
        name = arm_name(alpha)
        arms += [f"+arm@arm.{name}=reloop", f"arm.{name}.alpha={alpha}"]
    treatments = ",".join(arm_name(a) for a in ALPHAS)
    command = [
        sys.executable, "-m", "abtest_sim", f"run_dir={run_dir}", f"seed={seed}",
        "experiment.paired=true", "experiment.aa_days=1", f"experiment.ab_days={args.days}",
        f"experiment.burnin_days={args.burnin}", f"experiment.treatments=[{treatments}]",
        "arm.treatment.recipe=reloop", "arm.treatment.alpha=0.5", *arms,
        f"torch_threads={args.threads}", "progress=false", "report_plots=false",
        f"warmup_cache={args.work / 'cache'}", *args.overrides, *extra,
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    print(f"seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    return run_dir


def launch_lifts(run_dir: Path) -> dict[str, tuple[float, float]]:
    """Per treatment arm: (pooled, mean of daily) true-CTR lift over the control."""
    # The A/B days only: the first night of A/B training is the last A/A night, as in a test.
    table = pl.read_parquet(run_dir / "unit_days.parquet").filter(pl.col("phase") == "ab")
    daily = table.group_by("arm", "day").agg(
        pl.col("true_clicks").sum(), pl.col("impressions").sum()
    )
    wide = daily.with_columns(ctr=pl.col("true_clicks") / pl.col("impressions"))
    ctr = wide.pivot("arm", index="day", values="ctr").sort("day")
    totals = daily.group_by("arm").agg(pl.col("true_clicks").sum(), pl.col("impressions").sum())
    pooled = dict(
        zip(totals["arm"], (totals["true_clicks"] / totals["impressions"]).to_list(), strict=True)
    )
    out = {}
    for alpha in ALPHAS:
        arm = arm_name(alpha)
        out[arm] = (
            pooled[arm] / pooled["control"] - 1,
            float((ctr[arm] / ctr["control"] - 1).mean()),
        )
    return out


def t_interval(values: np.ndarray) -> tuple[float, float, float]:
    """Mean over seeds, half-width of its 95% t interval, and SD (nan below two seeds)."""
    if values.size < 2:
        return float(values.mean()) if values.size else float("nan"), float("nan"), float("nan")
    sd = float(values.std(ddof=1))
    half = float(stats.t.ppf(0.975, values.size - 1)) * sd / np.sqrt(values.size)
    return float(values.mean()), half, sd


def render(results: dict[int, dict[str, tuple[float, float]]], args: argparse.Namespace) -> str:
    lines = [
        "# ReLoop's launch effect at steady state "
        f"({' '.join(args.overrides) if args.overrides else 'default world'})",
        "",
        f"Command: `python benchmarks/paired_launch.py --seeds {args.seeds} --burnin "
        f"{args.burnin} --days {args.days}{''.join(' ' + o for o in args.overrides)}`. "
        f"{len(results)} seeds; per seed one paired run: "
        f"{args.burnin} burn-in days (one shared BCE lineage serving everyone), then "
        f"one A/A day and {args.days} A/B days on which a BCE control and ReLoop at alpha "
        f"{', '.join(map(str, ALPHAS))} each serve every user and retrain nightly on every "
        "user's logs (launch lineages).",
        "",
        "| alpha | launch effect, pooled: mean [95% t CI] | sd over seeds | mean of daily lifts | "
        "seeds where ReLoop wins |",
        "|---|---|---|---|---|",
    ]
    for alpha in ALPHAS:
        arm = arm_name(alpha)
        pooled = np.array([r[arm][0] for r in results.values()])
        daily = np.array([r[arm][1] for r in results.values()])
        mean, half, sd = t_interval(pooled)
        lines.append(
            f"| {alpha} | {100 * mean:+.2f}% [{100 * (mean - half):+.2f}%, "
            f"{100 * (mean + half):+.2f}%] | {100 * sd:.2f}% | {100 * daily.mean():+.2f}% | "
            f"{int((pooled > 0).sum())}/{pooled.size} |"
        )
    lines += ["", "Per seed (pooled launch effect):", ""]
    lines += ["| seed | " + " | ".join(f"alpha {a}" for a in ALPHAS) + " |"]
    lines += ["|---|" + "---|" * len(ALPHAS)]
    for seed, row in sorted(results.items()):
        cells = [f"{100 * row[arm_name(a)][0]:+.2f}%" for a in ALPHAS]
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--burnin", type=int, default=28)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--jobs", type=int, default=2, help="seeds run at once")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--work", type=Path, default=Path("multirun/reloop_verdict"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/reloop_verdict.md"))
    parser.add_argument("overrides", nargs="*", help="more abtest-sim overrides")
    args = parser.parse_args()
    with ThreadPoolExecutor(args.jobs) as pool:
        dirs = list(pool.map(lambda seed: run_seed(seed, args), range(args.seeds)))
    results = {seed: launch_lifts(d) for seed, d in enumerate(dirs)}
    text = render(results, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
