"""The aggregate's report.md, its tables (shared with report.html) and plots
(``abtest-sim-aggregate``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from abtest_sim.analysis.estimators import estimator_keys
from abtest_sim.report.plots import new_figure, save_png
from abtest_sim.stats.power import power_from_se
from abtest_sim.sweep.validity import LineageVariance

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = [
    "HOW_TO_READ",
    "aa_week_line",
    "configuration_title",
    "estimator_table",
    "figures",
    "ks_line",
    "lineage_table",
    "render",
    "write_plots",
]


def _pct(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{100 * x:+.2f}%"


def _share(row: Mapping[str, Any], prefix: str) -> str:
    value = row.get(prefix)
    if value is None or not math.isfinite(value):
        return "n/a"
    low, high, n = row[f"{prefix}_low"], row[f"{prefix}_high"], row[f"{prefix}_n"]
    return f"{100 * value:.1f}% [{100 * low:.1f}, {100 * high:.1f}] (n={n})"


def _label(row: Mapping[str, Any], keys: list[str]) -> str:
    return ", ".join(f"{k.split('.')[-1]}={row[k]}" for k in keys) or "all"


def estimator_table(row: Mapping[str, Any], alpha: float) -> tuple[list[str], list[list[str]]]:
    """One configuration's estimators: header and rows (the headline's name marked ``*``)."""
    level = round(100 * (1 - alpha))
    header = [
        "Estimator",
        "lift: mean (sd)",
        "launch effect",
        "test target: mean (sd)",
        "bias",
        "rejects (no lineage)",
        "rejects (with lineage)",
        f"{level}% CI covers launch (no / with lineage)",
        f"{level}% CI covers target (no / with lineage)",
    ]
    rows = []
    for name in estimator_keys():
        if row.get(f"{name}_lift_mean") is None:
            continue
        rows.append(
            [
                f"{name}*" if name == row.get("headline") else name,
                f"{_pct(row[f'{name}_lift_mean'])} ({_pct(row[f'{name}_lift_sd'])})",
                _pct(row[f"{name}_launch_mean"]),
                f"{_pct(row[f'{name}_target_mean'])} ({_pct(row[f'{name}_target_sd'])})",
                _pct(row[f"{name}_bias_mean"]),
                _share(row, f"{name}_reject"),
                _share(row, f"{name}_reject_with_lineage"),
                f"{_share(row, f'{name}_covers_launch')} / "
                f"{_share(row, f'{name}_covers_launch_with_lineage')}",
                f"{_share(row, f'{name}_covers_target')} / "
                f"{_share(row, f'{name}_covers_target_with_lineage')}",
            ]
        )
    return header, rows


def _estimator_lines(row: Mapping[str, Any], alpha: float) -> list[str]:
    header, rows = estimator_table(row, alpha)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for cells in rows:
        if cells[0].endswith("*"):
            cells = [f"**{cells[0][:-1]}**", *cells[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


NO_LINEAGE = (
    "No A/A runs (treatment trained exactly as the control) in this sweep: the lineage "
    "variance is not measured and the 'with lineage' columns equal the others. Run an "
    "A/A sweep (arm.treatment.recipe=baseline) to measure it."
)
LINEAGE_INTRO = (
    "Lineage variance, from the distinct A/A runs (true lift zero: mean(lift^2) - mean(se^2), "
    "95% bootstrap interval over runs):"
)
HOW_TO_READ = (
    "How to read it: *rejects* is the share of runs whose test rejects at the chosen level "
    "(power in an A/B, the false-positive rate in an A/A); *launch effect* is the true lift "
    "of shipping (every user on a lineage of the recipe trained on every user); *test "
    "target* is what the arms' own lineages served their own users (what the estimate "
    "converges to); coverage of the target is checked against the run's launch effect plus "
    "the configuration's mean bias (the per-run served-users truth is a noisy proxy of the "
    "target's expectation over the split). 'With lineage' widens every interval by the "
    "lineage variance measured on the A/A runs. Brackets: Wilson intervals."
)


def lineage_table(lineage: Mapping[str, LineageVariance]) -> tuple[list[str], list[list[str]]]:
    header = ["Estimator", "A/A runs", "lineage sd", "lineage variance [95% CI]",
              "share of variance"]  # fmt: skip
    rows = [
        [
            name,
            str(value.runs),
            _pct(value.sd),
            f"{value.variance:.3g} [{value.low:.3g}, {value.high:.3g}]",
            f"{100 * value.share_of_total:.0f}%",
        ]
        for name, value in lineage.items()
    ]
    return header, rows


def _lineage_lines(lineage: Mapping[str, LineageVariance]) -> list[str]:
    if not lineage:
        return [NO_LINEAGE]
    header, rows = lineage_table(lineage)
    lines = [LINEAGE_INTRO, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cells) + " |" for cells in rows]


def configuration_title(row: Mapping[str, Any], keys: list[str]) -> str:
    kind = "A/A: the treatment trains as the control" if row["is_aa"] else "A/B"
    return (
        f"{_label(row, keys)} ({kind}; {row['runs']} runs, "
        f"{row['users_per_arm']:,.0f} users per arm)"
    )


def aa_week_line(row: Mapping[str, Any], alpha: float) -> str:
    return (
        f"A/A weeks (each distinct week once): false-positive rate "
        f"{_share(row, 'aa_week_false_positive')} at nominal {100 * alpha:.0f}%."
    )


def ks_line(ks: tuple[float, int]) -> str:
    return (
        f"A/A-week p-values, each distinct week once: KS test against uniform p = "
        f"{ks[0]:.3f} ({ks[1]} weeks); see `aa_pvalues.png`."
    )


def render(
    summary: pl.DataFrame,
    runs: pl.DataFrame,
    keys: list[str],
    lineage: Mapping[str, LineageVariance],
    ks: tuple[float, int] | None,
    alpha: float,
    paper_users: int,
) -> str:
    grouping = ", ".join(f"`{k}`" for k in keys) or "nothing (one configuration)"
    lines = [
        "# Sweep: what the simulated A/B tests say",
        "",
        f"{runs.height} runs, grouped by {grouping}; seeds (and the salts derived from them) are "
        "the replicates. Each configuration lists every estimator of the A/B lift; the report's "
        "headline estimator is in bold.",
        "",
        *_lineage_lines(lineage),
        "",
    ]
    for row in summary.iter_rows(named=True):
        lines += [
            f"## {configuration_title(row, keys)}",
            "",
            *_estimator_lines(row, alpha),
            "",
            aa_week_line(row, alpha),
            "",
        ]
    if ks is not None:
        lines += [ks_line(ks), ""]
    lines += [
        HOW_TO_READ,
        "",
        f"Plots: `lift_vs_config.png`, `power_vs_users.png` (the planner's power at up to "
        f"{paper_users:,} users per arm), `aa_pvalues.png`.",
    ]
    return "\n".join(lines) + "\n"


def figures(
    runs: pl.DataFrame,
    summary: pl.DataFrame,
    keys: list[str],
    alpha: float,
    paper_users: int,
) -> dict[str, Figure]:
    """The aggregate's figures by name (PNG files and report.html's inline SVGs)."""
    return {
        "lift_vs_config": _lift_plot(summary, keys),
        "power_vs_users": _power_plot(summary, keys, alpha, paper_users),
        "aa_pvalues": _aa_plot(runs, alpha),
    }


def write_plots(drawn: Mapping[str, Figure], folder: Path) -> None:
    for name, figure in drawn.items():
        save_png(figure, folder / f"{name}.png", dpi=120)


def _headline_of(row: Mapping[str, Any]) -> str:
    return row.get("headline") or "pooled"


def _lift_plot(summary: pl.DataFrame, keys: list[str]) -> Figure:
    fig, ax = new_figure(7, 4)
    rows = list(summary.iter_rows(named=True))
    x = np.arange(len(rows))
    for column, label, offset in (
        ("lift", "estimated lift", -0.1),
        ("launch", "launch effect", 0.0),
        ("target", "test target", 0.1),
    ):
        means, halves = [], []
        for row in rows:
            name = _headline_of(row)
            runs = row[f"{name}_reject_n"] or 1
            means.append(100 * (row.get(f"{name}_{column}_mean") or np.nan))
            sd = row.get(f"{name}_lift_sd") if column == "lift" else None
            halves.append(100 * 1.96 * (sd or 0.0) / math.sqrt(runs))
        ax.errorbar(x + offset, means, yerr=halves, fmt="o", capsize=4, label=label)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(x, [_label(r, keys) for r in rows], rotation=20, ha="right")
    ax.set_ylabel("CTR lift (%)")
    ax.set_title("Lift by configuration (headline estimator; bars: 95% CI of the mean)")
    ax.legend()
    return fig


def _power_plot(summary: pl.DataFrame, keys: list[str], alpha: float, paper_users: int) -> Figure:
    fig, ax = new_figure(7, 4)
    for row in summary.iter_rows(named=True):
        name = _headline_of(row)
        users, se = row["users_per_arm"], row.get(f"{name}_se_mean")
        lift = row.get(f"{name}_launch_mean")
        lineage_sd = row.get(f"{name}_lineage_sd_used") or 0.0
        if not all(v is not None and math.isfinite(v) for v in (users, se, lift)):
            continue
        grid = np.geomspace(users / 10, max(users * 10, paper_users * 2), 60)
        # Sampling noise shrinks with users; the lineage component is held at its measured size.
        curve = [
            power_from_se(lift, math.sqrt(se**2 * users / n + lineage_sd**2), alpha=alpha)
            for n in grid
        ]
        line = ax.plot(grid, curve, label=f"{_label(row, keys)}: planned")[0]
        value = row[f"{name}_reject_with_lineage"]
        ax.errorbar(
            [users],
            [value],
            yerr=[
                [value - row[f"{name}_reject_with_lineage_low"]],
                [row[f"{name}_reject_with_lineage_high"] - value],
            ],
            fmt="o",
            color=line.get_color(),
            capsize=4,
        )
    ax.axvline(paper_users, color="grey", ls="--", lw=0.8, label="paper's scale")
    ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_xlabel("users per arm")
    ax.set_ylabel(f"power (two-sided, alpha = {alpha})")
    ax.set_title("Power at the mean launch effect: planned (line) and empirical (points)")
    ax.legend(fontsize=7)
    return fig


def _aa_plot(runs: pl.DataFrame, alpha: float) -> Figure:
    weeks = runs.filter(pl.col("aa_p_value").is_not_null()).unique(
        "aa_week_id", keep="first", maintain_order=True
    )
    p = weeks.get_column("aa_p_value").cast(pl.Float64).to_numpy()
    fig, ax = new_figure(6, 3.5)
    bins = np.linspace(0, 1, 11)
    ax.hist(p, bins=bins, edgecolor="white")
    ax.axhline(len(p) / 10, color="black", ls="--", lw=0.8, label="uniform")
    ax.axvline(alpha, color="red", lw=0.8, label=f"alpha = {alpha}")
    ax.set_xlabel("A/A week: p-value of the mean daily lift (each distinct week once)")
    ax.set_ylabel("weeks")
    ax.legend()
    return fig
