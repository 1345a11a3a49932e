"""The one schema of a backbone's architecture (``ModelSpec``: ``reloop.fit``'s ``model``,
``reloop-offline``'s and the simulator's ``model`` node) and of training (``TrainSpec``:
``reloop.fit``'s ``train``, ``reloop-offline``'s ``train`` node, each simulated arm's ``train``),
and the strict reader of a config node into such a frozen dataclass: unknown keys, null where a
value is needed and wrong types are errors naming the key, never dropped."""

from __future__ import annotations

import collections.abc
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, Union

__all__ = [
    "OPTIMIZERS",
    "ModelSpec",
    "SchemaError",
    "TrainSpec",
    "build",
    "coerce",
    "plain",
    "read",
]

T = TypeVar("T")


class SchemaError(ValueError):
    """A config node that does not fit its schema; the message names the key."""


@dataclass(frozen=True)
class ModelSpec:
    """A backbone: a registered name or ``{_target_: your CTRModel subclass}``, its sizes, and
    its own options (``reloop.models.option_names``)."""

    PLUGGABLE: ClassVar[tuple[str, ...]] = ("name",)  # a backbone of your own by _target_

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
    """The frozen dataclass ``kind`` from a mapping: unknown names are refused, and every value is
    read against its field's annotation (``read``). Fields in ``pluggable`` (and in the class's
    own ``PLUGGABLE``) also take a Hydra ``_target_`` mapping (checked by whoever uses it)."""
    if not isinstance(node, Mapping):
        raise SchemaError(f"{where} must be a mapping of settings, got {node!r}")
    known = {f.name: f for f in fields(kind)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(kind)
    unknown = sorted(str(k) for k in node if k not in known and not str(k).startswith("_"))
    if unknown:
        prefix = f"{where}: " if where else ""
        raise SchemaError(f"{prefix}unknown key(s) {unknown}; known: {sorted(known)}")
    pluggable = (*pluggable, *getattr(kind, "PLUGGABLE", ()))
    values = {}
    for name, value in node.items():
        if name not in known:
            continue  # a Hydra key such as _target_
        spec = known[name]
        if name in pluggable and isinstance(value, Mapping):
            values[name] = dict(value)
        elif name in pluggable and value is not None:
            values[name] = _read_pluggable(value, hints[name], f"{where}.{name}" if where else name)
        elif value is None and spec.default_factory is not MISSING:
            values[name] = spec.default_factory()  # e.g. options: null is no options
        else:
            values[name] = read(value, hints[name], f"{where}.{name}" if where else name)
    return kind(**values)


def plain(node: Any) -> dict[str, Any]:
    """A config node (an OmegaConf ``DictConfig`` or a mapping) as a plain dict, resolved."""
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(node, DictConfig):
        try:
            node = OmegaConf.to_container(node, resolve=True, throw_on_missing=True)
        except OmegaConfBaseException as error:  # a ??? left unset, a broken interpolation
            raise SchemaError(" ".join(str(error).split())) from None
    if not isinstance(node, Mapping):
        raise SchemaError(f"a config must be a mapping of settings, got {node!r}")
    return {str(key): value for key, value in node.items()}


def _read_pluggable(value: Any, hint: Any, where: str) -> Any:
    """A plug-in field given as something else than a ``_target_`` mapping (a built-in's name)."""
    try:
        return read(value, hint, where)
    except SchemaError:
        others = [a for a in typing.get_args(hint) if typing.get_origin(a) not in (dict, Mapping)]
        names = " or ".join(
            "null" if a is type(None) else _name(a) for a in others if a is not dict
        )
        raise SchemaError(
            f"{where} must be {names or 'a'} or a _target_ mapping, got {value!r}"
        ) from None


def read(value: Any, hint: Any, where: str) -> Any:
    """``value`` checked against the annotation ``hint``: bool, int, float (finite; an int is a
    float), str, Path (from text), Literal, ``X | None``, unions, ``tuple[X, ...]``, dict,
    nested dataclasses (``build``) and Any. ``SchemaError`` naming ``where`` otherwise."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        return _read_union(value, args, where)
    if value is None:
        raise SchemaError(f"{where} needs a value, got null")
    if origin is Literal:
        if value not in args:
            raise SchemaError(f"{where} must be one of {list(args)}, got {value!r}")
        return value
    if origin is tuple:
        return _read_list(value, args, where)
    if hint is dict or origin in (dict, Mapping, collections.abc.Mapping):
        if not isinstance(value, Mapping):
            raise SchemaError(f"{where} must be a mapping, got {value!r}")
        if len(args) == 2:  # dict[K, V]: every value a V
            return {key: read(item, args[1], f"{where}.{key}") for key, item in value.items()}
        return dict(value)
    if is_dataclass(hint):
        return build(hint, value, where)  # type: ignore[arg-type]
    if hint is Path:
        if not isinstance(value, str | Path) or not str(value):
            raise SchemaError(f"{where} must be a path, got {value!r}")
        return Path(value)
    return coerce(value, _EXAMPLES.get(hint, value), where)


_EXAMPLES: dict[Any, Any] = {bool: False, int: 0, float: 0.0, str: ""}


def _read_union(value: Any, args: tuple[Any, ...], where: str) -> Any:
    if value is None:
        if type(None) in args:
            return None
        raise SchemaError(f"{where} needs a value, got null")
    options = [arg for arg in args if arg is not type(None)]
    listed = [o for o in options if typing.get_origin(o) is tuple]
    if listed and not isinstance(value, str | bytes | Mapping) and hasattr(value, "__iter__"):
        return read(value, listed[0], where)  # a list: its elements' errors say the most
    errors = []
    for option in options:
        try:
            return read(value, option, where)
        except SchemaError as error:
            errors.append(str(error))
    if len(errors) == 1:
        raise SchemaError(errors[0])
    names = " or ".join(_name(option) for option in options)
    raise SchemaError(f"{where} must be {names}, got {value!r}")


def _read_list(value: Any, args: tuple[Any, ...], where: str) -> tuple[Any, ...]:
    if isinstance(value, str | bytes | Mapping) or not hasattr(value, "__iter__"):
        raise SchemaError(f"{where} must be a list, got {value!r}")
    items = list(value)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(read(x, args[0], f"{where}[{i}]") for i, x in enumerate(items))
    if not args:
        return tuple(items)
    if len(args) != len(items):
        raise SchemaError(f"{where} must be a list of {len(args)}, got {value!r}")
    pairs = enumerate(zip(items, args, strict=True))
    return tuple(read(x, hint, f"{where}[{i}]") for i, (x, hint) in pairs)


def _name(hint: Any) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if hint in names:
        return names[hint]
    if typing.get_origin(hint) is tuple:
        return "a list"
    if typing.get_origin(hint) in (dict, Mapping, collections.abc.Mapping) or hint is dict:
        return "a mapping"
    return getattr(hint, "__name__", str(hint))


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
