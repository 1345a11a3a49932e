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
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any

import numpy as np
import polars as pl

import reloop
from reloop.datasets import Dataset
from reloop.metrics import auc, logloss
from reloop.offline_config import (
    BACKBONE,
    METHODS,
    PREVIOUS_SEED,
    PROTOCOLS,
    SUCCESSIVE_METHODS,
    Budget,
    Method,
    OfflineConfig,
)
from reloop.offline_report import (
    RESULT_COLUMNS,
    OfflineResults,
    Paired,
    report,
    variant_label,
    write_results,
)
from reloop.schema import ModelSpec, TrainSpec

# The public names of the offline protocol (configuration and report live in offline_config and
# offline_report; they are re-exported here, the one place users import them from).
__all__ = [
    "METHODS",
    "PROTOCOLS",
    "RESULT_COLUMNS",
    "SUCCESSIVE_METHODS",
    "Budget",
    "Method",
    "ModelSpec",
    "OfflineConfig",
    "OfflineResults",
    "Paired",
    "PaperSplit",
    "Plan",
    "TrainSpec",
    "execute",
    "plan",
    "report",
    "run",
    "write_results",
]

log = logging.getLogger(__name__)


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
    types: dict[str, pl.DataType] = {c: pl.Int64() for c in RESULT_COLUMNS}
    types |= {"protocol": pl.String(), "method": pl.String(), "alpha": pl.Float64(),
              "auc": pl.Float64()}  # fmt: skip
    return types | {"logloss": pl.Float64(), "seconds": pl.Float64()}


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
    budget = config.budgets[method.budget]
    return reloop.fit(
        train,
        list(data.features),
        label=data.label,
        model=config.model,
        train=replace(config.train, epochs=budget.epochs, patience=budget.patience),
        loss=method.loss,
        alpha=0.0 if alpha is None else alpha,
        y_last=None if method.loss == "bce" else y_last,
        seed=seed,
        warm_start=warm_start,
        valid=valid,
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
        variant_label(method, alpha), where, record["auc"], record["logloss"], record["epochs"],
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
