"""CTR backbones over shared layers; ``build_model(name, schema, **options)`` makes one."""

from __future__ import annotations

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

__all__ = ["MODELS", "CTRModel", "build_model"]

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
    """Instantiate the backbone registered as ``name``."""
    try:
        model_class = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}") from None
    return model_class(schema, **options)
