"""Where ReLoop pays: its steady-state launch effect over drift speed, data volume and window.

One axis at a time around a default cell (drift_tau 7, activity_mean 2, window 1 day), each cell
measured as ``paired_launch.py`` measures the default world: per seed one paired run (a BCE
control and ReLoop at alpha 0.1 / 0.3 / 0.5, every arm serving every user: launch lineages) after
``--burnin`` days, and the launch effect of each alpha is its pooled true-CTR lift over the
control on the ``--days`` A/B days (``paired_launch.run_seed`` and ``launch_lifts``).

- drift: ``world.drift_tau`` in 1, 3, 7, 30 days and a static world (``drift_tau=1e12``: a zero
  OU step in float32, and ``regime_shift_prob=0``: no interest changes; items still turn over);
- volume: ``world.activity_mean`` (requests per user and day) at drift_tau 7;
- window: ``window_days`` of every arm (control and burn-in included) at drift_tau 7.

Beside each cell's effect, two paired contrasts (t intervals over the shared seeds): the cell
minus the default cell, and alpha 0.3 / 0.5 minus alpha 0.1 in the same runs (dose-response).

Runs go axis by axis, seed-major (a grid stopped by ``--stop-after`` has balanced seeds); finished
runs are skipped (a rerun resumes) and their bulky files removed.

    python benchmarks/reloop_map.py --seeds 10 --jobs 1 --threads 1 \\
        world=small world.n_users=3000 world.n_items=1200
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.colors import TwoSlopeNorm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired_launch import ALPHAS, arm_name, launch_lifts, run_seed, t_interval

STATIC_TAU = 1e12  # exp(-1/tau) rounds to 1 in float32: the OU step is exactly zero
HEAVY = ("logs", "models", "checkpoint", "launch", "truth/served")
READING = "## Reading"


@dataclass(frozen=True)
class Cell:
    """One point of the map: world drift (None: static), activity and every arm's window."""

    drift_tau: float | None = 7.0
    activity: float = 2.0
    window: int = 1

    @property
    def name(self) -> str:
        tau = "static" if self.drift_tau is None else f"{self.drift_tau:g}"
        return f"tau{tau}_act{self.activity:g}_win{self.window}"

    def overrides(self) -> list[str]:
        if self.drift_tau is None:
            out = [f"world.drift_tau={STATIC_TAU:g}", "world.regime_shift_prob=0"]
        else:
            out = [f"world.drift_tau={self.drift_tau:g}"]
        out.append(f"world.activity_mean={self.activity:g}")
        if self.window != 1:
            arms = ["control", *(arm_name(a) for a in ALPHAS)]
            out += [f"arm.{arm}.window_days={self.window}" for arm in arms]
        return out


def design(args: argparse.Namespace) -> dict[str, list[Cell]]:
    """The axes in priority order, each a list of cells through the default one."""
    return {
        "drift": [Cell(drift_tau=t) for t in args.taus] + [Cell(drift_tau=None)],
        "volume": [Cell(activity=a) for a in args.activities],
        "window": [Cell(window=w) for w in args.windows],
    }


def level(axis: str, cell: Cell) -> str:
    if axis == "drift":
        return "static" if cell.drift_tau is None else f"tau={cell.drift_tau:g}"
    return f"act={cell.activity:g}" if axis == "volume" else f"win={cell.window}"


def plan(axes: dict[str, list[Cell]], seeds: int) -> Iterator[tuple[Cell, int]]:
    """(cell, seed) in priority order: axis by axis, seed-major, each run once."""
    seen: set[tuple[Cell, int]] = set()
    for cells in axes.values():
        for seed in range(seeds):
            for cell in cells:
                if (cell, seed) not in seen:
                    seen.add((cell, seed))
                    yield cell, seed


def run(cell: Cell, seed: int, args: argparse.Namespace) -> None:
    """One paired run (skipped if finished); record its wall time, drop its bulky files."""
    run_dir = args.work / cell.name / f"seed-{seed}"
    if (run_dir / "unit_days.parquet").is_file():
        return
    started = time.perf_counter()
    run_seed(seed, args, work=run_dir.parent, extra=cell.overrides())
    wall = time.perf_counter() - started
    (run_dir / "wall.json").write_text(json.dumps({"wall_s": wall}))
    for name in HEAVY:
        shutil.rmtree(run_dir / name, ignore_errors=True)


def collect(axes: dict[str, list[Cell]], args: argparse.Namespace) -> pl.DataFrame:
    """Per finished run and alpha: pooled and mean-of-daily launch effect, wall time."""
    rows = []
    cells = {cell for cells in axes.values() for cell in cells}
    for cell in sorted(cells, key=lambda c: c.name):
        for run_dir in sorted((args.work / cell.name).glob("seed-*")):
            if not (run_dir / "unit_days.parquet").is_file():
                continue
            wall_file = run_dir / "wall.json"
            wall = json.loads(wall_file.read_text())["wall_s"] if wall_file.is_file() else None
            for arm, (pooled, daily) in launch_lifts(run_dir).items():
                rows.append(
                    {
                        "cell": cell.name,
                        "seed": int(run_dir.name.removeprefix("seed-")),
                        "alpha": float(arm.removeprefix("reloop")) / 10,
                        "pooled": pooled,
                        "mean_daily": daily,
                        "wall_s": wall,
                    }
                )
    return pl.DataFrame(rows)


def summarise(axes: dict[str, list[Cell]], runs: pl.DataFrame) -> pl.DataFrame:
    """Per axis, level and alpha: mean over seeds, t interval, SD, wins."""
    rows = []
    for axis, cells in axes.items():
        for cell in cells:
            for alpha in ALPHAS:
                mine = runs.filter((pl.col("cell") == cell.name) & (pl.col("alpha") == alpha))
                values = mine["pooled"].to_numpy() if mine.height else np.array([])
                mean, half, sd = t_interval(values)
                rows.append(
                    {
                        "axis": axis,
                        "level": level(axis, cell),
                        "drift_tau": level("drift", cell).removeprefix("tau="),
                        "activity_mean": cell.activity,
                        "window_days": cell.window,
                        "alpha": alpha,
                        "seeds": int(values.size),
                        "mean": mean,
                        "ci_low": mean - half,
                        "ci_high": mean + half,
                        "sd": sd,
                        "wins": int((values > 0).sum()),
                        "mean_daily": float(mine["mean_daily"].mean()) if mine.height else None,
                        **contrast(runs, (cell, alpha), (Cell(), alpha), "vs_default"),
                        **contrast(runs, (cell, alpha), (cell, ALPHAS[0]), f"vs_alpha{ALPHAS[0]}"),
                        "cell": cell.name,
                    }
                )
    table = pl.DataFrame(rows)
    # polars orders NaN above every number: an interval needs two seeds before it excludes 0
    defined = (pl.col("seeds") >= 2) & pl.col("ci_low").is_not_nan()
    excludes = defined & ((pl.col("ci_low") > 0) | (pl.col("ci_high") < 0))
    return table.with_columns(ci_excludes_0=excludes.fill_null(False))


def contrast(
    runs: pl.DataFrame, this: tuple[Cell, float], that: tuple[Cell, float], prefix: str
) -> dict[str, float | None]:
    """``this`` minus ``that`` (cell, alpha) over the seeds both have: mean and 95% t interval
    (None where they are the same, or fewer than two seeds pair up)."""
    keys = (f"{prefix}_mean", f"{prefix}_ci_low", f"{prefix}_ci_high")
    if this == that or runs.is_empty():
        return dict.fromkeys(keys)

    def pick(cell: Cell, alpha: float, name: str) -> pl.DataFrame:
        mine = runs.filter((pl.col("cell") == cell.name) & (pl.col("alpha") == alpha))
        return mine.select("seed", pl.col("pooled").alias(name))

    both = pick(*this, "a").join(pick(*that, "b"), on="seed")
    if both.height < 2:
        return dict.fromkeys(keys)
    mean, half, _ = t_interval((both["a"] - both["b"]).to_numpy())
    return dict(zip(keys, (mean, mean - half, mean + half), strict=True))


def pct(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:+.2f}%"


def cell_text(row: dict) -> str:
    mark = "**" if row["ci_excludes_0"] else ""
    interval = f"[{pct(row['ci_low'])}, {pct(row['ci_high'])}]"
    return f"{mark}{pct(row['mean'])}{mark} {interval} {row['wins']}/{row['seeds']}"


def tables(summary: pl.DataFrame, target: int) -> list[str]:
    lines = []
    for axis in summary["axis"].unique(maintain_order=True):
        part = summary.filter(pl.col("axis") == axis)
        lines += ["", f"### {axis}", ""]
        lines += ["| level | " + " | ".join(f"alpha {a}" for a in ALPHAS) + " |"]
        lines += ["|---|" + "---|" * len(ALPHAS)]
        for lvl in part["level"].unique(maintain_order=True):
            rows = part.filter(pl.col("level") == lvl).sort("alpha").to_dicts()
            seeds = rows[0]["seeds"]
            note = "" if seeds >= target else f" ({seeds} of {target} seeds)"
            lines.append(f"| {lvl}{note} | " + " | ".join(cell_text(r) for r in rows) + " |")
        lines += [
            "",
            f"Change along the {axis} axis: each level minus the default cell, same seeds:",
        ]
        lines += contrast_table(part.filter(pl.col("vs_default_mean").is_not_null()), "vs_default")
    return lines


def contrast_table(
    part: pl.DataFrame, prefix: str, alphas: tuple[float, ...] = ALPHAS
) -> list[str]:
    """Rows of ``part`` (one level per row group) with the ``prefix`` contrast per alpha."""
    lines = ["", "| level | " + " | ".join(f"alpha {a}" for a in alphas) + " |"]
    lines += ["|---|" + "---|" * len(alphas)]
    for lvl in part["level"].unique(maintain_order=True):
        rows = part.filter(pl.col("level") == lvl).sort("alpha").to_dicts()
        texts = [
            f"{pct(r[f'{prefix}_mean'])} [{pct(r[f'{prefix}_ci_low'])}, "
            f"{pct(r[f'{prefix}_ci_high'])}]"
            for r in rows
            if r["alpha"] in alphas
        ]
        lines.append(f"| {lvl} | " + " | ".join(texts) + " |")
    return lines


def alpha_table(summary: pl.DataFrame) -> list[str]:
    """Each alpha against the smallest one inside the same runs (one row per cell)."""
    first = summary.unique("cell", keep="first", maintain_order=True)
    cells = summary.filter(pl.col("axis").is_in(first["axis"].unique().to_list()))
    rows = cells.join(first.select("cell", "axis"), on=["cell", "axis"])
    return [
        "",
        f"ReLoop at each alpha minus ReLoop at alpha {ALPHAS[0]}, same runs (a dose-response "
        "check: every run has all three alphas and one control):",
        *contrast_table(rows, f"vs_alpha{ALPHAS[0]}", ALPHAS[1:]),
    ]


def heatmaps(summary: pl.DataFrame, out_dir: Path) -> list[Path]:
    """One PNG per alpha: a strip per axis, cells coloured by the mean effect (centred at 0, one
    scale for every alpha), a gold frame and a star where the 95% interval excludes 0."""
    finite = summary["mean"].drop_nans().drop_nulls().abs()
    bound = 100 * max(float(finite.max() or 0.0), 1e-4)
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-bound, vmax=bound)
    axes_names = summary["axis"].unique(maintain_order=True).to_list()
    width = int(summary.group_by("axis", "alpha").len()["len"].max() or 1)
    paths = []
    for alpha in ALPHAS:
        fig, panels = plt.subplots(len(axes_names), 1, figsize=(8.5, 1.3 * len(axes_names) + 0.9))
        panels = np.atleast_1d(panels)
        for panel, axis in zip(panels, axes_names, strict=True):
            part = summary.filter((pl.col("axis") == axis) & (pl.col("alpha") == alpha))
            strip(panel, part, norm, axis, width)
        fig.suptitle(f"ReLoop alpha {alpha} vs BCE: launch effect, mean over seeds [95% CI]")
        note = "* and gold frame: the 95% t interval over seeds excludes 0; blue: ReLoop ahead"
        fig.text(0.01, 0.01, note, fontsize=8)
        mappable = plt.cm.ScalarMappable(norm=norm, cmap="RdBu")
        fig.colorbar(mappable, ax=list(panels), label="true-CTR lift, %", shrink=0.8)
        path = out_dir / f"reloop_map_alpha{alpha}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        paths.append(path)
    return paths


def strip(panel: plt.Axes, part: pl.DataFrame, norm: TwoSlopeNorm, axis: str, width: int) -> None:
    """One axis as a 1 x n heat strip, padded to ``width`` cells so every cell has one size."""
    means = 100 * part["mean"].fill_null(float("nan")).to_numpy()[None, :]
    panel.imshow(means, cmap="RdBu", norm=norm, aspect="auto")
    panel.set_xlim(-0.5, width - 0.5)
    for i, row in enumerate(part.iter_rows(named=True)):
        star = "*" if row["ci_excludes_0"] else ""
        text = (
            f"{pct(row['mean'])}{star}\n[{pct(row['ci_low'])}, {pct(row['ci_high'])}]"
            f"\n{row['wins']}/{row['seeds']} wins"
        )
        dark = math.isfinite(means[0, i]) and abs(means[0, i]) > 0.6 * norm.vmax
        panel.text(i, 0, text, ha="center", va="center", fontsize=7.5,
                   color="white" if dark else "black")  # fmt: skip
        if row["ci_excludes_0"]:
            frame = plt.Rectangle((i - 0.46, -0.44), 0.92, 0.88, fill=False, lw=3, ec="gold")
            panel.add_patch(frame)
    panel.set_xticks(range(part.height), part["level"].to_list(), fontsize=8)
    panel.set_yticks([0], [axis])
    for side in ("top", "right"):
        panel.spines[side].set_visible(False)


def scale(args: argparse.Namespace) -> str:
    """The world and model of the default cell's first finished run, from its config.json."""
    found = sorted((args.work / Cell().name).glob("seed-*/config.json"))
    if not found:
        return "no finished run of the default cell"
    config = json.loads(found[0].read_text())
    world, model = config["world"], config["model"]
    return (
        f"{world['n_users']:,} users, {world['n_items']:,} live items, "
        f"{world['n_categories']} categories, latent_dim {world['latent_dim']}, "
        f"{world['n_candidates']} candidates, slate {config['experiment']['slate_size']}; "
        f"{model['name']} {model['embedding_dim']}-dim embeddings, MLP {model['hidden_units']}"
    )


def render(summary: pl.DataFrame, runs: pl.DataFrame, args: argparse.Namespace) -> str:
    command = " ".join(
        ["python benchmarks/reloop_map.py", f"--seeds {args.seeds}", f"--burnin {args.burnin}",
         f"--days {args.days}", f"--jobs {args.jobs}", f"--threads {args.threads}",
         *args.overrides]
    )  # fmt: skip
    walls = runs.unique(["cell", "seed"])["wall_s"].drop_nulls()
    timing = (
        f"{walls.len()} runs timed here: median {walls.median():.0f} s, "
        f"range {walls.min():.0f}-{walls.max():.0f} s per paired run"
        if walls.len()
        else "no run timed here"
    )
    lines = [
        "# Where ReLoop pays: launch effect against BCE by drift, volume and window",
        "",
        f"Command: `{command}`. Scale: {scale(args)}.",
        "",
        f"Per cell and seed one paired run ({args.burnin} burn-in days, "
        f"1 A/A day, {args.days} A/B days; BCE control and ReLoop at alpha "
        f"{', '.join(map(str, ALPHAS))}, every arm serving every user). {timing}.",
        "",
        "Each entry: pooled true-CTR lift of ReLoop over BCE on the A/B days, mean over seeds "
        "[95% t interval], seeds where ReLoop wins / seeds; **bold** where the interval "
        "excludes 0. One axis at a time around the default cell (tau=7, act=2, win=1), which "
        "appears in every axis.",
        *tables(summary, args.seeds),
        *alpha_table(summary),
    ]
    return "\n".join(lines) + "\n"


def write(axes: dict[str, list[Cell]], args: argparse.Namespace) -> str:
    runs = collect(axes, args)
    summary = summarise(axes, runs)
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    summary.drop("cell").write_csv(out.with_suffix(".csv"), float_precision=6)
    runs.sort("cell", "seed", "alpha").write_csv(
        out.with_name(out.stem + "_seeds.csv"), float_precision=6
    )
    heatmaps(summary, out.parent)
    kept = out.read_text().partition(READING)[1:] if out.is_file() else ("", "")
    text = render(summary, runs, args) + ("\n" + "".join(kept) if kept[0] else "")
    out.write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--burnin", type=int, default=28)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--jobs", type=int, default=1, help="only 1: runs go one at a time")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--taus", type=float, nargs="+", default=[1.0, 3.0, 7.0, 30.0])
    parser.add_argument("--activities", type=float, nargs="+", default=[1.0, 2.0, 4.0])
    parser.add_argument("--windows", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--stop-after", type=float, default=None, help="minutes: no new runs")
    parser.add_argument("--report-only", action="store_true", help="write up finished runs")
    parser.add_argument("--work", type=Path, default=Path("multirun/reloop_map"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/reloop_map.md"))
    parser.add_argument("overrides", nargs="*", help="abtest-sim overrides for every run")
    args = parser.parse_args()
    if args.jobs != 1:
        parser.error("--jobs must be 1: the grid runs one simulation at a time")
    axes = design(args)
    started = time.perf_counter()
    for cell, seed in [] if args.report_only else plan(axes, args.seeds):
        if args.stop_after is not None and time.perf_counter() - started > 60 * args.stop_after:
            print("stop-after reached: no new runs", flush=True)
            break
        run(cell, seed, args)
    print(write(axes, args))


if __name__ == "__main__":
    main()
