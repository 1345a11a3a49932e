"""What every command-line app of the toolkit does around Hydra: one readable error line with exit
code 2 (never a traceback), also for Hydra's own composition errors, and no run dir left behind by
a refused run."""

from __future__ import annotations

import contextlib
import importlib.resources
import logging
import re
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from hydra import compose, initialize, initialize_config_module
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from reloop.owned import MARKER, NotOwned

__all__ = [
    "CONF_DIR",
    "CONF_PACKAGE",
    "CONF_SEARCH_PATH",
    "disk_error",
    "fail",
    "named_run_dir",
    "note_named_run_dir",
    "number",
    "one_line",
    "one_line_errors",
    "precheck",
    "remove_hydra_leftovers",
    "save_hydra_record",
]

# The project's top-level conf/ directory, installed as this package (pyproject's package-dir), so
# that the apps find their configs through Hydra's package search path wherever they run, from a
# checkout or a wheel. CONF_DIR: the same folder on disk (for Hydra's compose API in tests).
CONF_PACKAGE = "abtest_sim_reloop_conf"
CONF_SEARCH_PATH = f"pkg://{CONF_PACKAGE}"
CONF_DIR = str(importlib.resources.files(CONF_PACKAGE))

# What starting an app leaves in its run dir before any work: Hydra's config copy and job log, the
# run-dir lock (abtest_sim.sim.rundir) and the mark of the app's folder (reloop.owned).
HYDRA_FILES = frozenset({".hydra", "abtest-sim.log", "cli.log", ".lock", MARKER})
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


def disk_error(error: OSError) -> str:
    """One line for a failed read or write of a file (a full or read-only disk, a path through a
    file, no permission), naming the path."""
    where = f" {error.filename}" if error.filename else ""
    what = error.strerror or type(error).__name__
    return f"cannot write or read{where}: {what}"


def save_hydra_record(run_dir: Path, cfg: DictConfig | Mapping[str, Any]) -> None:
    """Hydra's record of the command in ``run_dir/.hydra`` (config, Hydra's config, overrides),
    written by the app once the run dir is its own (the apps set ``hydra.output_subdir: null``,
    so that Hydra never writes into a folder the app then refuses)."""
    from hydra.core.hydra_config import HydraConfig

    from reloop.atomic import write_text

    hydra_cfg = HydraConfig.get()
    folder = Path(run_dir) / ".hydra"
    write_text(folder / "config.yaml", OmegaConf.to_yaml(cfg))
    write_text(folder / "hydra.yaml", OmegaConf.to_yaml({"hydra": hydra_cfg}))
    write_text(folder / "overrides.yaml", OmegaConf.to_yaml(hydra_cfg.overrides.task))


@contextlib.contextmanager
def one_line_errors(prog: str, *kinds: type[Exception]) -> Iterator[None]:
    """The one runner of every app's work: its bad-input errors (``kinds``, and every app's
    ``SchemaError`` and ``NotOwned``) and a failed read or write (a full or read-only disk) end it
    with one line on stderr and exit code 2, never a traceback."""
    from reloop.schema import SchemaError

    refused: tuple[type[Exception], ...] = (SchemaError, NotOwned, *kinds)
    try:
        yield
    except refused as error:
        fail(prog, one_line(error))
    except OSError as error:
        fail(prog, disk_error(error))


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
    for arg in overrides:
        if arg.lstrip("+~").startswith("="):
            fail(prog, f"override {arg!r} names no key: write key=value, e.g. seed=5")
    context = (
        initialize(config_path=None, version_base="1.3")
        if stored
        else initialize_config_module(config_module=CONF_PACKAGE, version_base="1.3")
    )
    try:
        with context:
            known = set(compose(config_name)) | set(optional_groups)
            unknown = sorted(set(compose(config_name, overrides=overrides)) - known)
    except (HydraException, OmegaConfBaseException, ValueError) as error:  # ValueError: '=5'
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


def named_run_dir(args: list[str]) -> Path | None:
    """The run dir named on the command line (``run_dir=``, with ``+``/``++``, or
    ``hydra.run.dir=``; quotes removed), unless in a -m sweep or given as an interpolation."""
    if any(arg.startswith("-") for arg in args):
        return None
    values = []
    for arg in args:
        key, _, value = arg.lstrip("+").partition("=")
        if key in ("run_dir", "hydra.run.dir"):
            values.append(unquoted(value))
    if not values or not values[-1] or "${" in values[-1]:
        return None
    return Path(values[-1])


def unquoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


_EXISTED_BEFORE: set[Path] = set()  # named run dirs that were there before this process started


def note_named_run_dir(prog: str, args: list[str]) -> Path | None:
    """The run dir named on the command line (``named_run_dir``), remembered as the user's if it
    already exists, so that a refused run never removes it; one that cannot be a folder (it, or
    a folder above it, is a file) is refused here, before Hydra would try to make it."""
    named = named_run_dir(args)
    if named is None:
        return None
    for folder in (named, *named.parents):
        if folder.exists() and not folder.is_dir():
            fail(prog, f"run_dir {named} cannot be a folder: {folder} is a file")
    if named.exists():
        _EXISTED_BEFORE.add(named.resolve())
    return named


def remove_hydra_leftovers(run_dir: Path) -> None:
    """Remove a run dir that holds nothing but what starting the app left (Hydra's config copy
    and log, the lock), if this process made it: a refused run leaves nothing behind, and a
    folder that was there before (``note_named_run_dir``) or holds anything else is kept."""
    if not run_dir.is_dir() or run_dir.resolve() in _EXISTED_BEFORE:
        return
    if {path.name for path in run_dir.iterdir()} <= HYDRA_FILES:
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
