"""The aggregate's figures (``abtest-sim-aggregate``): the headline estimator's lift by
configuration, power against users per arm (planned and measured) and the A/A weeks' p-values;
each as a PNG file and as inline SVG in report.html."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import matplotlib
import numpy as np
import polars as pl

from abtest_sim.report.plots import FIGURE_RC, day_ticks, legend_below, new_figure, save_png
from abtest_sim.stats.power import power_from_se

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["configuration_label", "figures", "write_plots"]


def configuration_label(row: Mapping[str, Any], keys: list[str]) -> str:
    """A configuration in a few words: its varying keys' values (``alpha=0.3``; a plugged-in
    recipe by its function's name and options, ``recipe=anchored(weight 2.0)``), or ``all``."""
    return ", ".join(f"{k.split('.')[-1]}={_short(row[k])}" for k in keys) or "all"


def _short(value: Any) -> str:
    """A flattened config value in words: a ``_target_`` mapping (stored as JSON) as
    ``name(option value, ...)``, anything else as it is."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            mapping = json.loads(value)
        except json.JSONDecodeError:
            return value
        if isinstance(mapping, dict) and isinstance(mapping.get("_target_"), str):
            options = ", ".join(f"{k} {v}" for k, v in mapping.items() if k != "_target_")
            name = mapping["_target_"].rsplit(".", 1)[-1]
            return f"{name}({options})" if options else name
    return str(value)


def figures(
    runs: pl.DataFrame,
    summary: pl.DataFrame,
    keys: list[str],
    alpha: float,
    paper_users: int,
) -> dict[str, Figure]:
    """The aggregate's figures by name (PNG files and report.html's inline SVGs)."""
    with matplotlib.rc_context(cast(Any, FIGURE_RC)):
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
    fig, ax = new_figure()
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
    ax.set_ylabel("CTR lift (%)")
    ax.set_title("Lift by configuration\n(headline estimator; bars: 95% CI of the mean)")
    legend_below(fig, ax, columns=3)
    day_ticks(fig, ax, [configuration_label(r, keys) for r in rows])
    return fig


def _power_plot(summary: pl.DataFrame, keys: list[str], alpha: float, paper_users: int) -> Figure:
    fig, ax = new_figure()
    for row in summary.iter_rows(named=True):
        name = _headline_of(row)
        users, se = row["users_per_arm"], row.get(f"{name}_se_mean")
        lift = row.get(f"{name}_launch_mean")
        lineage_sd = row.get(f"{name}_lineage_sd_used") or 0.0
        if users is None or se is None or lift is None:
            continue
        if not all(math.isfinite(v) for v in (users, se, lift)):
            continue
        grid = np.geomspace(users / 10, max(users * 10, paper_users * 2), 60)
        # Sampling noise shrinks with users; the lineage component is held at its measured size.
        curve = [
            power_from_se(lift, math.sqrt(se**2 * users / n + lineage_sd**2), alpha=alpha)
            for n in grid
        ]
        line = ax.plot(grid, curve, label=f"{configuration_label(row, keys)}: planned")[0]
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
    ax.set_title("Power at the mean launch effect\nplanned (line) and empirical (points)")
    legend_below(fig, ax, columns=1)
    return fig


def _aa_plot(runs: pl.DataFrame, alpha: float) -> Figure:
    weeks = runs.filter(pl.col("aa_p_value").is_not_null()).unique(
        "aa_week_id", keep="first", maintain_order=True
    )
    p = weeks.get_column("aa_p_value").cast(pl.Float64).to_numpy()
    fig, ax = new_figure()
    bins = np.linspace(0, 1, 11)
    ax.hist(p, bins=list(bins), edgecolor="white")
    ax.axhline(len(p) / 10, color="black", ls="--", lw=0.8, label="uniform")
    ax.axvline(alpha, color="red", lw=0.8, label=f"alpha = {alpha}")
    ax.set_xlabel("A/A week: p-value of the mean daily lift\n(each distinct week once)")
    ax.set_ylabel("weeks")
    legend_below(fig, ax)
    return fig
