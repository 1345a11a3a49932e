"""Offline ReLoop protocols on logged data and their Table-1-style results.

``paper`` (the paper's Table 1): a seeded random 8:1:1 split; the *previous* model is trained with
BCE on 90% of the training set and scores the whole training set to give ``y_last``; every method
is then trained on the training set, early-stopped on the validation AUC and evaluated on the
test set. Methods (``METHODS``): ``bce`` (the backbone), ``bce_long`` (BCE with the ``long``
early-stopping budget), ``bce_warm`` (BCE warm-started from the previous model), ``kd`` and
``reloop`` from scratch, ``kd_warm`` and ``reloop_warm`` warm-started. Within a seed every
from-scratch method starts from the same initial weights, so differences between methods are the
loss and the budget, nothing else.

``successive`` (the retraining loop): the data sorted by time is cut into ``periods`` slices of
equal row counts. Version 0 is trained with BCE on period 0 and shared by every lineage; version
``t`` of a lineage is warm-started from its own version ``t - 1`` and trained on period ``t``
(``y_last`` = its version ``t - 1`` scoring period ``t``), early-stopped on a random
``valid_fraction`` of period ``t``, and evaluated on all of period ``t + 1``.

Results: one row per method, alpha, seed and period (``RESULT_COLUMNS``); ``report`` turns them
into a markdown table with means and standard deviations over seeds, relative changes against the
backbone, paired differences against each baseline across seeds (in ``successive`` a seed's value
is its mean over the evaluated periods) and training time against the backbone.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

import reloop
from reloop.atomic import write_text
from reloop.datasets import Dataset
from reloop.metrics import auc, logloss
from reloop.models import MODELS, check_backbone

__all__ = [
    "METHODS",
    "PROTOCOLS",
    "Budget",
    "Method",
    "ModelConfig",
    "OfflineConfig",
    "OfflineResults",
    "execute",
    "plan",
    "report",
    "run",
    "write_results",
]

log = logging.getLogger(__name__)

PROTOCOLS = ("paper", "successive")
BACKBONE = "bce"
REFERENCE = {"paper": "previous", "successive": "initial"}  # the model y_last comes from
PREVIOUS_SEED = 100_003  # the previous model's seed is seed + this, apart from the others


@dataclass(frozen=True)
class Method:
    loss: str
    warm: bool = False  # paper: start from the previous model (successive: every lineage is)
    budget: str = "default"


METHODS = {
    "bce": Method("bce"),
    "bce_long": Method("bce", budget="long"),
    "bce_warm": Method("bce", warm=True),
    "kd": Method("kd"),
    "reloop": Method("reloop"),
    "kd_warm": Method("kd", warm=True),
    "reloop_warm": Method("reloop", warm=True),
}
SUCCESSIVE_METHODS = ("bce", "bce_long", "kd", "reloop")


@dataclass(frozen=True)
class Budget:
    """Early stopping: at most ``epochs``, stop after ``patience`` epochs without a better AUC."""

    epochs: int
    patience: int


@dataclass(frozen=True)
class ModelConfig:
    """The backbone and its training options (``epochs``/``patience`` come from the budgets)."""

    name: str = "deepfm"
    embedding_dim: int = 16
    hidden_units: tuple[int, ...] = (400, 400, 400)
    dropout: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 4096
    lr: float = 1e-3
    weight_decay: float = 0.0
    numeric_mode: str = "normalize"


@dataclass(frozen=True)
class OfflineConfig:
    protocol: str = "paper"
    seeds: tuple[int, ...] = (0,)
    alphas: tuple[float, ...] = (0.5,)
    methods: tuple[str, ...] = tuple(METHODS)
    baselines: tuple[str, ...] = ("bce", "bce_long", "bce_warm")
    model: ModelConfig = field(default_factory=ModelConfig)
    budgets: Mapping[str, Budget] = field(
        default_factory=lambda: {"default": Budget(20, 2), "long": Budget(20, 5)}
    )
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)
    previous_fraction: float = 0.9
    periods: int = 6
    valid_fraction: float = 0.1
    progress: bool = False

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad option (before any training)."""
        for ok, message in self._checks():
            if not ok:
                raise ValueError(message)
        model = self.model
        check_backbone(model.name, embedding_dim=model.embedding_dim,
                       hidden_units=model.hidden_units, dropout=model.dropout,
                       options=model.options)  # fmt: skip

    def _checks(self) -> Iterator[tuple[bool, str]]:
        """(condition, message if it fails), in order: later checks rely on earlier ones."""
        allowed = METHODS if self.protocol == "paper" else SUCCESSIVE_METHODS
        unknown = [m for m in (*self.methods, *self.baselines) if m not in allowed]
        model = self.model
        yield (
            self.protocol in PROTOCOLS,
            f"protocol: expected {list(PROTOCOLS)}, got {self.protocol!r}",
        )
        yield bool(self.seeds), "seeds: need at least one seed"
        yield min(self.seeds, default=0) >= 0, f"seeds must be >= 0, got {list(self.seeds)}"
        yield (
            bool(self.alphas) and all(0.0 <= a <= 1.0 for a in self.alphas),
            f"alpha: each value must lie in [0, 1], got {list(self.alphas)}",
        )
        yield (
            not unknown,
            f"methods: unknown {unknown}; protocol {self.protocol!r} has {list(allowed)}",
        )
        yield len(set(self.methods)) == len(self.methods), "methods: a method is named twice"
        yield (
            set(self.baselines) <= set(self.methods),
            f"baselines: {list(self.baselines)} must be among the methods run {list(self.methods)}",
        )
        yield BACKBONE in self.methods, f"methods: must include the backbone {BACKBONE!r}"
        yield (
            isinstance(model.name, Mapping) or model.name in MODELS,
            f"model.name: unknown {model.name!r}; expected {sorted(MODELS)} or a _target_",
        )
        yield model.batch_size >= 1, f"model.batch_size must be >= 1, got {model.batch_size}"
        yield model.lr > 0, f"model.lr must be > 0, got {model.lr}"
        yield set(self.budgets) == {"default", "long"}, "budgets: need 'default' and 'long'"
        for name, budget in self.budgets.items():
            yield (
                min(budget.epochs, budget.patience) >= 1,
                f"budgets.{name}: epochs and patience must be >= 1",
            )
        if self.protocol == "paper":
            split = self.split
            yield (
                len(split) == 3 and min(split) > 0 and bool(np.isclose(sum(split), 1)),
                f"paper.split: 3 positive fractions summing to 1, got {list(split)}",
            )
            yield (
                0 < self.previous_fraction <= 1,
                f"paper.previous_fraction must lie in (0, 1], got {self.previous_fraction}",
            )
        else:
            yield self.periods >= 3, f"successive.periods must be >= 3, got {self.periods}"
            yield (
                0 <= self.valid_fraction < 1,
                f"successive.valid_fraction must lie in [0, 1), got {self.valid_fraction}",
            )

    def variants(self) -> list[tuple[str, float | None]]:
        """(method, alpha) pairs in run order: BCE methods once, KD and ReLoop once per alpha."""
        return [
            (m, a)
            for m in self.methods
            for a in ((None,) if METHODS[m].loss == "bce" else self.alphas)
        ]


@dataclass(frozen=True)
class OfflineResults:
    rows: pl.DataFrame  # RESULT_COLUMNS, one row per method, alpha, seed and period
    markdown: str


RESULT_COLUMNS = (
    "protocol", "method", "alpha", "seed", "period", "auc", "logloss",
    "epochs", "best_epoch", "seconds", "n_train", "n_test",
)  # fmt: skip


# ------------------------------------------------------------------------------ running
@dataclass(frozen=True)
class PaperSplit:
    train: pl.DataFrame
    valid: pl.DataFrame
    test: pl.DataFrame
    previous_train: pl.DataFrame


@dataclass(frozen=True)
class Step:
    """One retraining step of ``successive``: train (and validate) on a period, test on the next."""

    train: pl.DataFrame
    valid: pl.DataFrame | None
    following: pl.DataFrame


@dataclass(frozen=True)
class Plan:
    """A checked configuration with its data cut for every seed: nothing left that can fail on
    the user's input once training starts."""

    data: Dataset
    config: OfflineConfig
    splits: tuple[PaperSplit | tuple[Step, ...], ...]  # one per seed


def plan(data: Dataset, config: OfflineConfig) -> Plan:
    """Check ``config`` against ``data`` and cut the data for every seed (``ValueError`` if bad)."""
    config.validate()
    if config.protocol == "paper":
        splits = tuple(_paper_split(data, config, seed) for seed in config.seeds)
        return Plan(data, config, splits)
    periods = _time_periods(data, config.periods)
    return Plan(data, config, tuple(_steps(data, periods, config, seed) for seed in config.seeds))


def execute(plan: Plan, title: str = "", notes: Sequence[str] = ()) -> OfflineResults:
    """Train and evaluate every method of ``plan`` for every seed; the results and their table."""
    config, records = plan.config, []
    for seed, split in zip(config.seeds, plan.splits, strict=True):
        if isinstance(split, PaperSplit):
            records += _run_paper(plan.data, config, seed, split)
        else:
            records += _run_successive(plan.data, config, seed, split)
    rows = (
        pl.DataFrame(records, schema=_result_schema())
        .with_columns(protocol=pl.lit(config.protocol))
        .select(RESULT_COLUMNS)
    )
    return OfflineResults(rows, report(rows, config.baselines, title, notes))


def run(data: Dataset, config: OfflineConfig, title: str = "") -> OfflineResults:
    """``plan`` then ``execute``: every input is checked before the first model trains."""
    return execute(plan(data, config), title)


def _result_schema() -> dict[str, pl.DataType]:
    types: dict[str, pl.DataType] = {c: pl.Int64 for c in RESULT_COLUMNS}
    types |= {"protocol": pl.String, "method": pl.String, "alpha": pl.Float64, "auc": pl.Float64}
    return types | {"logloss": pl.Float64, "seconds": pl.Float64}


def _paper_split(data: Dataset, config: OfflineConfig, seed: int) -> PaperSplit:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data))
    n_train = round(config.split[0] * len(data))
    n_valid = round(config.split[1] * len(data))
    train_idx, valid_idx = order[:n_train], order[n_train : n_train + n_valid]
    n_previous = round(config.previous_fraction * n_train)
    previous_idx = np.sort(rng.choice(train_idx, size=n_previous, replace=False))
    frame = data.frame
    split = PaperSplit(
        frame[np.sort(train_idx)],
        frame[np.sort(valid_idx)],
        frame[np.sort(order[n_train + n_valid :])],
        frame[previous_idx],
    )
    for name in ("train", "valid", "test", "previous_train"):
        _check_both_classes(getattr(split, name), data.label, f"seed {seed}: the {name} split")
    return split


def _run_paper(
    data: Dataset, config: OfflineConfig, seed: int, split: PaperSplit
) -> list[dict[str, Any]]:
    previous = _fit(data, config, split.previous_train, split.valid, seed=seed + PREVIOUS_SEED)
    n_previous, n_train = split.previous_train.height, split.train.height
    records = [_evaluate(data, previous, split.test, "previous", None, seed, None, n_previous)]
    y_last = reloop.predict(previous, split.train)
    for method, alpha in config.variants():
        spec = METHODS[method]
        model = _fit(
            data, config, split.train, split.valid, seed=seed, method=spec, alpha=alpha,
            y_last=y_last, warm_start=previous if spec.warm else None,
        )  # fmt: skip
        records.append(_evaluate(data, model, split.test, method, alpha, seed, None, n_train))
    return records


def _time_periods(data: Dataset, n_periods: int) -> list[pl.DataFrame]:
    if data.time is None:
        raise ValueError("protocol successive needs a time column (dataset.time)")
    if len(data) < 2 * n_periods:
        raise ValueError(f"{len(data)} rows are too few for {n_periods} periods")
    ordered = data.frame.with_row_index("_row").sort(data.time, "_row").drop("_row")
    bounds = np.linspace(0, len(data), n_periods + 1).round().astype(int)
    periods = [ordered[int(a) : int(b)] for a, b in pairwise(bounds)]
    for t, period in enumerate(periods[1:], start=1):
        _check_both_classes(period, data.label, f"period {t}")
    return periods


def _steps(
    data: Dataset, periods: list[pl.DataFrame], config: OfflineConfig, seed: int
) -> tuple[Step, ...]:
    """A step per period but the last; a random ``valid_fraction`` of it is held out."""
    steps = []
    for t, (period, following) in enumerate(pairwise(periods)):
        if config.valid_fraction == 0:
            steps.append(Step(period, None, following))
            continue
        held_out = np.random.default_rng([seed, t]).random(period.height) < config.valid_fraction
        valid = period.filter(pl.Series(held_out))
        _check_both_classes(valid, data.label, f"seed {seed}: the validation part of period {t}")
        steps.append(Step(period.filter(pl.Series(~held_out)), valid, following))
    return tuple(steps)


def _run_successive(
    data: Dataset,
    config: OfflineConfig,
    seed: int,
    steps: tuple[Step, ...],
) -> list[dict[str, Any]]:
    first = steps[0]
    initial = _fit(data, config, first.train, first.valid, seed=seed)
    n_train = first.train.height
    records = [_evaluate(data, initial, first.following, "initial", None, seed, 1, n_train)]
    for method, alpha in config.variants():
        spec, current = METHODS[method], initial
        for t, step in enumerate(steps[1:], start=1):
            y_last = None if spec.loss == "bce" else reloop.predict(current, step.train)
            current = _fit(
                data, config, step.train, step.valid, seed=seed * 1000 + t, method=spec,
                alpha=alpha, y_last=y_last, warm_start=current,
            )  # fmt: skip
            n_train = step.train.height
            records.append(
                _evaluate(data, current, step.following, method, alpha, seed, t + 1, n_train)
            )
    return records


def _fit(
    data: Dataset,
    config: OfflineConfig,
    train: pl.DataFrame,
    valid: pl.DataFrame | None,
    *,
    seed: int,
    method: Method = METHODS[BACKBONE],
    alpha: float | None = None,
    y_last: np.ndarray | None = None,
    warm_start: reloop.FittedModel | None = None,
) -> reloop.FittedModel:
    model, budget = config.model, config.budgets[method.budget]
    return reloop.fit(
        train,
        list(data.features),
        label=data.label,
        model=model.name,
        loss=method.loss,
        alpha=0.0 if alpha is None else alpha,
        y_last=None if method.loss == "bce" else y_last,
        epochs=budget.epochs,
        patience=budget.patience,
        batch_size=model.batch_size,
        lr=model.lr,
        seed=seed,
        embedding_dim=model.embedding_dim,
        hidden_units=model.hidden_units,
        warm_start=warm_start,
        valid=valid,
        weight_decay=model.weight_decay,
        dropout=model.dropout,
        numeric_mode=model.numeric_mode,  # type: ignore[arg-type]
        model_options=dict(model.options),
        progress=config.progress,
    )


def _evaluate(
    data: Dataset,
    model: reloop.FittedModel,
    test: pl.DataFrame,
    method: str,
    alpha: float | None,
    seed: int,
    period: int | None,
    n_train: int,
) -> dict[str, Any]:
    labels = test.get_column(data.label).to_numpy()
    scores = reloop.predict(model, test)
    history = model.history
    record = {
        "method": method,
        "alpha": alpha,
        "seed": seed,
        "period": period,
        "auc": auc(labels, scores),
        "logloss": logloss(labels, scores),
        "epochs": len(history.train_loss),
        "best_epoch": None if history.best_epoch is None else history.best_epoch + 1,
        "seconds": history.seconds,
        "n_train": n_train,
        "n_test": test.height,
    }
    where = f"seed {seed}" + ("" if period is None else f", period {period}")
    log.info(
        "%s, %s: AUC %.4f, logloss %.4f, %d epochs, %.1f s",
        _label(method, alpha), where, record["auc"], record["logloss"], record["epochs"],
        history.seconds,
    )  # fmt: skip
    return record


def _check_both_classes(frame: pl.DataFrame, label: str, what: str) -> None:
    n_clicks = int(frame.get_column(label).sum())
    if frame.height == 0 or n_clicks in (0, frame.height):
        raise ValueError(
            f"{what} has {frame.height} rows and {n_clicks} clicks: AUC needs both labels; "
            "use more rows"
        )


# ------------------------------------------------------------------------------ report
def _label(method: str, alpha: float | None) -> str:
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
    return None if alpha is None else _label(baseline, alpha)


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
