"""The one schema of a backbone's architecture (``ModelSpec``: ``reloop.fit``'s ``model``,
``reloop-offline``'s and the simulator's ``model`` node) and of training (``TrainSpec``:
``reloop.fit``'s ``train``, ``reloop-offline``'s ``train`` node, each simulated arm's ``train``),
and the strict reader of a config node into such a frozen dataclass: unknown keys, null where a
value is needed and wrong types are errors naming the key, never dropped."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any, TypeVar

__all__ = ["OPTIMIZERS", "ModelSpec", "SchemaError", "TrainSpec", "build", "coerce"]

T = TypeVar("T")


class SchemaError(ValueError):
    """A config node that does not fit its schema; the message names the key."""


@dataclass(frozen=True)
class ModelSpec:
    """A backbone: a registered name or ``{_target_: your CTRModel subclass}``, its sizes, and
    its own options (``reloop.models.option_names``)."""

    name: str | dict[str, Any] = "deepfm"
    embedding_dim: int = 16
    hidden_units: tuple[int, ...] = (400, 400, 400)
    dropout: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """``ValueError`` unless the backbone builds with these settings (``check_backbone``)."""
        from reloop.models import check_backbone

        check_backbone(self.name, embedding_dim=self.embedding_dim,
                       hidden_units=self.hidden_units, dropout=self.dropout,
                       options=self.options)  # fmt: skip


OPTIMIZERS = ("auto", "adam", "lazy_adam")
NUMERIC_MODES = ("normalize", "bucketize")


@dataclass(frozen=True)
class TrainSpec:
    """How a model trains: ``reloop.fit``'s ``train`` argument, ``reloop-offline``'s ``train``
    node (at most ``epochs`` with early stopping after ``patience`` epochs without a better
    validation AUC) and every simulated arm's ``arm.<name>.train`` node (nightly retraining)."""

    epochs: int = 1
    batch_size: int = 4096
    lr: float = 1e-3
    weight_decay: float = 0.0
    # epochs without a better validation AUC before stopping (used only with validation data)
    patience: int = 2
    numeric_mode: str = "normalize"  # normalize | bucketize (numeric columns of a new model)
    # "adam": Adam on every parameter. "lazy_adam": embedding tables get sparse gradients and
    # reloop.optim.LazyAdam (only the rows a batch touches move), dense layers Adam. "auto":
    # lazy_adam once the embedding tables hold 100k rows (reloop.train.LAZY_ADAM_MIN_ROWS).
    optimizer: str = "auto"

    def check(self, where: str = "train") -> None:
        """``SchemaError`` naming the field unless every value is one training accepts."""
        for name in ("epochs", "patience", "batch_size"):
            if getattr(self, name) < 1:
                raise SchemaError(f"{where}.{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise SchemaError(f"{where}.lr must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise SchemaError(f"{where}.weight_decay must be >= 0, got {self.weight_decay}")
        if self.numeric_mode not in NUMERIC_MODES:
            raise SchemaError(
                f"{where}.numeric_mode must be one of {list(NUMERIC_MODES)}, "
                f"got {self.numeric_mode!r}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise SchemaError(
                f"{where}.optimizer must be one of {list(OPTIMIZERS)}, got {self.optimizer!r}"
            )
        if self.optimizer == "lazy_adam" and self.weight_decay:
            raise SchemaError(f"{where}.weight_decay needs optimizer adam (LazyAdam has none)")


def build(
    kind: type[T], node: Mapping[str, Any], where: str, *, pluggable: Sequence[str] = ()
) -> T:
    """The frozen dataclass ``kind`` from a mapping, checking names and simple types. Fields in
    ``pluggable`` also take a Hydra ``_target_`` mapping (checked by whoever uses it)."""
    known = {f.name: f for f in fields(kind)}  # type: ignore[arg-type]
    unknown = sorted(k for k in node if k not in known and not str(k).startswith("_"))
    if unknown:
        raise SchemaError(f"{where}: unknown field(s) {unknown}; known: {sorted(known)}")
    values = {}
    for name, value in node.items():
        if name in pluggable and isinstance(value, Mapping):
            values[name] = dict(value)
        elif name in known and _is_node(known[name]) and isinstance(value, Mapping):
            values[name] = build(type(known[name].default_factory()), value, f"{where}.{name}")
        elif name in known and value is None and known[name].default_factory is not MISSING:
            values[name] = known[name].default_factory()  # e.g. options: null is no options
        elif name in known:
            values[name] = coerce(value, known[name].default, f"{where}.{name}")
    return kind(**values)


def _is_node(spec: Any) -> bool:
    """A field whose value is itself a schema (a nested frozen dataclass, e.g. an arm's train)."""
    return spec.default_factory is not MISSING and is_dataclass(spec.default_factory)


def coerce(value: Any, default: Any, where: str) -> Any:
    """Check a value against its field's default type (bool, int, float (finite), str, tuple of
    those); null only where the default is null."""
    if value is None and default is not None:
        raise SchemaError(f"{where} needs a value, got null")
    if value is None or default is None or isinstance(default, dict):
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise SchemaError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise SchemaError(f"{where} must be an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SchemaError(f"{where} must be a number, got {value!r}")
        if not math.isfinite(value):  # no setting means anything at nan or inf
            raise SchemaError(f"{where} must be a finite number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise SchemaError(f"{where} must be a string, got {value!r}")
        return value
    if isinstance(default, tuple):
        if isinstance(value, str) or not hasattr(value, "__iter__"):
            raise SchemaError(f"{where} must be a list, got {value!r}")
        if default:  # elements of the default's element type
            return tuple(coerce(x, default[0], f"{where}[{i}]") for i, x in enumerate(value))
        return tuple(value)
    return value
