"""What every command-line app of the toolkit does around Hydra: one readable error line with exit
code 2 (never a traceback), also for Hydra's own composition errors, and no run dir left behind by
a refused run."""

from __future__ import annotations

import logging
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from hydra import compose, initialize, initialize_config_dir
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

__all__ = ["fail", "one_line", "precheck", "remove_hydra_leftovers"]

HYDRA_FILES = frozenset({".hydra", "cli.log"})


def one_line(error: BaseException) -> str:
    return re.sub(r"\s+", " ", str(error)).strip()


def fail(prog: str, message: str) -> NoReturn:
    print(f"{prog}: error: {message}", file=sys.stderr)
    sys.exit(2)


def precheck(prog: str, config_dir: str | None, config_name: str, args: Sequence[str]) -> None:
    """Compose the config once so that Hydra's own errors (an unknown group option, a malformed
    override) also come out as one line with exit code 2. ``config_dir`` None: the config is in
    Hydra's ConfigStore. Flags (``--help``, ``-m``) and ``hydra.*`` overrides are left to Hydra."""
    if any(arg.startswith("-") for arg in args):
        return
    overrides = [arg for arg in args if not arg.lstrip("+~").startswith("hydra.")]
    context = (
        initialize(config_path=None, version_base="1.3")
        if config_dir is None
        else initialize_config_dir(config_dir=config_dir, version_base="1.3")
    )
    try:
        with context:
            compose(config_name, overrides=overrides)
    except (HydraException, OmegaConfBaseException) as error:
        fail(prog, one_line(error))


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
