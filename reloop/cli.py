"""``reloop-offline``: ReLoop against BCE and KD on logged data, from one command.

    reloop-offline dataset=movielens100k model=dcn protocol=successive seeds=5 alpha=0.5
    reloop-offline dataset=table dataset.path=PATH dataset.label=COL \\
        dataset.categorical=[a,b] dataset.numeric=[x]

``@hydra.main`` is a thin wrapper around ``run_offline(cfg, output_dir)``, a plain function that
tests call. Bad input (configuration, data, or Hydra's own composition errors) prints one line
``reloop-offline: error: <message>`` on stderr and exits with code 2 before any training;
``results.csv`` and ``results.md`` are written atomically once every model is evaluated.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from reloop.datasets import load_dataset
from reloop.hydra_app import (
    CONF_DIR,
    CONF_SEARCH_PATH,
    disk_error,
    fail,
    note_named_run_dir,
    one_line,
    precheck,
    remove_hydra_leftovers,
    save_hydra_record,
)
from reloop.offline import (
    OfflineConfig,
    OfflineResults,
    Plan,
    execute,
    plan,
    write_results,
)
from reloop.offline_config import OfflineCommand
from reloop.owned import NotOwned, check_writable, claim_dir
from reloop.schema import SchemaError, build
from reloop.schema import plain as read_plain

__all__ = ["CONF_DIR", "main", "offline_config", "prepare", "run_offline"]

PROG = "reloop-offline"
log = logging.getLogger(__name__)


def offline_config(cfg: Mapping[str, Any]) -> OfflineConfig:
    """The typed configuration of a composed ``offline`` config (plain mapping)."""
    try:
        return build(OfflineCommand, cfg, "").config()
    except SchemaError as error:
        raise ValueError(str(error)) from None


def prepare(cfg: DictConfig | Mapping[str, Any]) -> Plan:
    """Check the configuration, load the data and cut it for every seed (``ValueError`` if bad)."""
    try:
        plain = read_plain(cfg)
    except SchemaError as error:
        raise ValueError(str(error)) from None
    config = offline_config(plain)
    config.validate()
    return plan(load_dataset(plain["dataset"]), config)


def run_offline(
    cfg: DictConfig | Mapping[str, Any],
    output_dir: str | Path | None = None,
    command: str | None = None,
) -> OfflineResults:
    """Run the offline comparison a composed config describes; write results into ``output_dir``."""
    prepared = prepare(cfg)
    return _execute(prepared, output_dir, command)


def _execute(prepared: Plan, output_dir: str | Path | None, command: str | None) -> OfflineResults:
    results = execute(prepared, _title(prepared), _notes(prepared, command))
    if output_dir is not None:
        csv_path, md_path = write_results(results, output_dir)
        log.info("results: %s and %s", csv_path, md_path)
    return results


def _title(prepared: Plan) -> str:
    config, data = prepared.config, prepared.data
    return (
        f"ReLoop offline: {config.model.name} on {data.name} ({len(data)} rows), "
        f"protocol {config.protocol}, {len(config.seeds)} seeds"
    )


def _notes(prepared: Plan, command: str | None) -> list[str]:
    config, model = prepared.config, prepared.config.model
    budgets = ", ".join(
        f"{k}: {b.epochs} epochs, patience {b.patience}" for k, b in config.budgets.items()
    )
    lines = [f"Command: `{command}`", ""] if command else []
    lines += [
        f"- model: {model.name}, embedding {model.embedding_dim}, "
        f"hidden {list(model.hidden_units)}, dropout {model.dropout}, "
        f"options {dict(model.options)}; Adam lr {config.train.lr}, batch "
        f"{config.train.batch_size}, weight decay {config.train.weight_decay}",
        f"- early-stopping budgets: {budgets} (bce_long uses `long`, every other method `default`)",
        f"- alpha: {list(config.alphas)}; seeds: {list(config.seeds)}",
        f"- features: {list(prepared.data.features)}; label `{prepared.data.label}`",
    ]
    if config.protocol == "paper":
        lines.append(
            f"- split {list(config.split)} (random, per seed); previous model on "
            f"{config.previous_fraction:g} of the training set"
        )
    else:
        lines.append(
            f"- {config.periods} periods in time order; versions 1..{config.periods - 2} compared; "
            f"{config.valid_fraction:g} of each period held out for early stopping"
        )
    return [*lines, ""]


def _fail(message: str) -> NoReturn:
    fail(PROG, message)


def _command(args: Sequence[str]) -> str:
    return " ".join([PROG, *args])


@hydra.main(version_base="1.3", config_path=CONF_SEARCH_PATH, config_name="offline")
def _hydra_main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        check_writable(run_dir, PROG, legacy=_earlier_run, what="run_dir")
        prepared = prepare(cfg)
    except NotOwned as error:
        _fail(str(error))
    except ValueError as error:
        remove_hydra_leftovers(run_dir)
        _fail(one_line(error))
    try:
        claim_dir(run_dir, PROG, legacy=_earlier_run, what="run_dir")
        save_hydra_record(run_dir, cfg)
        _execute(prepared, run_dir, _command(sys.argv[1:]))
    except OSError as error:  # a full or read-only disk: results are written whole or not at all
        _fail(disk_error(error))


def _earlier_run(folder: Path) -> bool:
    """A run dir of an earlier version (no marker): it holds its results."""
    return (folder / "results.csv").is_file() and (folder / "results.md").is_file()


def main() -> None:
    precheck(PROG, "offline", sys.argv[1:])
    note_named_run_dir(PROG, sys.argv[1:])
    _hydra_main()


if __name__ == "__main__":
    main()
