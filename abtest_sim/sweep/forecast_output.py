"""The forecast's files: forecast.json (every figure), forecast.md and forecast.html (one document,
``forecast_document``) and launch_curve.png, each written atomically into the forecast's folder."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

import matplotlib
from matplotlib.figure import Figure

from abtest_sim.analysis.summary import json_ready
from abtest_sim.report import plots
from abtest_sim.report.html import render_html
from abtest_sim.report.markdown import render_markdown
from abtest_sim.sweep.forecast import Forecast
from abtest_sim.sweep.forecast_document import ForecastContext, forecast_document, lead_sentence
from reloop.atomic import atomic_path, write_text

__all__ = ["write_forecast"]


def write_forecast(result: Forecast, context: ForecastContext, out: Path) -> None:
    figure = _launch_curve(result)
    document = forecast_document(result, context, figures=figure is not None)
    data = {"lead": lead_sentence(result, context), "forecast": result.to_dict(),
            "context": asdict(context)}  # fmt: skip
    write_text(out / "forecast.json", json.dumps(json_ready(data), indent=2) + "\n")
    write_text(out / "forecast.md", render_markdown(document))
    svgs = {} if figure is None else {"launch_curve": plots.svg_text(figure, "launch_curve")}
    write_text(out / "forecast.html", render_html(document, svgs))
    if figure is not None:
        with atomic_path(out / "launch_curve.png") as tmp:
            plots.save_png(figure, tmp)


def _launch_curve(result: Forecast) -> Figure | None:
    """The mean launch effect by A/B day, with the overall mean and its interval."""
    if not result.launch_days:
        return None
    with matplotlib.rc_context(cast(Any, plots.FIGURE_RC)):
        figure, ax = plots.new_figure(6.4, 4.0)
        x = list(range(len(result.launch_days)))
        ax.plot(x, [100 * v for v in result.launch_days], marker="o", label="mean over worlds")
        launch = result.launch
        ax.axhspan(100 * launch.low, 100 * launch.high, color="tab:blue", alpha=0.15,
                   label="95% interval of the launch effect")  # fmt: skip
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel("A/B day")
        ax.set_ylabel("launch effect (%)")
        plots.legend_below(figure, ax)
        plots.day_ticks(figure, ax, [day + 1 for day in x])
    return figure
