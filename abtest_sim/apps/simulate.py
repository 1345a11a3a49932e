"""``abtest-sim``: the Hydra app that runs a simulated A/A/B test and writes its report.

The Hydra entry point is a thin wrapper: ``simulate(cfg, run_dir)`` is a plain function that tests
and sweeps call directly. Configuration errors print one line and exit with code 2 before any work.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import hydra
import polars as pl
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from abtest_sim.analysis.options import ReportOptions, ReportOptionsError
from abtest_sim.report.writer import Arms, ReportContext, ReportInput, write_report
from abtest_sim.sim.config import ArmSpec, ConfigError, SimulationConfig
from abtest_sim.sim.design import LineageStore
from abtest_sim.sim.diagnostics import calibration_table
from abtest_sim.sim.errors import RunFailure
from abtest_sim.sim.health import diverged_arms
from abtest_sim.sim.loop import run_experiment
from abtest_sim.sim.run_tables import launch_truth_table
from abtest_sim.sim.rundir import (
    RunDir,
    RunDirBusy,
    check_resumable,
    check_run_dir,
    claim_run_dir,
    owned_run_dir,
    record_report_settings,
)
from abtest_sim.world.parts import WorldPartError
from abtest_sim.world.requests import CandidateDrawError
from reloop.atomic import write_parquet
from reloop.hydra_app import (
    CONF_DIR,
    CONF_SEARCH_PATH,
    disk_error,
    fail,
    note_named_run_dir,
    precheck,
    remove_hydra_leftovers,
    save_hydra_record,
)
from reloop.owned import NotOwned
from reloop.schema import SchemaError, build, plain

__all__ = ["CONF_DIR", "main", "simulate"]

PROG = "abtest-sim"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulateCommand:
    """abtest-sim's top-level keys (conf/simulate.yaml), read by the one schema reader
    (``reloop.schema.build``): any other key, or a value of the wrong type, is refused naming it,
    also inside a -m sweep. The nodes are read by their own schemas (``SimulationConfig``,
    ``ReportOptions``)."""

    seed: int = 0
    resume: bool = False
    progress: bool = True
    report_plots: bool = True
    report_calibration: bool = True  # the models' calibration table (false: not computed)
    torch_threads: int | None = None  # null: torch's default
    retrain_workers: int = 1
    warmup_cache: str | None = None
    lineage_store: str | None = None  # measured lineage SDs by design (sim.design); null: shipped
    run_dir: str = ""
    world: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    arm: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    experiment: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, cfg: DictConfig | Mapping[str, Any]) -> SimulateCommand:
        try:
            command = build(cls, {k: v for k, v in plain(cfg).items() if k != "hydra"}, "")
        except SchemaError as error:
            raise ConfigError(str(error)) from None
        if command.torch_threads is not None and command.torch_threads < 1:
            raise ConfigError(
                f"torch_threads must be at least 1 or null, got {command.torch_threads}"
            )
        if command.warmup_cache is not None and not command.warmup_cache:
            raise ConfigError("warmup_cache must be a directory path or null, got ''")
        cache = command.cache
        if cache is not None and cache.exists() and not cache.is_dir():
            raise ConfigError(f"warmup_cache {command.warmup_cache!r} is a file, not a directory")
        return command

    @property
    def cache(self) -> Path | None:
        return None if self.warmup_cache is None else Path(self.warmup_cache)


def simulate(cfg: DictConfig | dict[str, Any], run_dir: str | Path) -> dict[str, Any]:
    """Run the simulation described by the composed config into ``run_dir``; returns the summary.
    The whole config is checked before anything is written; the run dir is owned by this process
    for the run (``RunDirBusy`` if another one owns it)."""
    command = SimulateCommand.read(cfg)
    config = SimulationConfig.from_hydra(cfg)
    options = _report_options(command.stats)
    store = LineageStore(None if command.lineage_store is None else Path(command.lineage_store))
    measured, lineage_note = store.for_design(config, options.lineage_sd, _forecast_command())
    if measured is not None:
        options = replace(options, lineage_sd=measured)
    threads, resume, plots = command.torch_threads, command.resume, command.report_plots
    cache = command.cache
    run_dir = Path(run_dir)
    check_run_dir(run_dir)
    if threads:
        torch.set_num_threads(threads)
    with owned_run_dir(run_dir):
        check_resumable(config, run_dir, resume)
        claim_run_dir(run_dir)
        if HydraConfig.initialized():  # Hydra's record of the command, once the dir is ours
            save_hydra_record(run_dir, cfg)
        unit_days = run_experiment(config, run_dir, resume=resume, warmup_cache=cache)
        # The per-user table behind the report: input for abtest-analyze and abtest-sim-plan.
        write_parquet(unit_days, RunDir(run_dir).unit_days)
        calibration = command.report_calibration
        settings = {"report_plots": plots, "report_calibration": calibration}
        record_report_settings(run_dir, {**asdict(options), **settings})
        return write_simulation_report(
            config, unit_days, run_dir, options,
            plots=plots, calibration=calibration, lineage_note=lineage_note,
        )  # fmt: skip


def write_simulation_report(
    config: SimulationConfig,
    unit_days: pl.DataFrame,
    run_dir: Path,
    options: ReportOptions,
    *,
    plots: bool = True,
    calibration: bool = True,
    lineage_note: str = "",
) -> dict[str, Any]:
    """The Table-3 report of a simulated run, with the launch effect and the test's target;
    ``calibration``: with the models' calibration table (a forward pass of each previous version
    over each arm-day's logs: about a tenth of a default A/A run); ``lineage_note``: where the
    options' lineage SDs came from, or how to measure them."""
    spec = config.experiment
    shares = None if spec.paired else {arm.name: arm.share for arm in config.arms}
    diverged = diverged_arms(RunDir(run_dir).logs, config.arm_names, spec.test_day_range)
    for arm, why in diverged.items():
        log.warning("the model of arm %s diverged: %s", arm, why)
    arms = Arms(spec.control, spec.treatments[0], aa_control=spec.aa_control, shares=shares)
    context = ReportContext(
        owner=PROG,
        metadata={
            "source": "abtest-sim",
            "experiment": spec.name,
            "seed": config.seed,
            "salt": config.salt,
            "paired": spec.paired,
            "launch_truth": spec.launch_truth or spec.paired,
            "model": model_in_words(config),
        },
        recipes={arm.name: recipe_in_words(arm) for arm in config.arms},
        launch_truth=launch_truth_table(run_dir, config),
        paired=spec.paired,
        diverged=diverged,
        calibration=calibration_table(run_dir, config) if calibration else None,
        lineage_note=lineage_note,
    )
    summary = write_report(ReportInput(unit_days, arms, options, context), run_dir, plots=plots)
    return summary.to_dict()


# Keys of a run's command that are not its design (the replicate, execution, where it goes).
NOT_DESIGN = ("seed", "resume", "progress", "report_plots", "report_calibration",
              "torch_threads", "retrain_workers", "warmup_cache", "lineage_store", "run_dir",
              "hydra", "experiment.salt")  # fmt: skip


def _forecast_command() -> str:
    """The command that measures this run's design: abtest-sim-forecast with its overrides."""
    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    kept = [o for o in overrides if not o.lstrip("+~").split("=")[0].startswith(NOT_DESIGN)]
    return " ".join(["abtest-sim-forecast", *kept])


def model_in_words(config: SimulationConfig) -> str:
    """The arms' backbone in a few words: ``deepfm 128-64``."""
    model = config.model
    name = model.name if isinstance(model.name, str) else str(model.name.get("_target_"))
    hidden = "-".join(map(str, model.hidden_units))
    return f"{name} {hidden}" if hidden else name


def recipe_in_words(arm: ArmSpec) -> str:
    """How an arm retrains in the A/B phase, for the report's title: ``BCE baseline``,
    ``reloop, alpha 0.5, y_last logged``, ``kd, alpha 0.5``, or a plugged-in loss's target with its
    options."""
    recipe = arm.recipe
    if isinstance(recipe, dict):
        options = ", ".join(f"{k} {v}" for k, v in recipe.items() if k != "_target_")
        name = str(recipe.get("_target_"))
        return f"{name} ({options}), alpha {arm.alpha}" if options else f"{name}, alpha {arm.alpha}"
    if recipe == "baseline":
        return "BCE baseline"
    if recipe == "reloop":
        return f"reloop, alpha {arm.alpha}, y_last {arm.y_last}"
    return f"{recipe}, alpha {arm.alpha}"


def _report_options(node: Any) -> ReportOptions:
    try:
        return ReportOptions.from_mapping(node)
    except ReportOptionsError as error:
        raise ConfigError(str(error)) from None


@hydra.main(version_base="1.3", config_path=CONF_SEARCH_PATH, config_name="simulate")
def _hydra_main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        simulate(cfg, run_dir)
    except (RunDirBusy, NotOwned) as error:
        fail(PROG, str(error))  # the dir is another process's or a user's: touch nothing in it
    except (WorldPartError, CandidateDrawError, RunFailure) as error:  # failed mid-run
        fail(PROG, str(error))
    except ConfigError as error:
        _remove_leftovers_if_ours(run_dir)
        fail(PROG, str(error))
    except OSError as error:  # a full or read-only disk: atomic writes left nothing half-written
        fail(PROG, disk_error(error))
    log.info("report: %s", RunDir(run_dir).report / "report.md")


def _remove_leftovers_if_ours(run_dir: Path) -> None:
    """Remove what starting this refused run left, only in a dir it created and only while
    holding the run dir's lock: a dir another live process owns (it may still be starting), or
    one the user had made, is never removed."""
    if not run_dir.is_dir():
        return
    try:
        with owned_run_dir(run_dir):  # re-entrant when this process already owns it
            remove_hydra_leftovers(run_dir)
    except RunDirBusy:
        pass


def main() -> None:
    args = sys.argv[1:]
    precheck(PROG, "simulate", args)
    explicit = note_named_run_dir(PROG, args)
    if explicit is None:
        _hydra_main()
        return
    # Own a named run dir before Hydra starts, so that a refused process leaves the dir exactly
    # as it was; refuse a user's folder before anything is written into it.
    try:
        check_run_dir(explicit)
        with owned_run_dir(explicit):
            _hydra_main()
    except (RunDirBusy, NotOwned) as error:
        fail(PROG, str(error))
    except OSError as error:
        fail(PROG, disk_error(error))


if __name__ == "__main__":
    main()
