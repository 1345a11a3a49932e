"""CTR backbones over shared layers; ``build_model(name, schema, **options)`` makes one."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from reloop.features import FieldSchema
from reloop.models.afn import AFNPlus
from reloop.models.base import CTRModel
from reloop.models.dcn import DCN, DCNv2
from reloop.models.deepfm import DeepFM
from reloop.models.fm import FM
from reloop.models.fmfm import FmFM
from reloop.models.ipnn import IPNN
from reloop.models.lr import LR
from reloop.models.nfm import NFM
from reloop.models.wide_deep import WideDeep
from reloop.models.xdeepfm import XDeepFM
from reloop.targets import locate, target_path

__all__ = [
    "MODELS",
    "CTRModel",
    "ModelName",
    "build_model",
    "check_backbone",
    "model_class",
    "option_names",
]

MODELS: dict[str, type[CTRModel]] = {
    "lr": LR,
    "fm": FM,
    "deepfm": DeepFM,
    "dcn": DCN,
    "dcnv2": DCNv2,
    "wide_deep": WideDeep,
    "nfm": NFM,
    "ipnn": IPNN,
    "xdeepfm": XDeepFM,
    "fmfm": FmFM,
    "afn_plus": AFNPlus,
}


# A backbone: a registered name, or your own CTRModel subclass as {"_target_": "pkg.mod.Class"}.
ModelName = str | Mapping[str, Any]


def model_class(name: ModelName) -> type[CTRModel]:
    """The backbone class of a registered name or of a ``_target_`` mapping (a ``CTRModel``
    subclass: ``forward(categorical, numeric) -> logits``, constructed with ``(schema,
    embedding_dim, hidden_units, dropout, **its own options)``)."""
    if isinstance(name, Mapping):
        if set(name) != {"_target_"}:
            raise ValueError(
                f"a backbone mapping holds only _target_ (its options go in model.options), got "
                f"{sorted(name)}"
            )
        found = locate(target_path(name, "a backbone"))
        if not (isinstance(found, type) and issubclass(found, CTRModel)):
            raise ValueError(f"{name['_target_']!r} is not a reloop.models.CTRModel subclass")
        return found
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown model {name!r}; expected one of {sorted(MODELS)} or a _target_"
        ) from None


def build_model(name: ModelName, schema: FieldSchema, **options: Any) -> CTRModel:
    """Instantiate the backbone ``name`` (registered or ``_target_``); an option it does not take
    is an error."""
    backbone = model_class(name)
    known = option_names(backbone)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"model {name!r} has no option(s) {unknown}; it takes {sorted(known)}")
    return backbone(schema, **options)


def option_names(model_class: type[CTRModel]) -> frozenset[str]:
    """The keyword options of a backbone: its constructors' named parameters along the MRO."""
    names: set[str] = set()
    for klass in model_class.__mro__:
        if "__init__" not in vars(klass) or not issubclass(klass, CTRModel):
            continue
        for parameter in inspect.signature(klass.__init__).parameters.values():
            if parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
                names.add(parameter.name)
    return frozenset(names - {"self", "schema"})


def check_backbone(
    name: ModelName,
    *,
    embedding_dim: Any,
    hidden_units: Any,
    dropout: Any,
    options: Any,
) -> None:
    """Raise ``ValueError`` (one line, naming the setting) unless the backbone can be built with
    these settings: built once on a tiny schema, so that its own options' names, types and ranges
    are checked by the constructor that will use them, before any data is touched."""
    try:
        model_class(name)
    except ValueError as error:
        raise ValueError(f"model.name: {error}") from None
    if not isinstance(options, dict):
        raise ValueError(f"model.options must be a mapping, got {options!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
        raise ValueError(f"model.dropout must lie in [0, 1), got {dropout!r}")
    units = list(hidden_units) if isinstance(hidden_units, list | tuple) else None
    if units is None or not all(isinstance(u, int) and not isinstance(u, bool) and u > 0
                                for u in units):  # fmt: skip
        raise ValueError(
            f"model.hidden_units must be a list of positive integers, got {hidden_units!r}"
        )
    if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, int) or embedding_dim < 1:
        raise ValueError(f"model.embedding_dim must be a positive integer, got {embedding_dim!r}")
    try:
        build_model(name, FieldSchema((3, 3, 3), 1), embedding_dim=embedding_dim,
                    hidden_units=tuple(units), dropout=float(dropout), **options)  # fmt: skip
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"model.options: {' '.join(str(error).split())}") from None
