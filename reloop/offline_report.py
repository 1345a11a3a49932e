"""The results of ``reloop-offline``: per-seed metrics, Table 1, paired differences against each
baseline (seeds improved, paired t-test), per-period tables, and the files they are written to."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats

from reloop.atomic import write_text
from reloop.offline_config import BACKBONE, METHODS, REFERENCE

__all__ = [
    "RESULT_COLUMNS",
    "OfflineResults",
    "Paired",
    "paired",
    "per_seed",
    "report",
    "variant_label",
    "write_results",
]


@dataclass(frozen=True)
class OfflineResults:
    rows: pl.DataFrame  # RESULT_COLUMNS, one row per method, alpha, seed and period
    markdown: str


RESULT_COLUMNS = (
    "protocol", "method", "alpha", "seed", "period", "auc", "logloss",
    "epochs", "best_epoch", "seconds", "n_train", "n_test",
)  # fmt: skip


# ------------------------------------------------------------------------------ report
def variant_label(method: str, alpha: float | None) -> str:
    return method if alpha is None else f"{method} (alpha={alpha:g})"


def _variant() -> pl.Expr:
    """``method`` or ``method (alpha=a)``: the name of a row's variant in the tables."""
    with_alpha = pl.format("{} (alpha={})", pl.col("method"), pl.col("alpha").round(6))
    return pl.when(pl.col("alpha").is_null()).then(pl.col("method")).otherwise(with_alpha)


def per_seed(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per variant and seed: metrics averaged over periods, time and epochs summed."""
    return (
        rows.with_columns(variant=_variant())
        .group_by("variant", "method", "alpha", "seed", maintain_order=True)
        .agg(pl.col("auc", "logloss").mean(), pl.col("seconds", "epochs").sum())
        .sort("seed", maintain_order=True)
    )


@dataclass(frozen=True)
class Paired:
    """Paired differences ``treatment - baseline`` of one metric across seeds."""

    mean: float
    std: float
    improved: int  # seeds where the treatment is better
    n: int
    p_value: float  # paired t-test (scipy.stats.ttest_rel); NaN with fewer than two seeds

    @classmethod
    def of(cls, treatment: np.ndarray, baseline: np.ndarray, higher_is_better: bool) -> Paired:
        diff = treatment - baseline
        if diff.size == 0:
            return cls(float("nan"), float("nan"), 0, 0, float("nan"))
        better = diff > 0 if higher_is_better else diff < 0
        p_value = float("nan")
        if diff.size > 1 and np.ptp(diff) > 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                p_value = float(stats.ttest_rel(treatment, baseline).pvalue)
        std = float(diff.std(ddof=1)) if diff.size > 1 else float("nan")
        return cls(float(diff.mean()), std, int(better.sum()), int(diff.size), p_value)

    def cell(self, digits: int = 4) -> str:
        if self.n == 0:
            return ""
        p = "n/a" if np.isnan(self.p_value) else f"{self.p_value:.3g}"
        return f"{self.mean:+.{digits}f} ± {self.std:.{digits}f} ({self.improved}/{self.n}, p={p})"


def paired(seeds: pl.DataFrame, variant: str, baseline: str, metric: str) -> Paired:
    """``variant - baseline`` on ``metric`` over the seeds both have."""
    a = seeds.filter(pl.col("variant") == variant).select("seed", metric)
    b = seeds.filter(pl.col("variant") == baseline).select("seed", metric)
    joined = a.join(b, on="seed", suffix="_base")
    return Paired.of(
        joined.get_column(metric).to_numpy(),
        joined.get_column(f"{metric}_base").to_numpy(),
        higher_is_better=metric == "auc",
    )


def report(
    rows: pl.DataFrame, baselines: Sequence[str], title: str = "", notes: Sequence[str] = ()
) -> str:
    """The markdown results: Table 1, paired differences, and per period for ``successive``."""
    seeds = per_seed(rows)
    n_seeds = seeds.get_column("seed").n_unique()
    parts = [f"# {title}" if title else "# ReLoop offline results", "", *notes]
    parts += _table1(seeds, n_seeds)
    for metric in ("auc", "logloss"):
        parts += _paired_table(seeds, [b for b in baselines if b in seeds["method"]], metric)
    if rows.get_column("period").drop_nulls().len():
        parts += _period_tables(rows)
    return "\n".join(parts) + "\n"


TABLE1_HEADER = (
    "method", "AUC", "logloss", "AUC vs bce", "logloss vs bce", "epochs", "train s",
    "time × bce", "s/epoch × bce",
)  # fmt: skip


def _table1(seeds: pl.DataFrame, n_seeds: int) -> list[str]:
    summary = seeds.group_by("variant", maintain_order=True).agg(
        pl.col("auc", "logloss").mean().name.suffix("_mean"),
        pl.col("auc", "logloss").std().name.suffix("_std"),
        pl.col("seconds", "epochs").mean(),
    )
    base = summary.filter(pl.col("variant") == BACKBONE).row(0, named=True)
    base_per_epoch = base["seconds"] / base["epochs"]
    body = [
        [
            r["variant"],
            f"{r['auc_mean']:.4f} ± {_std(r['auc_std'])}",
            f"{r['logloss_mean']:.4f} ± {_std(r['logloss_std'])}",
            f"{100 * (r['auc_mean'] / base['auc_mean'] - 1):+.2f}%",
            f"{100 * (r['logloss_mean'] / base['logloss_mean'] - 1):+.2f}%",
            f"{r['epochs']:.1f}",
            f"{r['seconds']:.1f}",
            f"{r['seconds'] / base['seconds']:.2f}",
            f"{r['seconds'] / r['epochs'] / base_per_epoch:.2f}",
        ]
        for r in summary.iter_rows(named=True)
    ]
    return _markdown_table(
        f"Test AUC and logloss: mean ± std over {n_seeds} seeds",
        f"Relative changes and time are against the backbone `{BACKBONE}`; time is the training "
        "time of the method itself (the previous model's is its own row); in `successive`, "
        "epochs and time are summed over the versions of a lineage.",
        TABLE1_HEADER,
        body,
    )


def _std(value: float | None) -> str:
    return "n/a" if value is None or np.isnan(value) else f"{value:.4f}"


def _compared(variants: Sequence[str]) -> list[str]:
    """The variants a paired table lists: all but the backbone and the reference model."""
    reference = set(REFERENCE.values())
    return [v for v in dict.fromkeys(variants) if v not in reference and v != BACKBONE]


def _baseline_variant(baseline: str, alpha: float | None) -> str | None:
    """What a row is paired with: a BCE baseline as it is, a KD baseline at the row's own alpha."""
    if METHODS[baseline].loss == "bce":
        return baseline
    return None if alpha is None else variant_label(baseline, alpha)


def _paired_table(seeds: pl.DataFrame, baselines: list[str], metric: str) -> list[str]:
    better = "higher" if metric == "auc" else "lower"
    name = {"auc": "AUC", "logloss": "logloss"}[metric]
    alpha_of = dict(seeds.select("variant", "alpha").unique(maintain_order=True).iter_rows())
    body = []
    for variant in _compared(seeds.get_column("variant").to_list()):
        targets = [_baseline_variant(b, alpha_of[variant]) for b in baselines]
        cells = [
            "" if t is None else "—" if t == variant else paired(seeds, variant, t, metric).cell()
            for t in targets
        ]
        body.append([variant, *cells])
    header = [f"vs {b}" if METHODS[b].loss == "bce" else f"vs {b} (same alpha)" for b in baselines]
    return _markdown_table(
        f"Paired {name} differences across seeds (method − baseline; {better} is better)",
        "Each cell: mean ± std of the per-seed difference (seeds where the method is better / "
        "seeds, paired t-test p-value).",
        ["method", *header],
        body,
    )


def _period_tables(rows: pl.DataFrame) -> list[str]:
    """``successive``: AUC per period, and the paired difference against the backbone per period."""
    by_period = rows.with_columns(variant=_variant())
    periods = sorted(by_period.get_column("period").unique().to_list())
    summary = by_period.group_by("variant", "period", maintain_order=True).agg(
        pl.col("auc").mean().alias("mean"), pl.col("auc").std().alias("std")
    )
    cells = {
        (r["variant"], r["period"]): f"{r['mean']:.4f} ± {_std(r['std'])}"
        for r in summary.iter_rows(named=True)
    }
    variants = list(dict.fromkeys(summary.get_column("variant").to_list()))
    header = ["method", *(f"period {p}" for p in periods)]
    auc_table = _markdown_table(
        "Test AUC per evaluation period (mean ± std over seeds)",
        "Version t is trained on period t and evaluated on period t + 1; `initial` (version 0, "
        "BCE on period 0) is shared by every lineage.",
        header,
        [[v, *(cells.get((v, p), "") for p in periods)] for v in variants],
    )
    compared = sorted(by_period.filter(pl.col("method") == BACKBONE)["period"].unique())
    per_period = [by_period.filter(pl.col("period") == p) for p in compared]
    diff_table = _markdown_table(
        f"Paired AUC differences against `{BACKBONE}` per period (method − {BACKBONE})",
        "Each cell: mean ± std over seeds (seeds improved / seeds, paired t-test p-value).",
        ["method", *(f"period {p}" for p in compared)],
        [
            [v, *(paired(frame, v, BACKBONE, "auc").cell() for frame in per_period)]
            for v in _compared(variants)
        ],
    )
    return auc_table + diff_table


def _markdown_table(
    title: str, note: str, header: Sequence[str], body: Sequence[Sequence[str]]
) -> list[str]:
    lines = [f"## {title}", "", note, "", "| " + " | ".join(header) + " |"]
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return [*lines, ""]


# ------------------------------------------------------------------------------ output
def write_results(results: OfflineResults, directory: str | Path) -> tuple[Path, Path]:
    """Write ``results.csv`` and ``results.md`` into ``directory``, each atomically."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = directory / "results.csv", directory / "results.md"
    write_text(csv_path, results.rows.write_csv())
    write_text(md_path, results.markdown)
    return csv_path, md_path
