"""``abtest-sim``: the Hydra app that runs a simulated A/A/B test and writes its report.

The Hydra entry point is a thin wrapper: ``simulate(cfg, run_dir)`` is a plain function that tests
and sweeps call directly. Configuration errors print one line and exit with code 2 before any work.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import hydra
import polars as pl
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from abtest_sim.config import ConfigError, SimulationConfig
from abtest_sim.estimates import ReportOptions, ReportOptionsError
from abtest_sim.experiment import launch_truth_table, run_experiment
from abtest_sim.report import write_report
from abtest_sim.rundir import write_parquet_atomic
from reloop.hydra_app import fail, precheck, remove_hydra_leftovers

__all__ = ["CONF_DIR", "main", "simulate"]

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
PROG = "abtest-sim"
log = logging.getLogger(__name__)


def simulate(cfg: DictConfig | dict[str, Any], run_dir: str | Path) -> dict[str, Any]:
    """Run the simulation described by the composed config into ``run_dir``; returns the summary."""
    config = SimulationConfig.from_hydra(cfg)
    options = _report_options(cfg.get("stats"))
    threads = _torch_threads(cfg.get("torch_threads"))
    if threads:
        torch.set_num_threads(threads)
    resume = bool(cfg.get("resume", False))
    run_dir = Path(run_dir)
    cache = cfg.get("warmup_cache")
    unit_days = run_experiment(
        config, run_dir, resume=resume, warmup_cache=Path(cache) if cache else None
    )
    # The per-user table behind the report: input for abtest-analyze and abtest-sim-plan.
    write_parquet_atomic(unit_days, run_dir / "unit_days.parquet")
    plots = cfg.get("report_plots", True)
    if not isinstance(plots, bool):
        raise ConfigError(f"report_plots must be true or false, got {plots!r}")
    return write_simulation_report(config, unit_days, run_dir, options, plots=plots)


def write_simulation_report(
    config: SimulationConfig,
    unit_days: pl.DataFrame,
    run_dir: Path,
    options: ReportOptions,
    *,
    plots: bool = True,
) -> dict[str, Any]:
    """The Table-3 report of a simulated run, with the launch effect and the test's target."""
    spec = config.experiment
    shares = None if spec.paired else {arm.name: arm.share for arm in config.arms}
    summary = write_report(
        unit_days,
        run_dir,
        control=spec.control,
        treatment=spec.treatments[0],
        aa_control=spec.aa_control,
        options=options,
        shares=shares,
        launch_truth=launch_truth_table(run_dir, config),
        paired=spec.paired,
        plots=plots,
        metadata={
            "source": "abtest-sim",
            "experiment": spec.name,
            "seed": config.seed,
            "salt": config.salt,
            "paired": spec.paired,
            "launch_truth": spec.launch_truth or spec.paired,
        },
    )
    return summary.to_dict()


def _report_options(node: Any) -> ReportOptions:
    try:
        return ReportOptions.from_mapping(_plain(node))
    except ReportOptionsError as error:
        raise ConfigError(str(error)) from None


def _plain(node: Any) -> Any:
    if isinstance(node, DictConfig):
        return OmegaConf.to_container(node, resolve=True)
    return node


def _torch_threads(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"torch_threads must be a positive integer or null, got {value!r}")
    return value


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="simulate")
def _hydra_main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        simulate(cfg, run_dir)
    except ConfigError as error:
        remove_hydra_leftovers(run_dir)
        fail(PROG, str(error))
    log.info("report: %s", run_dir / "report" / "report.md")


def main() -> None:
    precheck(PROG, CONF_DIR, "simulate", sys.argv[1:])
    _hydra_main()


if __name__ == "__main__":
    main()
