"""A real A/B test's log (CSV or parquet), read into one row per (unit, arm, day).

The log is read lazily with polars by the one reader of table files
(``reloop.datasets.scan_table_file``), impression rows are summed per (unit, arm, day) in the
scan, and every column is checked (roles, types, nulls, 0/1 clicks, p_true in [0, 1]) before
anything is computed; days are ordered and the A/A pre-period marked (``log_days``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from abtest_sim.analysis.log_days import LogDaysError, ordered_days, with_aa_days
from reloop.datasets import TableFileError, collect_table, scan_table_file

__all__ = ["FORMATS", "AnalyzeError", "LogSpec", "read_unit_days"]

FORMATS = ("auto", "impressions", "unit_day")


class AnalyzeError(ValueError):
    """Bad settings or a bad log; the message is one line for the user."""


@dataclass(frozen=True, kw_only=True)
class LogSpec:
    """Where the log is and what its columns are (abtest-analyze's reading settings)."""

    input: Path
    format: str = "auto"  # auto | impressions (one row per impression) | unit_day
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


def _shape(spec: LogSpec, columns: list[str]) -> str:
    """'impressions' or 'unit_day': the format asked for, or the one the columns show."""
    if spec.format not in FORMATS:
        raise AnalyzeError(f"format= must be one of {', '.join(FORMATS)}, got {spec.format}")
    if spec.format != "auto":
        return spec.format
    per_day = spec.clicks in columns and spec.impressions in columns
    per_impression = spec.click in columns
    if per_day and per_impression:
        raise AnalyzeError(
            f"the log has both {spec.click} and {spec.clicks}/{spec.impressions} "
            "columns: set format=impressions or format=unit_day"
        )
    if not (per_day or per_impression):
        raise AnalyzeError(
            f"no column {spec.click!r} (one row per impression) nor {spec.clicks!r} + "
            f"{spec.impressions!r} (one row per unit and day); have: {', '.join(columns)}"
        )
    return "unit_day" if per_day else "impressions"


def _roles(spec: LogSpec, shape: str) -> dict[str, str]:
    """Standard name -> column of the log, for the columns this log needs."""
    roles = {"unit": spec.unit, "arm": spec.arm, "day": spec.day}
    if shape == "impressions":
        roles["click"] = spec.click
        if spec.true_clicks is not None:
            raise AnalyzeError("true_clicks= is for unit_day logs; impression logs use p_true=")
        if spec.p_true is not None:
            roles["p_true"] = spec.p_true
    else:
        roles |= {"clicks": spec.clicks, "impressions": spec.impressions}
        if spec.p_true is not None:
            raise AnalyzeError("p_true= is for impression logs; unit_day logs use true_clicks=")
        if spec.true_clicks is not None:
            roles["true_clicks"] = spec.true_clicks
    if spec.phase is not None:
        roles["phase"] = spec.phase
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


def read_unit_days(spec: LogSpec) -> tuple[pl.DataFrame, str]:
    """The log as one row per (unit, arm, day) with clicks and impressions (+ phase, truth),
    and the shape it was read in ('impressions' or 'unit_day'); ``AnalyzeError`` on bad input."""
    if spec.phase is not None and spec.aa_days is not None:
        raise AnalyzeError("set at most one of phase= and aa_days=")
    scan, schema = _scan(spec.input)
    shape = _shape(spec, schema.names())
    roles = _roles(spec, shape)
    _check_roles(roles, schema, spec.input)
    _check_values(scan, roles, spec.input)
    table = _collect(_unit_days(scan, roles), spec.input)
    if "phase" in table.columns:
        table = table.with_columns(pl.col("phase").cast(pl.String))
    try:
        days = ordered_days(table["day"], spec.day, spec.day_format)
        table = table.with_columns(pl.col("arm").cast(pl.String), days)
        if spec.aa_days is not None:
            table = with_aa_days(table, spec.aa_days)
    except LogDaysError as error:
        raise AnalyzeError(str(error)) from None
    return table, shape
