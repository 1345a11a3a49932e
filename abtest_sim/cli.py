"""``abtest-sim``: the Hydra app that runs a simulated A/A/B test and writes its report.

``@hydra.main`` is a thin wrapper: ``simulate(cfg, run_dir)`` is a plain function that tests and
sweeps call directly. Configuration errors print one line and exit with code 2 before any work.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import hydra
import polars as pl
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from abtest_sim.config import ConfigError, SimulationConfig
from abtest_sim.experiment import run_experiment

__all__ = ["CONF_DIR", "main", "simulate"]

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
log = logging.getLogger(__name__)


def simulate(cfg: DictConfig | dict[str, Any], run_dir: str | Path) -> dict[str, Any]:
    """Run the simulation described by the composed config into ``run_dir``; returns the summary."""
    config = SimulationConfig.from_hydra(cfg)
    resume = bool(cfg.get("resume", False))
    run_dir = Path(run_dir)
    unit_days = run_experiment(config, run_dir, resume=resume)
    return write_simulation_report(config, unit_days, run_dir, cfg.get("stats") or {})


def write_simulation_report(
    config: SimulationConfig,
    unit_days: pl.DataFrame,
    run_dir: Path,
    stats: Any,
) -> dict[str, Any]:
    from abtest_sim.report import write_report

    spec = config.experiment
    summary = write_report(
        unit_days,
        run_dir,
        control=spec.control,
        treatment=spec.treatments[0],
        aa_control=spec.aa_control,
        alpha=float(stats.get("alpha", 0.05)),
    )
    return summary if isinstance(summary, dict) else getattr(summary, "__dict__", {})


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="simulate")
def _hydra_main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        simulate(cfg, run_dir)
    except ConfigError as error:
        print(f"abtest-sim: error: {error}", file=sys.stderr)
        sys.exit(2)
    log.info("report: %s", run_dir / "report" / "report.md")


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()
