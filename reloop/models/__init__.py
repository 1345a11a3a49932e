"""CTR backbones over shared layers; ``build_model(name, schema, **options)`` makes one."""

from __future__ import annotations

import inspect
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

__all__ = ["MODELS", "CTRModel", "build_model", "check_backbone", "option_names"]

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


def build_model(name: str, schema: FieldSchema, **options: Any) -> CTRModel:
    """Instantiate the backbone registered as ``name``; an option it does not take is an error."""
    try:
        model_class = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}") from None
    known = option_names(model_class)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"model {name!r} has no option(s) {unknown}; it takes {sorted(known)}")
    return model_class(schema, **options)


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
    name: str,
    *,
    embedding_dim: Any,
    hidden_units: Any,
    dropout: Any,
    options: Any,
) -> None:
    """Raise ``ValueError`` (one line, naming the setting) unless the backbone can be built with
    these settings: built once on a tiny schema, so that its own options' names, types and ranges
    are checked by the constructor that will use them, before any data is touched."""
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
