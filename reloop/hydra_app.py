"""What every command-line app of the toolkit does around Hydra: one readable error line with exit
code 2 (never a traceback), also for Hydra's own composition errors, and no run dir left behind by
a refused run."""

from __future__ import annotations

import importlib.resources
import logging
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from hydra import compose, initialize, initialize_config_module
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

__all__ = [
    "CONF_DIR",
    "CONF_PACKAGE",
    "CONF_SEARCH_PATH",
    "fail",
    "number",
    "one_line",
    "precheck",
    "remove_hydra_leftovers",
]

# The project's top-level conf/ directory, installed as this package (pyproject's package-dir), so
# that the apps find their configs through Hydra's package search path wherever they run, from a
# checkout or a wheel. CONF_DIR: the same folder on disk (for Hydra's compose API in tests).
CONF_PACKAGE = "abtest_sim_reloop_conf"
CONF_SEARCH_PATH = f"pkg://{CONF_PACKAGE}"
CONF_DIR = str(importlib.resources.files(CONF_PACKAGE))

# What starting an app leaves in its run dir before any work: Hydra's config copy and job log, and
# the run-dir lock (abtest_sim.rundir).
HYDRA_FILES = frozenset({".hydra", "cli.log", ".lock"})
TRAINING_KEYS = frozenset(
    {"epochs", "patience", "batch_size", "lr", "weight_decay", "numeric_mode"}
)
_NOT_IN_STRUCT = re.compile(r"Could not override '([^']+)'.*(?:not in struct|To append)")


def number(value: object, name: str, kind: type[int] | type[float]) -> int | float:
    """A numeric option of an app, checked like every config value (``reloop.schema.coerce``):
    an int (no bool), or for float any real number; ``ValueError`` naming the option."""
    from reloop.schema import coerce

    return coerce(value, kind(0), name)


def one_line(error: BaseException) -> str:
    return re.sub(r"\s+", " ", str(error)).strip()


def fail(prog: str, message: str) -> NoReturn:
    print(f"{prog}: error: {message}", file=sys.stderr)
    sys.exit(2)


def precheck(
    prog: str,
    config_name: str,
    args: Sequence[str],
    *,
    stored: bool = False,
    optional_groups: Sequence[str] = (),
) -> None:
    """Compose the config once so that Hydra's own errors (an unknown group option, a malformed
    override) also come out as one line with exit code 2, and refuse top-level keys the app does
    not have (a ``+key=value`` typo would otherwise be composed in and ignored). ``stored``: the
    config is in Hydra's ConfigStore, not in ``CONF_PACKAGE``. Flags (``--help``, ``-m``) and
    ``hydra.*`` overrides are left to Hydra. ``optional_groups``: config groups the defaults list
    leaves out (``- dataset: null``), whose key a selection adds."""
    if any(arg.startswith("-") for arg in args):
        return
    overrides = [arg for arg in args if not arg.lstrip("+~").startswith("hydra.")]
    context = (
        initialize(config_path=None, version_base="1.3")
        if stored
        else initialize_config_module(config_module=CONF_PACKAGE, version_base="1.3")
    )
    try:
        with context:
            known = set(compose(config_name)) | set(optional_groups)
            unknown = sorted(set(compose(config_name, overrides=overrides)) - known)
    except (HydraException, OmegaConfBaseException) as error:
        fail(prog, _readable(error))
    if unknown:
        fail(prog, f"unknown key(s) {unknown}; known: {sorted(known)}")


def _readable(error: BaseException) -> str:
    """Hydra's message, except that an override of a key the app lacks says so (Hydra's own text
    suggests appending it with ``+``, which would only be refused as unknown)."""
    text = one_line(error)
    match = _NOT_IN_STRUCT.search(text)
    if not match:
        return text
    key = match.group(1)
    hint = ""
    if key.startswith("model.") and key.split(".")[-1] in TRAINING_KEYS:
        hint = (
            "; the model node is the architecture only: training is set per arm in abtest-sim "
            "(arm.<name>.train.lr, .epochs, .batch_size) and in train.* for reloop-offline"
        )
    return f"unknown key {key!r}: the app's config has no such key{hint}"


def remove_hydra_leftovers(run_dir: Path) -> None:
    """Remove a run dir that holds nothing but what Hydra wrote on starting the app (its config
    copy and log): a refused run leaves nothing behind. A dir holding anything else is kept."""
    if run_dir.is_dir() and {path.name for path in run_dir.iterdir()} <= HYDRA_FILES:
        _detach_file_logs(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)


def _detach_file_logs(directory: Path) -> None:
    """Close and remove the logging handlers that write into ``directory`` (Hydra's job log), so
    that its file can go and later logging in the same process does not write to a closed file."""
    named = logging.Logger.manager.loggerDict.values()
    loggers = [logging.getLogger(), *(x for x in named if isinstance(x, logging.Logger))]
    directory = directory.resolve()
    for logger in loggers:
        for handler in list(logger.handlers):
            if isinstance(handler, logging.FileHandler) and (
                Path(handler.baseFilename).resolve().parent == directory
            ):
                logger.removeHandler(handler)
                handler.close()
