"""The report's figures: daily lift with intervals, cumulative lift with its always-valid band, CTR
per arm per day; each as a PNG file and as inline SVG for report.html.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state, no
display needed). PNGs carry no timestamp or version; SVGs carry no date, their ids are salted with
a fixed string and prefixed per figure (several live in one HTML page), and text is drawn as paths
(no font needed): the same numbers give the same bytes.
"""

from __future__ import annotations

import io
import re
from itertools import pairwise
from pathlib import Path
from typing import Any, cast

import matplotlib
import numpy as np
import polars as pl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from abtest_sim.report.format import pct

__all__ = [
    "FIGURE_RC",
    "ctr_per_arm_figure",
    "cumulative_lift_figure",
    "daily_lift_figure",
    "day_ticks",
    "legend_below",
    "new_figure",
    "save_png",
    "svg_text",
]

_PNG_METADATA = {"Software": None}
_SVG_METADATA = {"Date": None, "Creator": None}
_SVG_SETTINGS = {"svg.hashsalt": "abtest-sim", "svg.fonttype": "path"}
_ID = re.compile(r'\bid="([^"]+)"')
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)


# Every text of a page's figure at 12 pt in a figure at most 6.4 inches wide: shown at a phone's
# width (about 350 px for the figure) the smallest text renders at 9 px or more; page.py caps a
# figure's width on a desktop so it does not grow past legible.
FIGURE_RC = {"font.size": 12, "legend.fontsize": 12, "xtick.labelsize": 12,
             "ytick.labelsize": 12, "axes.titlesize": 12, "axes.labelsize": 12}  # fmt: skip


def new_figure(width: float = 6.4, height: float = 4.4) -> tuple[Figure, Axes]:
    """A figure on its own Agg canvas with one axes; create its texts inside
    ``matplotlib.rc_context(FIGURE_RC)`` (the figure builders here do)."""
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def day_ticks(figure: Figure, ax: Axes, labels: list[Any]) -> None:
    """Tick labels of ``labels`` at x = 0, 1, ... that never overlap: level while they fit,
    rotated when they are long (dates), and then every k-th one (k as small as fits), checked
    on the drawn figure's label boxes."""
    text = [str(label) for label in labels]
    x = np.arange(len(text))
    rotation = 45 if max(map(len, text), default=0) > 5 else 0
    for step in range(1, max(len(text), 1) + 1):
        ax.set_xticks(x[::step], text[::step], rotation=rotation,
                      ha="right" if rotation else "center",
                      rotation_mode="anchor" if rotation else "default")  # fmt: skip
        if not _ticks_overlap(figure, ax):
            return


def _ticks_overlap(figure: Figure, ax: Axes) -> bool:
    figure.draw_without_rendering()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
    gap = 2.0  # pixels kept between two labels
    return any(a.x1 + gap > b.x0 for a, b in pairwise(boxes))


def legend_below(figure: Figure, ax: Axes, columns: int = 2) -> None:
    """The axes' legend under the figure, outside the data it would otherwise cover."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="outside lower center", ncols=columns, frameon=False)


def save_png(figure: Figure, path: Path, dpi: float | None = None) -> None:
    resolution: dict[str, Any] = {"dpi": dpi} if dpi else {}
    figure.savefig(path, format="png", metadata=_PNG_METADATA, **resolution)


def svg_text(figure: Figure, prefix: str) -> str:
    """The figure as an ``<svg>`` element to inline in HTML: no XML prolog, no metadata, and every
    id (and reference to it) prefixed with ``prefix`` so figures on one page do not collide."""
    buffer = io.StringIO()
    with matplotlib.rc_context(cast(Any, _SVG_SETTINGS)):
        figure.savefig(buffer, format="svg", metadata=_SVG_METADATA)
    text = buffer.getvalue()
    text = _METADATA.sub("", text[text.index("<svg") :])  # RDF: names a creator, no content
    for name in sorted(set(_ID.findall(text)), key=len, reverse=True):
        new = f"{prefix}-{name}"
        text = text.replace(f'id="{name}"', f'id="{new}"')
        text = text.replace(f'"#{name}"', f'"#{new}"').replace(f"(#{name})", f"(#{new})")
    return text.strip()


def daily_lift_figure(main: pl.DataFrame, *, alpha: float) -> Figure:
    """Daily lift with its interval (A/A days grey), the band of their mean over the A/B days,
    the truth if known."""
    with matplotlib.rc_context(cast(Any, FIGURE_RC)):
        return _daily_lift(main, alpha)


def _daily_lift(main: pl.DataFrame, alpha: float) -> Figure:
    days = main.filter(pl.col("day") != "Average")
    average = main.row(main.height - 1, named=True)
    x = np.arange(days.height)
    lift, low, high = (100 * days[c].to_numpy() for c in ("lift", "ci_low", "ci_high"))
    is_aa = days["phase"].to_numpy() == "aa"
    figure, ax = new_figure()
    ax.axhline(0, color="black", linewidth=0.8)
    if (~is_aa).any():
        span = [x[~is_aa][0] - 0.4, x[~is_aa][-1] + 0.4]
        ax.fill_between(span, 100 * average["ci_low"], 100 * average["ci_high"],
                        color="tab:blue", alpha=0.12,
                        label=f"mean of the A/B days {100 * average['lift']:+.2f}%")  # fmt: skip
    for mask, color, label in ((is_aa, "grey", "A/A pre-period"), (~is_aa, "tab:blue", "A/B")):
        if mask.any():
            errors = [lift[mask] - low[mask], high[mask] - lift[mask]]
            ax.errorbar(x[mask], lift[mask], yerr=errors, fmt="o", color=color, capsize=3,
                        label=label)  # fmt: skip
    for column, marker, color, label in (
        ("target_lift", "x", "tab:red", "test target (this split)"),
        ("launch_lift", "D", "tab:green", "launch effect"),
    ):
        if days[column].null_count() == 0:
            ax.plot(x, 100 * days[column].to_numpy(), marker, color=color, label=label)
    ax.set_xlabel("day")
    ax.set_ylabel("relative CTR lift (%)")
    treatment, control = average["treatment"], average["control"]
    ax.set_title(f"Daily lift of {treatment} over {control}\n{100 * (1 - alpha):.0f}% intervals")
    legend_below(figure, ax)
    day_ticks(figure, ax, days["day"].to_list())
    return figure


def cumulative_lift_figure(cumulative: pl.DataFrame, *, alpha: float) -> Figure:
    """An estimator's lift after each A/B day (cumulative.csv; days numbered from 1): the
    always-valid band (safe to read every day), the fixed-horizon interval inside it, and the
    truths so far when known."""
    with matplotlib.rc_context(cast(Any, FIGURE_RC)):
        return _cumulative_lift(cumulative, alpha)


def _cumulative_lift(cumulative: pl.DataFrame, alpha: float) -> Figure:
    x = np.arange(cumulative.height)
    level = f"{100 * (1 - alpha):.0f}%"
    lift, low, high, cs_low, cs_high = (
        100 * cumulative[c].to_numpy() for c in ("lift", "ci_low", "ci_high", "cs_low", "cs_high")
    )
    figure, ax = new_figure()
    ax.axhline(0, color="black", linewidth=0.8)
    ax.fill_between(
        x, cs_low, cs_high, color="tab:blue", alpha=0.13, label=f"{level} always-valid band"
    )
    ax.fill_between(
        x, low, high, color="tab:blue", alpha=0.3, label=f"{level} interval (one look only)"
    )
    ax.plot(x, lift, "o-", color="tab:blue", label="headline lift so far")
    _label_last_point(ax, x, cumulative["lift"])
    for column, style, color, label in (
        ("target_lift", "x--", "tab:red", "test target (this split)"),
        ("launch_lift", "D:", "tab:green", "launch effect"),
    ):
        if column in cumulative.columns and cumulative[column].null_count() == 0:
            ax.plot(x, 100 * cumulative[column].to_numpy(), style, color=color, label=label)
    ax.set_xlabel("A/B day")
    ax.set_ylabel("relative CTR lift (%)")
    ax.set_title("Headline lift over the A/B days")
    legend_below(figure, ax)
    day_ticks(figure, ax, list(range(1, cumulative.height + 1)))
    return figure


def _label_last_point(ax: Axes, x: np.ndarray, lift: pl.Series) -> None:
    """The last day's value written beside its point: the headline the page leads with (its
    SVG group's id ends in ``last-point``, which the browser tests read)."""
    value = lift[-1]
    if value is None or not np.isfinite(value):
        return
    label = ax.annotate(
        pct(float(value)), (float(x[-1]), 100 * float(value)), xytext=(-6, 8),
        textcoords="offset points", ha="right", color="tab:blue", fontweight="bold",
    )  # fmt: skip
    label.set_gid("last-point")


def ctr_per_arm_figure(arms: pl.DataFrame) -> Figure:
    """CTR of every arm on every day (dashed: true CTR of what it served; dotted: of its launch
    lineage, when known)."""
    with matplotlib.rc_context(cast(Any, FIGURE_RC)):
        return _ctr_per_arm(arms)


def _ctr_per_arm(arms: pl.DataFrame) -> Figure:
    figure, ax = new_figure()
    days: list[Any] = []
    for (arm,), rows in arms.group_by("arm", maintain_order=True):
        x = np.arange(rows.height)
        line = ax.plot(x, 100 * rows["ctr"].to_numpy(), "o-", label=str(arm))[0]
        for column, style, what in (("target_ctr", "--", "true"), ("launch_ctr", ":", "launch")):
            if rows[column].null_count() == 0:
                ax.plot(x, 100 * rows[column].to_numpy(), style, color=line.get_color(),
                        label=f"{arm} ({what})")  # fmt: skip
        days = rows["day"].to_list() if rows.height > len(days) else days
    ax.set_xlabel("day")
    ax.set_ylabel("CTR (%)")
    ax.set_title("CTR per arm per day")
    legend_below(figure, ax)
    day_ticks(figure, ax, days)
    return figure
