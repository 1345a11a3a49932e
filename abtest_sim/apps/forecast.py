"""``abtest-sim-forecast``: what a change does once shipped, and whether the planned test sees it.

It takes the design exactly as ``abtest-sim`` does (world, model, arms with any recipe, policy or
``_target_``, days, users), runs it in independent worlds through abtest-sim's Hydra launcher
(``abtest_sim.apps.forecast_runs``: the planned A/B test in ``forecast.worlds`` worlds, its A/A in
``forecast.aa_runs``), summarises them (``abtest_sim.sweep.forecast``) and writes forecast.md,
forecast.json and forecast.html (``abtest_sim.sweep.forecast_document``) into ``forecast.out``.
Finished runs are kept (a small row each), so a forecast stopped, or asked for more worlds, goes on
from them. The lineage SDs measured on the A/As are stored by design (``abtest_sim.sim.design``):
every later abtest-sim run of that design applies them.
"""

from __future__ import annotations

import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from abtest_sim.analysis.options import ReportOptions, ReportOptionsError
from abtest_sim.apps.forecast_runs import (
    DESIGN_FILE,
    RunPlan,
    collect_rows,
    run_missing,
    write_designs,
)
from abtest_sim.apps.simulate import NOT_DESIGN, SimulateCommand, recipe_in_words
from abtest_sim.sim.config import ConfigError, SimulationConfig
from abtest_sim.sim.design import LineageMeasurement, LineageStore, ab_design_key, design_key
from abtest_sim.sweep.forecast import Forecast, forecast
from abtest_sim.sweep.forecast_document import ForecastContext, lead_sentence
from abtest_sim.sweep.forecast_output import write_forecast
from reloop.atomic import write_text
from reloop.hydra_app import CONF_SEARCH_PATH, one_line_errors, precheck
from reloop.owned import check_writable, claim_dir
from reloop.schema import build, plain

__all__ = ["ForecastSettings", "main", "run_forecast"]

PROG = "abtest-sim-forecast"
LAUNCHERS = ("parallel", "cluster", "submitit_local")


class ForecastError(ValueError):
    """A forecast that cannot be made; the message is one line for the user."""


@dataclass(frozen=True)
class ForecastSettings:
    """conf/forecast.yaml's ``forecast`` node."""

    worlds: int = 4
    aa_runs: int = 8
    jobs: int = 2
    launcher: str = "parallel"
    power: float = 0.8
    keep_runs: bool = False
    store_from: int = 20  # A/A runs from which the measured lineage SDs are stored for the design
    out: Path = Path("outputs/forecast")

    def check(self) -> None:
        if self.worlds < 1 or self.aa_runs < 2 or self.jobs < 1:
            raise ForecastError("forecast.worlds >= 1, forecast.aa_runs >= 2, forecast.jobs >= 1")
        if not 0 < self.power < 1:
            raise ForecastError(f"forecast.power must lie in (0, 1), got {self.power}")
        if self.launcher not in LAUNCHERS:
            raise ForecastError(f"forecast.launcher must be one of {list(LAUNCHERS)}")


def run_forecast(cfg: DictConfig | dict[str, Any], command_line: str = PROG) -> Forecast:
    """The forecast of the design in ``cfg`` (every key of abtest-sim, and ``forecast``)."""
    raw = plain(cfg)
    settings = build(ForecastSettings, raw.pop("forecast", {}), "forecast")
    settings.check()
    design = {k: v for k, v in raw.items() if k != "hydra"}
    simulate = SimulateCommand.read(design)
    config = SimulationConfig.from_hydra(design)  # the whole design checked before any run
    try:
        options = ReportOptions.from_mapping(simulate.stats)
    except ReportOptionsError as error:
        raise ConfigError(str(error)) from None
    treatments = list(config.experiment.treatments)
    if len(treatments) != 1:  # the launch effect and the readout are of one treatment pair
        raise ForecastError(
            f"a forecast is of one treatment against the control, got experiment.treatments="
            f"{treatments}: forecast each one (experiment.treatments=[{treatments[0]}])"
        )
    check_writable(settings.out, PROG, what="forecast.out")
    ab_key = ab_design_key(config)
    _check_same_design(settings.out, ab_key)
    claim_dir(settings.out, PROG, what="forecast.out")
    write_text(settings.out / DESIGN_FILE, ab_key + "\n")
    plan = RunPlan(settings.out, settings.launcher, settings.jobs, settings.keep_runs)
    write_designs(design, plan)
    seeds = {"aa": range(settings.aa_runs), "test": range(settings.worlds)}
    failed = sum(len(run_missing(plan, kind, list(seeds[kind]))) for kind in ("aa", "test"))
    aa, test = (collect_rows(plan, kind, list(seeds[kind])) for kind in ("aa", "test"))
    if not test or len(aa) < 2:
        raise ForecastError(
            f"too few runs finished ({len(test)} A/B, {len(aa)} A/A): see {plan.out}/runs/*.log"
        )
    headline = options.headline if options.headline != "auto" else str(test[0]["headline"])
    result = forecast(test, aa, headline=headline, alpha=options.alpha, power=settings.power)
    key = design_key(config)
    stored = _store(result, key, simulate.lineage_store, settings.store_from)
    treatment = config.arm(config.experiment.treatments[0])
    change = (
        f"`{treatment.name}` ({recipe_in_words(treatment)}) against `{config.experiment.control}`"
    )
    context = ForecastContext(change, config.experiment.ab_days, key, command_line, stored, failed)
    write_forecast(result, context, plan.out)
    print(f"{PROG}: {lead_sentence(result, context)}")
    print(f"{PROG}: {plan.out / 'forecast.html'}")
    return result


def _check_same_design(out: Path, key: str) -> None:
    """A forecast folder pools the runs of one design: resuming it with another is refused (its
    finished runs would be counted as this design's)."""
    recorded = out / DESIGN_FILE
    if recorded.is_file() and (held := recorded.read_text().strip()) != key:
        raise ForecastError(
            f"forecast.out {out} holds the runs of another design (key {held}; this one is {key}):"
            " give a new forecast.out, or the same design to add worlds"
        )


def _store(result: Forecast, key: str, folder: str | None, store_from: int) -> str:
    """Keep the lineage SDs measured here for every later run of the design (enough A/As)."""
    if result.aa_runs < store_from:
        return (
            f"measured on {result.aa_runs} A/A runs, not stored (a design's SDs are stored from "
            f"forecast.store_from={store_from} A/A runs)"
        )
    if folder is None:
        return "not stored (lineage_store=null)"
    measurement = LineageMeasurement(
        design=key,
        lineage_sd={name: v.lineage_sd for name, v in result.validity.items()},
        aa_runs=result.aa_runs,
        interval={n: [v.lineage_sd_low, v.lineage_sd_high] for n, v in result.validity.items()},
        source=f"{PROG} ({result.aa_runs} A/A runs)",
    )
    path = LineageStore(Path(folder)).save(measurement)
    return f"stored in {path}: every abtest-sim run of this design applies them"


@hydra.main(version_base="1.3", config_path=CONF_SEARCH_PATH, config_name="forecast")
def _hydra_main(cfg: DictConfig) -> None:
    args = [a for a in sys.argv[1:] if not a.lstrip("+~").startswith(NOT_DESIGN)]
    with one_line_errors(PROG, ForecastError, ConfigError):
        run_forecast(cfg, " ".join([PROG, *args]))


def _stop_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds, so the runs under way are stopped with it


def main() -> None:
    precheck(PROG, "forecast", sys.argv[1:])
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    _hydra_main()


if __name__ == "__main__":
    main()
