"""``abtest-analyze``: the A/B test report of a log (CSV or parquet) of a real or simulated test.

``analyze(settings)`` is the plain function (it returns the report's summary); the Hydra app is a
thin wrapper that turns input errors into one line on stderr and exit code 2. The log is read
lazily with polars under the rules of every app's reader (``reloop.datasets.scan_table_file``),
impression rows are summed per (unit, arm, day) in the scan, and everything is validated before
the report (and the heavy imports behind it) starts.
"""

from __future__ import annotations

import importlib.resources
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
import polars as pl
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from abtest_sim.analysis.log_days import LogDaysError, ordered_days, with_aa_days
from abtest_sim.report.format import interval
from reloop.datasets import TableFileError, collect_table, scan_table_file
from reloop.hydra_app import CONF_PACKAGE, disk_error, fail, number, precheck
from reloop.owned import NotOwned

if TYPE_CHECKING:
    from abtest_sim.report.writer import ReportSummary

CONFIG_FILE = "analyze.yaml"  # in CONF_PACKAGE
CONFIG_NAME = "abtest_analyze"
PROG = "abtest-analyze"
FORMATS = ("auto", "impressions", "unit_day")


class AnalyzeError(ValueError):
    """Bad settings or a bad log; the message is one line for the user."""


@dataclass(frozen=True)
class AnalyzeSettings:
    """What to read and how: the settings of conf/analyze.yaml."""

    input: Path
    out: Path
    control: str
    treatment: str
    aa_control: str | None = None
    format: str = "auto"
    unit: str = "unit"
    arm: str = "arm"
    day: str = "day"
    day_format: str | None = None  # strptime format of text days, e.g. %m/%d/%Y
    click: str = "click"
    clicks: str = "clicks"
    impressions: str = "impressions"
    p_true: str | None = None
    true_clicks: str | None = None
    phase: str | None = None
    aa_days: int | None = None
    alpha: float = 0.05
    shares: dict[str, float] | None = None
    headline: str = "auto"  # the estimator the report leads with (abtest_sim.analysis.options)
    lineage_sd: dict[str, Any] | None = None  # model-lineage SD per estimator, if measured
    cs_rho: Any = None  # tuning of the confidence sequence (checked by ReportOptions)

    @classmethod
    def from_config(cls, cfg: DictConfig) -> AnalyzeSettings:
        for key in ("input", "control", "treatment"):
            if OmegaConf.is_missing(cfg, key) or cfg.get(key) is None:
                raise AnalyzeError(f"{key}= is required (e.g. input=log.csv control=A treatment=B)")
        raw = OmegaConf.to_container(cfg, resolve=True)
        assert isinstance(raw, dict)
        return cls(
            input=Path(str(raw["input"])),
            out=Path(str(raw["out"])),
            control=str(raw["control"]),
            treatment=str(raw["treatment"]),
            aa_control=_optional_str(raw.get("aa_control")),
            format=str(raw.get("format", "auto")),
            unit=str(raw.get("unit", "unit")),
            arm=str(raw.get("arm", "arm")),
            day=str(raw.get("day", "day")),
            day_format=_optional_str(raw.get("day_format")),
            click=str(raw.get("click", "click")),
            clicks=str(raw.get("clicks", "clicks")),
            impressions=str(raw.get("impressions", "impressions")),
            p_true=_optional_str(raw.get("p_true")),
            true_clicks=_optional_str(raw.get("true_clicks")),
            phase=_optional_str(raw.get("phase")),
            aa_days=_optional_int("aa_days", raw.get("aa_days")),
            alpha=_float("alpha", raw.get("alpha", 0.05)),
            shares=_shares(raw.get("shares")),
            headline=str(raw.get("headline", "auto")),
            lineage_sd=raw.get("lineage_sd"),
            cs_rho=raw.get("cs_rho"),
        )


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _optional_int(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise AnalyzeError(f"{name}= must be a whole number, got {value!r}")
    return value


def _float(name: str, value: Any) -> float:
    """A numeric setting, typed as every app types its numbers (``reloop.hydra_app.number``: no
    text, no bool), and finite."""
    try:
        out = float(number(value, f"{name}=", float))
    except ValueError as error:
        raise AnalyzeError(str(error)) from None
    if not math.isfinite(out):
        raise AnalyzeError(f"{name}= must be a finite number, got {value!r}")
    return out


def _shares(value: Any) -> dict[str, float] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise AnalyzeError(
            f"shares= must map arms to shares, e.g. {{A: 0.5, B: 0.5}}, got {value!r}"
        )
    shares = {str(arm): _float(f"shares.{arm}", share) for arm, share in value.items()}
    for arm, share in shares.items():
        if share <= 0:  # a share of 0 or less would leave the SRM test without a design
            raise AnalyzeError(f"shares.{arm}= must be positive, got {share!r}")
    return shares


# ----------------------------------------------------------------------------- reading


def _scan(path: Path) -> tuple[pl.LazyFrame, pl.Schema]:
    """The log, lazily, under the one reader's rules (``reloop.datasets.scan_table_file``)."""
    try:
        scan = scan_table_file(path)
        return scan, scan.collect_schema()  # resolved (and checked) by scan_table_file
    except TableFileError as error:
        raise AnalyzeError(str(error)) from None


def _collect(query: pl.LazyFrame, path: Path) -> pl.DataFrame:
    try:
        return collect_table(query, path)
    except TableFileError as error:
        raise AnalyzeError(str(error)) from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _shape(settings: AnalyzeSettings, columns: list[str]) -> str:
    """'impressions' or 'unit_day': the format asked for, or the one the columns show."""
    if settings.format not in FORMATS:
        raise AnalyzeError(f"format= must be one of {', '.join(FORMATS)}, got {settings.format}")
    if settings.format != "auto":
        return settings.format
    per_day = settings.clicks in columns and settings.impressions in columns
    per_impression = settings.click in columns
    if per_day and per_impression:
        raise AnalyzeError(
            f"the log has both {settings.click} and {settings.clicks}/{settings.impressions} "
            "columns: set format=impressions or format=unit_day"
        )
    if not (per_day or per_impression):
        raise AnalyzeError(
            f"no column {settings.click!r} (one row per impression) nor {settings.clicks!r} + "
            f"{settings.impressions!r} (one row per unit and day); have: {', '.join(columns)}"
        )
    return "unit_day" if per_day else "impressions"


def _roles(settings: AnalyzeSettings, shape: str) -> dict[str, str]:
    """Standard name -> column of the log, for the columns this log needs."""
    roles = {"unit": settings.unit, "arm": settings.arm, "day": settings.day}
    if shape == "impressions":
        roles["click"] = settings.click
        if settings.true_clicks is not None:
            raise AnalyzeError("true_clicks= is for unit_day logs; impression logs use p_true=")
        if settings.p_true is not None:
            roles["p_true"] = settings.p_true
    else:
        roles |= {"clicks": settings.clicks, "impressions": settings.impressions}
        if settings.p_true is not None:
            raise AnalyzeError("p_true= is for impression logs; unit_day logs use true_clicks=")
        if settings.true_clicks is not None:
            roles["true_clicks"] = settings.true_clicks
    if settings.phase is not None:
        roles["phase"] = settings.phase
    return roles


def _check_roles(roles: Mapping[str, str], schema: pl.Schema, path: Path) -> None:
    used = list(roles.values())
    repeated = sorted({c for c in used if used.count(c) > 1})
    if repeated:
        raise AnalyzeError(f"column {repeated[0]!r} is named for more than one role")
    missing = [c for c in used if c not in schema]
    if missing:
        raise AnalyzeError(
            f"column(s) {', '.join(missing)} not found in {path.name} "
            f"(columns: {', '.join(schema.names())})"
        )
    numeric = {"click", "clicks", "impressions", "p_true", "true_clicks"}
    for role, column in roles.items():
        dtype = schema[column]
        if role in numeric and dtype == pl.Boolean and role != "click":  # click: 0/1 or bool
            raise AnalyzeError(f"column {column} holds true/false, not counts of {role}")
        if role in numeric and not (dtype.is_numeric() or dtype == pl.Boolean):
            raise AnalyzeError(f"column {column} must be numeric, got {dtype}")


def _check_values(scan: pl.LazyFrame, roles: Mapping[str, str], path: Path) -> None:
    """Nulls anywhere; for impression rows also a click other than 0/1, a p_true outside [0, 1]."""
    checks = [pl.col(c).null_count().alias(f"nulls:{c}") for c in roles.values()]
    if "click" in roles:
        click = pl.col(roles["click"]).cast(pl.Float64)
        checks.append(((click != 0) & (click != 1)).sum().alias("bad_click"))
    if "p_true" in roles:
        p = pl.col(roles["p_true"]).cast(pl.Float64)
        checks.append(((p < 0) | (p > 1) | p.is_nan()).sum().alias("bad_p_true"))
    found = _collect(scan.select(checks), path).row(0, named=True)
    for column in roles.values():
        if found[f"nulls:{column}"]:
            raise AnalyzeError(f"column {column} has {found[f'nulls:{column}']} missing value(s)")
    if found.get("bad_click"):
        raise AnalyzeError(
            f"column {roles['click']} must be 0 or 1 per impression; "
            f"{found['bad_click']} row(s) are not (for per-day counts use clicks= and impressions=)"
        )
    if found.get("bad_p_true"):
        raise AnalyzeError(
            f"column {roles['p_true']} has {found['bad_p_true']} value(s) outside [0, 1]"
        )


def _unit_days(scan: pl.LazyFrame, roles: Mapping[str, str]) -> pl.LazyFrame:
    """Standard column names; impression rows summed per (unit, arm, day) inside the scan."""
    renamed = scan.select(pl.col(column).alias(role) for role, column in roles.items())
    if "click" not in roles:
        return renamed
    sums = [
        pl.col("click").cast(pl.Int64).sum().alias("clicks"),
        pl.len().cast(pl.Int64).alias("impressions"),
    ]
    if "p_true" in roles:
        sums.append(pl.col("p_true").cast(pl.Float64).sum().alias("true_clicks"))
    keys = [k for k in ("unit", "arm", "day", "phase") if k in roles]
    return renamed.group_by(keys).agg(sums)


def load_unit_days(settings: AnalyzeSettings) -> pl.DataFrame:
    """The log as one row per (unit, arm, day) with clicks and impressions (+ phase, truth)."""
    return _load(settings)[0]


def _load(settings: AnalyzeSettings) -> tuple[pl.DataFrame, str]:
    if settings.phase is not None and settings.aa_days is not None:
        raise AnalyzeError("set at most one of phase= and aa_days=")
    scan, schema = _scan(settings.input)
    shape = _shape(settings, schema.names())
    roles = _roles(settings, shape)
    _check_roles(roles, schema, settings.input)
    _check_values(scan, roles, settings.input)
    table = _collect(_unit_days(scan, roles), settings.input)
    if "phase" in table.columns:
        table = table.with_columns(pl.col("phase").cast(pl.String))
    try:
        days = ordered_days(table["day"], settings.day, settings.day_format)
        table = table.with_columns(pl.col("arm").cast(pl.String), days)
        if settings.aa_days is not None:
            table = with_aa_days(table, settings.aa_days)
    except LogDaysError as error:
        raise AnalyzeError(str(error)) from None
    return table, shape


def analyze(settings: AnalyzeSettings) -> ReportSummary:
    """Read, validate and report; raises ``AnalyzeError`` (one line) on bad input."""
    if settings.out.exists() and not settings.out.is_dir():
        raise AnalyzeError(f"out={settings.out} is a file, not a directory")
    table, shape = _load(settings)
    # The report pulls in scipy, statsmodels and matplotlib: only once the file itself is known
    # good, so that most bad input is answered in well under a second.
    from abtest_sim.analysis.options import ReportOptionsError
    from abtest_sim.report.writer import (
        Arms,
        ReportContext,
        ReportInput,
        ReportInputError,
        ReportOptions,
        write_report,
    )

    try:
        options = ReportOptions.from_mapping(
            {
                "alpha": settings.alpha,
                "headline": settings.headline,
                "lineage_sd": settings.lineage_sd,
                "cs_rho": settings.cs_rho,
            }
        )
    except ReportOptionsError as error:
        raise AnalyzeError(str(error).replace("stats.", "")) from None

    metadata = {
        "input": str(settings.input),
        "format": shape,
        "columns": {"unit": settings.unit, "arm": settings.arm, "day": settings.day},
        "phase": settings.phase,
        "aa_days": settings.aa_days,
    }
    arms = Arms(
        settings.control, settings.treatment, aa_control=settings.aa_control, shares=settings.shares
    )
    report = ReportInput(table, arms, options, ReportContext(owner=PROG, metadata=metadata))
    try:
        return write_report(report, settings.out)
    except ReportInputError as error:  # the table is unusable: arms, counts, phases
        raise AnalyzeError(str(error)) from None


def _headline(summary: ReportSummary) -> str:
    lead = summary.lead
    shown = interval(lead.lift, lead.total_ci_low, lead.total_ci_high)
    return (
        f"{PROG}: {summary.treatment} vs {summary.control}: {lead.label} {shown}, "
        f"p = {lead.total_p_value:.4g}; report: {summary.report_dir / 'report.md'}"
    )


def register_config() -> None:
    """Put conf/analyze.yaml into Hydra's ConfigStore as ``CONFIG_NAME``.

    The app does not search conf/ itself: conf/ also holds abtest-sim's config groups (arm/, model/,
    ...), and Hydra would read the contract override ``arm=<column>`` as a choice of the ``arm``
    group and refuse it. From the store, the yaml is the same single source of the settings.
    """
    text = importlib.resources.files(CONF_PACKAGE).joinpath(CONFIG_FILE).read_text()
    ConfigStore.instance().store(name=CONFIG_NAME, node=OmegaConf.create(text))


register_config()


@hydra.main(version_base="1.3", config_path=None, config_name=CONFIG_NAME)
def _hydra_main(cfg: DictConfig) -> None:
    try:
        summary = analyze(AnalyzeSettings.from_config(cfg))
    except (AnalyzeError, NotOwned) as error:
        # Hydra prints a traceback for an exception; bad input deserves one line and exit code 2.
        fail(PROG, _first_line(error))
    except OSError as error:  # a full or read-only disk: report/ appears whole or not at all
        fail(PROG, disk_error(error))
    print(_headline(summary))


def main() -> None:
    precheck(PROG, CONFIG_NAME, sys.argv[1:], stored=True)
    _hydra_main()


if __name__ == "__main__":
    main()
