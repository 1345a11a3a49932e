"""The report's figures: daily lift with intervals, cumulative lift, CTR per arm per day.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state, no
display needed); PNGs carry no timestamp or version, so the same numbers give the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

_PNG_METADATA = {"Software": None}


def _figure() -> tuple[Figure, object]:
    figure = Figure(figsize=(8, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _save(figure: Figure, path: Path) -> None:
    figure.savefig(path, format="png", metadata=_PNG_METADATA)


def daily_lift(main: pl.DataFrame, path: Path, *, alpha: float) -> None:
    """Daily lift with its interval (A/A days grey), the A/B average band, the truth if known."""
    days = main.filter(pl.col("day") != "Average")
    average = main.row(main.height - 1, named=True)
    x = np.arange(days.height)
    lift, low, high = (100 * days[c].to_numpy() for c in ("lift", "ci_low", "ci_high"))
    is_aa = days["phase"].to_numpy() == "aa"
    figure, ax = _figure()
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axhspan(
        100 * average["ci_low"],
        100 * average["ci_high"],
        color="tab:blue",
        alpha=0.12,
        label=f"A/B average {100 * average['lift']:+.2f}%",
    )
    for mask, color, label in ((is_aa, "grey", "A/A pre-period"), (~is_aa, "tab:blue", "A/B")):
        if mask.any():
            ax.errorbar(
                x[mask],
                lift[mask],
                yerr=[lift[mask] - low[mask], high[mask] - lift[mask]],
                fmt="o",
                color=color,
                capsize=3,
                label=label,
            )
    for column, marker, color, label in (
        ("target_lift", "x", "tab:red", "test target (served users)"),
        ("launch_lift", "D", "tab:green", "launch effect"),
    ):
        if days[column].null_count() == 0:
            ax.plot(x, 100 * days[column].to_numpy(), marker, color=color, label=label)
    ax.set_xticks(x, days["day"].to_list())
    ax.set_xlabel("day")
    ax.set_ylabel("relative CTR lift (%)")
    treatment, control = average["treatment"], average["control"]
    ax.set_title(f"Daily lift of {treatment} over {control}, {100 * (1 - alpha):.0f}% intervals")
    ax.legend(loc="best", fontsize="small")
    _save(figure, path)


def cumulative_lift(cumulative: pl.DataFrame, path: Path, *, alpha: float) -> None:
    """Lift of the pooled CTR over the A/B days so far, with its interval."""
    x = np.arange(cumulative.height)
    lift, low, high = (100 * cumulative[c].to_numpy() for c in ("lift", "ci_low", "ci_high"))
    figure, ax = _figure()
    ax.axhline(0, color="black", linewidth=0.8)
    ax.fill_between(
        x, low, high, color="tab:blue", alpha=0.2, label=f"{100 * (1 - alpha):.0f}% interval"
    )
    ax.plot(x, lift, "o-", color="tab:blue", label="cumulative lift")
    ax.set_xticks(x, cumulative["day"].to_list())
    ax.set_xlabel("A/B day")
    ax.set_ylabel("relative CTR lift (%)")
    ax.set_title("Cumulative lift over the A/B days")
    ax.legend(loc="best", fontsize="small")
    _save(figure, path)


def ctr_per_arm(arms: pl.DataFrame, path: Path) -> None:
    """CTR of every arm on every day (dashed: true CTR of what it served; dotted: of its launch
    lineage, when known)."""
    figure, ax = _figure()
    for (arm,), rows in arms.group_by("arm", maintain_order=True):
        x = np.arange(rows.height)
        line = ax.plot(x, 100 * rows["ctr"].to_numpy(), "o-", label=str(arm))[0]
        for column, style, what in (("target_ctr", "--", "true"), ("launch_ctr", ":", "launch")):
            if rows[column].null_count() == 0:
                ax.plot(
                    x,
                    100 * rows[column].to_numpy(),
                    style,
                    color=line.get_color(),
                    label=f"{arm} ({what})",
                )
        ax.set_xticks(x, rows["day"].to_list())
    ax.set_xlabel("day")
    ax.set_ylabel("CTR (%)")
    ax.set_title("CTR per arm per day")
    ax.legend(loc="best", fontsize="small")
    _save(figure, path)
