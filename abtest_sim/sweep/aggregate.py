"""``abtest-sim-aggregate``: what a sweep of simulated A/B tests says across many possible worlds.

Reads every run of a multirun directory (a folder holding ``config.json`` and ``report/``), groups
the runs by the configuration keys that vary across them (the seed and salt aside), and writes
``aggregate/summary.csv`` (one row per configuration), ``aggregate/runs.csv`` (one row per run),
``aggregate/lineage.csv`` (the lineage variance of each estimator, from the A/A runs),
``aggregate/report.md``, ``aggregate/report.html`` (one page, figures inline) and plots. The
figures (``abtest_sim.sweep.validity``): per estimator the spread of the lift, power and the A/A
false-positive rate, coverage of the launch effect and of the test's target, each without and
with the lineage component; the A/A weeks counted once each; Wilson intervals for every rate.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
import polars as pl
from scipy import stats as scipy_stats

from abtest_sim.analysis.estimators import estimator_keys
from abtest_sim.report.html import render_html
from abtest_sim.report.markdown import render_markdown
from abtest_sim.report.plots import svg_text
from abtest_sim.sim.config import ArmSpec, history_key
from abtest_sim.sweep.document import SweepReport, sweep_document
from abtest_sim.sweep.plots import figures, write_plots
from abtest_sim.sweep.validity import LineageVariance, group_row, lineage_from_aa_runs, rate
from reloop.owned import NotOwned, check_writable, replace_owned_dir
from reloop.schema import SchemaError, build

__all__ = ["AggregateError", "aggregate", "load_runs", "rate", "summarise_runs"]

PROG = "abtest-sim-aggregate"
NOT_GROUPED = ("seed", "experiment.salt")  # replicates differ in these
ESTIMATE_FIELDS = (
    "lift", "se", "p_value", "launch", "target", "total_ci_low", "total_ci_high", "total_p_value",
)  # fmt: skip
# The numbers of a run's row that the aggregate computes with: each a number or null.
NUMERIC_FIELDS = (
    "aa_lift",
    "aa_se",
    "aa_p_value",
    "users_per_arm",
    *(f"{name}_{field}" for name in estimator_keys() for field in ESTIMATE_FIELDS),
)


class AggregateError(ValueError):
    """The input cannot be aggregated; the message is one line for the user."""


# ------------------------------------------------------------------------------ reading runs


def find_run_dirs(root: Path) -> list[Path]:
    """Run folders below ``root`` (or ``root`` itself): those holding a run's config.json."""
    return sorted(p.parent for p in root.rglob("config.json"))


def flatten_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config.json`` of a run as flat ``group.key`` columns (arms as ``arm.<name>.<field>``)."""
    flat: dict[str, Any] = {"seed": config.get("seed")}
    for group in ("world", "model", "experiment"):
        for key, value in (config.get(group) or {}).items():
            flat[f"{group}.{key}"] = _scalar(value)
    for arm in config.get("arms") or []:
        for key, value in arm.items():
            if key != "name":
                flat[f"arm.{arm['name']}.{key}"] = _scalar(value)
    return flat


def _scalar(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, list | dict) else value


def is_aa_config(config: Mapping[str, Any]) -> bool:
    """The treatment trains exactly as the control in the A/B phase: an A/A run (launch effect
    zero by construction)."""
    arms = {arm["name"]: arm for arm in config.get("arms") or []}
    spec = config.get("experiment") or {}
    control, treatments = spec.get("control"), spec.get("treatments") or []
    if control not in arms or not treatments or treatments[0] not in arms:
        return False
    a, b = (_arm(arms[name]) for name in (control, treatments[0]))
    return history_key(a, "ab") == history_key(b, "ab")  # the same training and serving


# Arms' training fields before they moved into arm.<name>.train (runs of earlier versions).
LEGACY_TRAINING = ("epochs", "lr", "batch_size")


def _arm(node: Mapping[str, Any]) -> ArmSpec:
    """A run's arm as the simulator reads it (``AggregateError`` naming the field if it cannot
    be); a run written before ``train`` existed has its training fields moved there."""
    fields = dict(node)
    legacy = {key: fields.pop(key) for key in LEGACY_TRAINING if key in fields}
    if legacy:
        fields["train"] = {**(fields.get("train") or {}), **legacy}
    try:
        return build(ArmSpec, fields, f"arm.{fields.get('name')}", pluggable=("recipe",))
    except SchemaError as error:
        raise AggregateError(f"config.json: {error}") from None


def read_run(run_dir: Path) -> dict[str, Any]:
    """One run's configuration and its headline numbers (``AggregateError`` naming what is
    wrong with a run that cannot be read)."""
    try:
        config = _json_object(run_dir / "config.json")
        report = _json_object(run_dir / "report" / "summary.json")
        summary = _mapping(report.get("summary"), "summary.json: summary")
        estimates = _mapping(summary.get("estimates"), "summary.json: summary.estimates")
        row = _run_row(run_dir, config, report, summary, estimates)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        if isinstance(error, AggregateError):
            raise AggregateError(f"{run_dir}: {error}") from None
        raise AggregateError(
            f"{run_dir}: unreadable run ({type(error).__name__}: {error})"
        ) from None
    bad = [key for key in NUMERIC_FIELDS if not _number_or_none(row.get(key))]
    if bad:
        raise AggregateError(f"{run_dir}: {bad[0]} is {row[bad[0]]!r}, not a number")
    return row


def _json_object(path: Path) -> dict[str, Any]:
    return _mapping(json.loads(path.read_text()), path.name)


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AggregateError(f"{what} is {type(value).__name__}, not an object")
    return value


def _number_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _run_row(
    run_dir: Path,
    config: dict[str, Any],
    report: dict[str, Any],
    summary: dict[str, Any],
    estimates: dict[str, Any],
) -> dict[str, Any]:
    users = summary.get("users") or {}
    compared = [summary.get("control"), summary.get("treatment")]
    aa = summary.get("aa_lift") or {}
    row: dict[str, Any] = {
        "run": str(run_dir),
        **flatten_config(config),
        "salt": (report.get("input") or {}).get("salt"),
        "is_aa": is_aa_config(config),
        "headline": summary.get("headline"),
        "aa_lift": aa.get("lift"),
        "aa_se": aa.get("se"),
        "aa_p_value": aa.get("p_value"),
        "aa_week_id": summary.get("aa_week_id"),
        "diverged": bool(summary.get("diverged")),
        "users_per_arm": float(np.mean([users[a] for a in compared if a in users] or [np.nan])),
    }
    for name in estimator_keys():
        values = _mapping(estimates.get(name) or {}, f"summary.json: estimates.{name}")
        for field in ESTIMATE_FIELDS:
            row[f"{name}_{field}"] = values.get(field)
        if row["is_aa"] and values and values.get("launch") is None:
            row[f"{name}_launch"] = 0.0  # identical recipes: zero by construction
    return row


def load_runs(root: Path) -> tuple[pl.DataFrame, dict[str, str]]:
    """The readable finished runs under ``root``, and the runs skipped with the reason for each
    (not finished, unreadable, or a model that diverged)."""
    rows, skipped = [], {}
    for run_dir in find_run_dirs(root):
        if not (run_dir / "report" / "summary.json").is_file():
            skipped[str(run_dir)] = "not finished (no report/summary.json)"
            continue
        try:
            row = read_run(run_dir)
        except AggregateError as error:
            skipped[str(run_dir)] = str(error).removeprefix(f"{run_dir}: ")
            continue
        if row.pop("diverged"):
            skipped[str(run_dir)] = "a model diverged (see the run's report)"
            continue
        rows.append(row)
    if not rows:
        reasons = f"; first skipped: {next(iter(skipped.items()))}" if skipped else ""
        raise AggregateError(
            f"no finished, readable run (config.json + report/summary.json) under {root}{reasons}"
        )
    return pl.DataFrame(rows, infer_schema_length=None), skipped


def varying_keys(runs: pl.DataFrame) -> list[str]:
    """Configuration columns whose value differs between runs (seed and salt aside)."""
    config_columns = [c for c in runs.columns if "." in c and c not in NOT_GROUPED]
    return [c for c in config_columns if runs.get_column(c).n_unique() > 1]


def distinct_aa_runs(runs: pl.DataFrame) -> pl.DataFrame:
    """A/A runs, each distinct replicate once (identical recipes give identical runs whatever the
    recipe's unused settings, e.g. alpha under BCE)."""
    aa = runs.filter(pl.col("is_aa"))
    lifts = [f"{name}_lift" for name in estimator_keys() if f"{name}_lift" in aa.columns]
    return aa.unique(["aa_week_id", *lifts], keep="first", maintain_order=True)


def summarise_runs(
    runs: pl.DataFrame, *, alpha: float = 0.05
) -> tuple[pl.DataFrame, list[str], dict[str, LineageVariance]]:
    """One row per configuration (the keys that vary across runs), in sorted key order, and the
    lineage variance measured on the distinct A/A runs (applied to every configuration)."""
    lineage = lineage_from_aa_runs(distinct_aa_runs(runs))
    keys = varying_keys(runs)
    if not keys:
        row = {"config": "all", **_group(runs, alpha, lineage)}
        return pl.DataFrame([row], infer_schema_length=None), keys, lineage
    rows = []
    for values, group in runs.sort(keys).group_by(keys, maintain_order=True):
        labels = dict(zip(keys, values, strict=True))
        rows.append({**labels, **_group(group, alpha, lineage)})
    return pl.DataFrame(rows, infer_schema_length=None), keys, lineage


def _group(runs: pl.DataFrame, alpha: float, lineage: dict[str, LineageVariance]) -> dict:
    is_aa = bool(runs.get_column("is_aa").all())
    if is_aa:
        runs = distinct_aa_runs(runs)
    headline = runs.get_column("headline").drop_nulls().mode()
    row = {
        "is_aa": is_aa,
        "headline": headline[0] if headline.len() else None,
        "users_per_arm": float(cast(float, runs.get_column("users_per_arm").mean())),
    }
    return row | group_row(runs, alpha, lineage)


def lineage_frame(lineage: Mapping[str, LineageVariance]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "estimator": name,
                "aa_runs": value.runs,
                "lineage_variance": value.variance,
                "lineage_variance_low": value.low,
                "lineage_variance_high": value.high,
                "lineage_sd": value.sd,
                "mean_sampling_variance": value.mean_sampling_variance,
                "lineage_share_of_variance": value.share_of_total,
            }
            for name, value in lineage.items()
        ],
        schema_overrides={"aa_runs": pl.Int64},
    )


def aa_week_ks(runs: pl.DataFrame) -> tuple[float, int] | None:
    """KS test of the distinct A/A weeks' p-values against uniform."""
    weeks = runs.filter(pl.col("aa_p_value").is_not_null()).unique(
        "aa_week_id", keep="first", maintain_order=True
    )
    p = weeks.get_column("aa_p_value").cast(pl.Float64).to_numpy()
    if p.size < 5:
        return None
    return float(scipy_stats.kstest(p, "uniform").pvalue), int(p.size)


# ------------------------------------------------------------------------------ writing


def aggregate(
    root: Path, out: Path | None = None, *, alpha: float = 0.05, paper_users: int = 300_000
) -> pl.DataFrame:
    """Aggregate the runs under ``root`` into ``out`` (default ``root/aggregate``)."""
    root = Path(root)
    if not root.is_dir():
        raise AggregateError(f"input {root} is not a directory")
    if not 0 < alpha < 1:
        raise AggregateError(f"alpha must lie in (0, 1), got {alpha}")
    out = Path(out) if out is not None else root / "aggregate"
    try:
        check_writable(out, PROG, legacy=_earlier_aggregate, what="out folder")
    except NotOwned as error:
        raise AggregateError(str(error)) from None
    runs, skipped = load_runs(root)
    for run_dir, why in skipped.items():
        print(f"{PROG}: skipped {run_dir}: {why}", file=sys.stderr)
    summary, keys, lineage = summarise_runs(runs, alpha=alpha)
    found = SweepReport(summary, runs, keys, lineage, aa_week_ks(runs), alpha, paper_users, skipped)
    drawn = figures(runs, summary, keys, alpha, paper_users)
    svgs = {name: svg_text(figure, name) for name, figure in drawn.items()}
    document = sweep_document(found)
    # every file appears at once, or none
    with replace_owned_dir(out, PROG, legacy=_earlier_aggregate, what="out folder") as staging:
        runs.write_csv(staging / "runs.csv")
        summary.write_csv(staging / "summary.csv")
        lineage_frame(lineage).write_csv(staging / "lineage.csv")
        write_plots(drawn, staging)
        (staging / "report.md").write_text(render_markdown(document), encoding="utf-8")
        (staging / "report.html").write_text(render_html(document, svgs), encoding="utf-8")
    return summary


def _earlier_aggregate(folder: Path) -> bool:
    """An aggregate folder of an earlier version (no marker)."""
    return all((folder / name).is_file() for name in ("summary.csv", "runs.csv", "lineage.csv"))
