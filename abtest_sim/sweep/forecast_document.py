"""The forecast as one document (forecast.md and forecast.html lay it out): the sentence a team
acts on, then the launch effect over worlds and over the A/B days, the planned test's validity
and power, and the size a test needs."""

from __future__ import annotations

import math
from dataclasses import dataclass

from abtest_sim.analysis.estimators import estimator
from abtest_sim.report.blocks import (
    Block,
    Card,
    Figure,
    Paragraphs,
    ReportDocument,
    Section,
    Table,
    Tone,
    Verdict,
)
from abtest_sim.report.format import pct, rate
from abtest_sim.sweep.forecast import Forecast, Mean
from abtest_sim.sweep.validity import Rate

__all__ = ["ForecastContext", "forecast_document", "lead_sentence"]


@dataclass(frozen=True)
class ForecastContext:
    """What the forecast was of: the change in words, the test's length, the design's key, the
    command that made it, whether the measured lineage SDs were stored, runs that failed."""

    change: str
    ab_days: int
    design: str
    command: str
    stored: str  # where the lineage SDs were stored, or why not
    failed: int = 0


def _span(m: Mean) -> str:
    return f"{pct(m.mean)} [{pct(m.low)}, {pct(m.high)}]"


def _rate(r: Rate) -> str:
    return rate(r.value, r.low, r.high) if r.trials else "n/a"


def lead_sentence(f: Forecast, ctx: ForecastContext) -> str:
    """The sentence a team acts on: the launch effect with its interval over worlds, whether the
    planned test would see it, and whether its interval is calibrated for this design."""
    users = f.sizing.measured_users
    label = estimator(f.headline).label
    validity = f.validity.get(f.headline)
    calibrated = (
        f"its headline interval ({label}) with the lineage SD measured here gives "
        f"{_rate(validity.false_positives_with_lineage)} A/A false positives at "
        f"{pct(f.alpha, False, 0)} ({_rate(validity.false_positives)} without it)"
        if validity is not None
        else "no A/A run measured its false positives"
    )
    positive = f.launch_positive
    return (
        f"Shipping {ctx.change} changes CTR by {_span(f.launch)} over {f.worlds} simulated "
        f"world(s) (positive in {positive.successes} of {positive.trials}). A {ctx.ab_days}-day "
        f"test with {users:,.0f} users per arm would detect it with {_rate(f.power)} power; "
        f"{calibrated}."
    )


def forecast_document(f: Forecast, ctx: ForecastContext, figures: bool) -> ReportDocument:
    tone: Tone = "flat"
    if f.launch.low > 0 or f.launch.high < 0:  # the interval over worlds excludes zero
        tone = "up" if f.launch.mean > 0 else "down"
    cards = (
        Card(
            "Launch effect",
            pct(f.launch.mean),
            f"95% interval {pct(f.launch.low)} to {pct(f.launch.high)}",
        ),
        Card("Worlds", f"{f.worlds}", f"SD {pct(f.launch.sd, False)}"),
        Card("Power of the planned test", _rate(f.power)),
        Card(f"Users per arm for {pct(f.power_goal, False, 0)} power", _users(f)),
    )
    return ReportDocument(
        title=f"Forecast: shipping {ctx.change}",
        verdict=Verdict((lead_sentence(f, ctx),), tone),
        cards=cards,
        sections=(_launch(f, figures), _test(f), _sizing(f), _method(f, ctx)),
        footer=f"Made by `{ctx.command}`.",
        figures=figures,
    )


def _users(f: Forecast) -> str:
    if f.sizing.users_per_arm is None:
        return "unreachable" if math.isfinite(f.sizing.lineage_floor) else "n/a"
    return f"{f.sizing.users_per_arm:,}" + (" (extrapolated)" if f.sizing.extrapolated else "")


def _launch(f: Forecast, figures: bool) -> Section:
    rows = tuple((str(day + 1), pct(value)) for day, value in enumerate(f.launch_days))
    blocks: list[Block] = [
        Paragraphs(
            (
                "The launch effect is what shipping does: every user on a lineage of the change "
                "trained on every user's logs, against the same for the control, in true CTR over "
                "the A/B days. Each world (a seed) is one independent draw of users, items and "
                "their drift; the interval is the 95% t-interval of the mean over "
                f"{f.worlds} worlds.",
            )
        ),
        Table(
            "launch_days",
            ("A/B day", "Mean launch effect"),
            rows,
            caption="The launch effect by day of the A/B phase, mean over worlds.",
        ),
    ]
    if figures:
        blocks.append(Figure("launch_curve", "The launch effect by A/B day, mean over worlds."))
    return Section("launch", "What shipping does", tuple(blocks))


def _test(f: Forecast) -> Section:
    rows = tuple(
        (
            estimator(name).label + (" (headline)" if name == f.headline else ""),
            f"{pct(v.lineage_sd, False)} [{pct(v.lineage_sd_low, False)}, "
            f"{pct(v.lineage_sd_high, False)}]",
            _rate(v.false_positives),
            _rate(v.false_positives_with_lineage),
            _rate(v.covers_target),
        )
        for name, v in f.validity.items()
    )
    table = Table(
        "validity",
        (
            "Estimator",
            "Lineage SD",
            "A/A false positives",
            "with lineage SD (held out)",
            "Covers its target",
        ),
        rows,
        caption=(
            f"{f.aa_runs} A/A runs of the planned design (every arm trained as the control). The "
            "lineage SD is the arm-level noise no per-user interval holds; 'with lineage SD' "
            "counts each half's rejections with the SD measured on the other half (out of "
            "sample); the last column, how often the sampling interval holds the estimator's own "
            "test target (what it converges to in that run, the lineages' divergence included)."
        ),
    )
    readout = Paragraphs(
        (
            f"The planned test's readout ({estimator(f.headline).label}) over {f.readout.n} A/B "
            f"run(s): mean {pct(f.readout.mean)}, SD {pct(f.readout.sd, False)}; it detected the "
            f"effect (interval with the lineage SD excluding zero) in {_rate(f.power)} of them. "
            f"Test-to-launch bias (readout minus the same run's launch effect): {_span(f.bias)}.",
        )
    )
    return Section("test", "The planned test", (table, readout))


def _sizing(f: Forecast) -> Section:
    s = f.sizing
    goal = pct(f.power_goal, False, 0)
    needs = (
        f"no number of users reaches {goal} power in the planned days (the effect lies below "
        "the lineage floor)"
        if s.users_per_arm is None and math.isfinite(s.lineage_floor)
        else f"{goal} power needs {_users(f)} users per arm for the planned days"
    )
    text = [
        f"At the forecast effect ({pct(f.launch.mean)}), {needs} (measured at "
        f"{s.measured_users:,.0f}; the planned design has {pct(s.power_at_design, False, 0)}).",
        f"Lineage floor: no test of these days detects a lift below {pct(s.lineage_floor, False)}"
        " with that power, at any number of users (the lineage noise does not shrink with users).",
    ]
    if s.extrapolated:
        text.append(
            "That size lies far outside the users the runs measured: the SE's 1/sqrt(users) "
            "scaling and the lineage SD are extrapolated; forecast that size to check it."
        )
    return Section("sizing", "How large a test would see it", (Paragraphs(tuple(text)),))


def _method(f: Forecast, ctx: ForecastContext) -> Section:
    texts = [
        f"Design {ctx.design}: {f.worlds} A/B run(s) and {f.aa_runs} A/A run(s), each its own "
        "seed (its own world and split). Rates carry Wilson intervals; means, t-intervals.",
        f"Lineage SDs: {ctx.stored}.",
    ]
    if ctx.failed:
        texts.append(f"{ctx.failed} run(s) did not finish (see runs/*.log); they are left out.")
    return Section("method", "How it was made", (Paragraphs(tuple(texts), muted=True),))
