"""``abtest-sim-calibrate``: fit the simulated world to a real interaction log.

    abtest-sim-calibrate input=log.parquet user=uid item=iid time=ts click=clicked name=mine
    abtest-sim-calibrate dataset=movielens100k name=movielens100k
    abtest-sim --config-dir <out> world=mine

The fit (``abtest_sim.world.fit``): a logistic matrix factorisation of the clicks gives the click
model (base rate, user and item biases, taste vectors), per-window user vectors give the drift
time constant, and the log's timing gives activity, its weekday and hour profiles and the item
lifetimes. The result is a world config, the default world with the fitted fields.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from omegaconf import DictConfig

from reloop.atomic import write_json, write_text
from reloop.hydra_app import CONF_SEARCH_PATH, one_line_errors, precheck
from reloop.owned import check_writable, replace_owned_dir
from reloop.schema import build, plain

__all__ = ["CalibrateSettings", "calibrate", "main"]

if TYPE_CHECKING:  # pragma: no cover (the fit loads when a log is fitted)
    from abtest_sim.world.fit.log import InteractionLog, LogColumns
    from abtest_sim.world.fit.world import FitSettings, FittedWorld

PROG = "abtest-sim-calibrate"
DATASETS = ("movielens100k",)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CalibrateSettings:
    input: str | None
    dataset: str | None
    name: str
    out: Path
    columns: LogColumns
    fit: FitSettings
    fidelity: bool  # compare the log with one simulated from the fitted world

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> CalibrateSettings:
        from abtest_sim.world.fit.log import LogColumns
        from abtest_sim.world.fit.times import TIME_UNITS
        from abtest_sim.world.fit.world import FitSettings

        command = build(CalibrateCommand, cfg, "")
        dataset = command.dataset.get("name")
        if (command.input is None) == (dataset is None):
            raise ValueError("give exactly one of input=<log file> and dataset=movielens100k")
        if dataset is not None and dataset not in DATASETS:
            raise ValueError(
                f"dataset must be one of {list(DATASETS)} (or input=), got {dataset!r}"
            )
        name = command.name
        if not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"name must be letters, digits, - and _, got {name!r}")
        names = ("user", "item", "time", "time_unit", "click", "click_min", "position", "category")
        columns = LogColumns(**{key: getattr(command, key) for key in names})
        if columns.time_unit not in ("auto", *TIME_UNITS):
            units = ["auto", *TIME_UNITS]
            raise ValueError(f"time_unit must be one of {units}, got {columns.time_unit!r}")
        fit = build(FitSettings, command.fit, "fit")
        _check_fit(fit)
        return cls(command.input, dataset, name, command.out, columns, fit, command.fidelity)


@dataclass(frozen=True)
class CalibrateCommand:
    """conf/calibrate.yaml's keys, read by the one schema reader (``reloop.schema.build``); the
    column names make a ``LogColumns``, ``fit`` a ``FitSettings``."""

    input: str | None = None
    dataset: dict[str, Any] = field(default_factory=dict)
    name: str = "fitted"
    out: Path = Path("outputs/calibrate/fitted")
    user: str = "user_id"
    item: str = "item_id"
    time: str = "timestamp"
    time_unit: str = "auto"
    click: str = "click"
    click_min: float = 1.0
    position: str | None = None
    category: str | None = None
    fidelity: bool = True
    fit: dict[str, Any] = field(default_factory=dict)


def _check_fit(fit: FitSettings) -> None:
    for key in ("factors", "drift_window_days"):
        if getattr(fit, key) < 1:
            raise ValueError(f"fit.{key} must be at least 1, got {getattr(fit, key)}")
    if fit.l2 < 0:
        raise ValueError(f"fit.l2 must be >= 0, got {fit.l2}")
    if fit.users is not None and (not isinstance(fit.users, int) or fit.users < 2):
        raise ValueError(f"fit.users must be an integer >= 2 or null, got {fit.users!r}")


def calibrate(settings: CalibrateSettings) -> dict[str, Any]:
    """Fit and write ``world/<name>.yaml``, ``fit.json`` and ``calibration.md`` (and
    ``fidelity.png``) into ``out``, all at once; return fit.json. ``out`` must be new, empty or
    this app's earlier output (``reloop.owned``)."""
    from abtest_sim.report.world_fit import render_markdown, time_line, world_yaml
    from abtest_sim.world.fit.world import fit_world

    check_writable(settings.out, PROG, legacy=_earlier_output, what="out folder")
    interactions = _read(settings)
    log.info("time column %r: %s", settings.columns.time, time_line(interactions.times))
    fitted = fit_world(interactions, settings.fit)
    fitted.config()  # the fitted world must be one the simulator accepts
    source = settings.dataset or str(settings.input)
    used = {"columns": asdict(settings.columns), "fit": asdict(settings.fit)}
    report = {"source": source, "world": fitted.overrides, "measured": fitted.measured,
              "settings": used}  # fmt: skip
    with replace_owned_dir(settings.out, PROG, legacy=_earlier_output, what="out folder") as out:
        if settings.fidelity:
            report["fidelity"] = _fidelity(interactions, fitted, settings, out / "fidelity.png")
        write_text(out / "world" / f"{settings.name}.yaml", world_yaml(fitted.overrides, source))
        write_json(out / "fit.json", report)
        write_text(out / "calibration.md", render_markdown(report, settings.name))
    return report


def _earlier_output(folder: Path) -> bool:
    """An out folder of an earlier version (no marker): a fit's report and its world."""
    return (folder / "fit.json").is_file() and (folder / "world").is_dir()


def _fidelity(
    log: InteractionLog, fitted: FittedWorld, settings: CalibrateSettings, figure: Path
) -> dict[str, Any]:
    from abtest_sim.sim.fidelity import fidelity, fidelity_figure

    slate = fitted.measured["impressions_per_request"]
    result = fidelity(log, fitted.config(), seed=settings.fit.seed, slate=slate)
    fidelity_figure(result, figure)
    return result


def _read(settings: CalibrateSettings) -> Any:
    from abtest_sim.world.fit.log import read_log

    if settings.dataset == "movielens100k":
        from reloop.datasets import movielens100k_frame

        columns = replace(settings.columns, user="user_id", item="item_id", time="timestamp",
                          click="click", click_min=1.0, category="genres")  # fmt: skip
        return read_log(movielens100k_frame(), columns)
    return read_log(str(settings.input), settings.columns)


@hydra.main(version_base="1.3", config_path=CONF_SEARCH_PATH, config_name="calibrate")
def _hydra_main(cfg: DictConfig) -> None:
    from abtest_sim.world.fit.log import LogError

    with one_line_errors(PROG, LogError, ValueError):
        settings = CalibrateSettings.from_config(plain(cfg))
        report = calibrate(settings)
    drift = report["measured"]["drift"]
    tau = "not measurable" if drift is None else f"{drift['tau_days']:.1f} days"
    print(f"world {settings.name}: {settings.out / 'world' / (settings.name + '.yaml')} "
          f"(drift tau {tau}); report {settings.out / 'calibration.md'}")  # fmt: skip


def main() -> None:
    precheck(PROG, "calibrate", sys.argv[1:], optional_groups=("dataset",))
    _hydra_main()


if __name__ == "__main__":
    main()
