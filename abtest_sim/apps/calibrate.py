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
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from omegaconf import DictConfig, OmegaConf

from abtest_sim.report.format import markdown_table
from reloop.atomic import write_json, write_text
from reloop.hydra_app import CONF_SEARCH_PATH, disk_error, fail, one_line, precheck
from reloop.owned import check_writable, replace_owned_dir
from reloop.schema import SchemaError, build, coerce

__all__ = ["CalibrateSettings", "calibrate", "main", "world_yaml"]

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

        dataset = (cfg.get("dataset") or {}).get("name")
        if (cfg["input"] is None) == (dataset is None):
            raise ValueError("give exactly one of input=<log file> and dataset=movielens100k")
        if dataset is not None and dataset not in DATASETS:
            raise ValueError(
                f"dataset must be one of {list(DATASETS)} (or input=), got {dataset!r}"
            )
        name = str(cfg["name"])
        if not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"name must be letters, digits, - and _, got {name!r}")
        column_keys = ("user", "item", "time", "time_unit", "click", "click_min", "position",
                       "category")  # fmt: skip
        defaults = LogColumns()
        columns = LogColumns(**{k: coerce(cfg[k], getattr(defaults, k), k) for k in column_keys})
        if columns.time_unit not in ("auto", *TIME_UNITS):
            units = ["auto", *TIME_UNITS]
            raise ValueError(f"time_unit must be one of {units}, got {columns.time_unit!r}")
        fit = build(FitSettings, cfg["fit"] or {}, "fit")
        _check_fit(fit)
        check = coerce(cfg["fidelity"], True, "fidelity")
        return cls(cfg["input"], dataset, name, Path(str(cfg["out"])), columns, fit, check)


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


def time_line(times: dict[str, str]) -> str:
    """How the time column was read, in words (log line and calibration.md)."""
    from abtest_sim.world.fit.times import UNIT_NAMES

    unit = times["unit"]
    read = f"{UNIT_NAMES[unit]} since the epoch" if unit in UNIT_NAMES else unit
    return f"read as {read} ({times['how']}), {times['first']} to {times['last']}"


def world_yaml(overrides: dict[str, Any], source: str) -> str:
    """A Hydra world config: the default world with ``overrides``, saying where they came from."""
    body = OmegaConf.to_yaml(OmegaConf.create(overrides))
    return (
        f"# Fitted by abtest-sim-calibrate from {source}; regenerate it, do not edit it.\n"
        "# Fields not listed keep the default world's values (conf/world/default.yaml).\n"
        "defaults:\n  - default\n  - _self_\n\n" + body
    )


def render_markdown(report: dict[str, Any], name: str) -> str:
    measured, drift = report["measured"], report["measured"]["drift"]
    lines = [
        f"# World `{name}` fitted from {report['source']}", "",
        f"{measured['impressions']:,} impressions, {measured['users']:,} users, "
        f"{measured['items']:,} items over {measured['days']} days; CTR {measured['ctr']:.2%}, "
        f"{measured['impressions_per_request']:.1f} impressions per request.", "",
    ]  # fmt: skip
    lines += [f"Times: column `{measured['time']['column']}` {time_line(measured['time'])}.", ""]
    if drift is None:
        lines += [f"Drift: not fitted: {measured['defaults_kept']['drift_tau']}.", ""]
    else:
        low, high = drift["tau_interval_days"]
        lines += [
            f"Drift time constant: {drift['tau_days']:.1f} days (95% bootstrap interval "
            f"{low:.1f} to {high:.1f}) from {drift['users_in_two_windows']:,} users seen in two "
            f"windows of {drift['window_days']} days; persistent share of taste variance "
            f"{drift['persistent_share']:.2f}.", "",
        ]  # fmt: skip
    lines += markdown_table(
        ("parameter", "fitted"), [(k, str(v)) for k, v in report["world"].items()]
    )
    lines += ["", f"Position curve: {measured['position_curve']}."]
    reasons: dict[str, list[str]] = {}  # the fields each reason keeps at the default
    for key, why in measured["defaults_kept"].items():
        reasons.setdefault(why, []).append(key)
    lines += [f"Not fitted, too small a log: {', '.join(keys)} ({why})."
              for why, keys in reasons.items() if "drift_tau" not in keys]  # fmt: skip
    lines += ["Not fitted (default world): " + ", ".join(measured["not_fitted"]) + "."]
    if "fidelity" in report:
        lines += fidelity_lines(report["fidelity"])
    return "\n".join(lines) + "\n"


def fidelity_lines(result: dict[str, Any]) -> list[str]:
    """The real log and the one simulated from the fitted world, side by side (markdown)."""
    real, sim, auc = result["real"], result["simulated"], result["auc"]

    def row(label: str, get: Any) -> tuple[str, str, str]:
        return label, get(real), get(sim)

    rows = [row("impressions", lambda s: f"{s['impressions']:,}"),
            row("users", lambda s: f"{s['users']:,}"),
            row("CTR", lambda s: f"{s['ctr']:.2%}")]  # fmt: skip
    for q in real["impressions_per_user"]:
        rows.append(
            row(f"impressions per user, q{q}", lambda s, q=q: f"{s['impressions_per_user'][q]:.0f}")
        )
    for t in real["top_items_share"]:
        rows.append(
            row(
                f"share of impressions, top {float(t):.0%} items",
                lambda s, t=t: f"{s['top_items_share'][t]:.1%}",
            )
        )
    deciles = "CTR by user-activity decile (least active first)"
    rows.append(row(deciles, lambda s: " ".join(f"{c:.1%}" for c in s["ctr_by_activity_decile"])))
    lines = ["", "## Fidelity: the real log against one simulated from the fitted world", "",
             "![fidelity](fidelity.png)", "",
             *markdown_table(("statistic", "real", "simulated"), rows)]  # fmt: skip
    lines += ["", f"DeepFM held-out AUC (last 20% of days): trained on real, tested on real "
              f"{auc['real_on_real']:.3f}; simulated on simulated {auc['sim_on_sim']:.3f}; "
              f"simulated on real {auc['sim_on_real']:.3f} (ids do not correspond: what "
              "transfers goes through hour, weekday and category)."]  # fmt: skip
    return lines


@hydra.main(version_base="1.3", config_path=CONF_SEARCH_PATH, config_name="calibrate")
def _hydra_main(cfg: DictConfig) -> None:
    from abtest_sim.world.fit.log import LogError

    try:
        settings = CalibrateSettings.from_config(OmegaConf.to_container(cfg, resolve=True))
        report = calibrate(settings)
    except (SchemaError, LogError, ValueError) as error:  # NotOwned too: a user's out folder
        fail(PROG, one_line(error))
    except OSError as error:  # a full or read-only disk: out appears whole or not at all
        fail(PROG, disk_error(error))
    drift = report["measured"]["drift"]
    tau = "not measurable" if drift is None else f"{drift['tau_days']:.1f} days"
    print(f"world {settings.name}: {settings.out / 'world' / (settings.name + '.yaml')} "
          f"(drift tau {tau}); report {settings.out / 'calibration.md'}")  # fmt: skip


def main() -> None:
    precheck(PROG, "calibrate", sys.argv[1:], optional_groups=("dataset",))
    _hydra_main()


if __name__ == "__main__":
    main()
