"""ReLoop: CTR models that correct their previous version's mistakes (Cai et al., SIGIR 2022).

import reloop
model = reloop.fit(frame, ["user_id", "item_id"], loss="reloop", alpha=0.5, y_last="pctr")
p = reloop.predict(model, frame)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reloop.api import FittedModel, fit, load, predict
    from reloop.losses import bce_loss, kd_loss, reloop_loss, self_correction_loss
    from reloop.schema import ModelSpec, TrainSpec

# Loaded on first use (PEP 562): the command-line helpers in ``reloop.hydra_app`` are shared with
# the statistics apps, which must start without paying for torch.
_LAZY = {
    "FittedModel": "reloop.api", "fit": "reloop.api", "load": "reloop.api",
    "predict": "reloop.api", "bce_loss": "reloop.losses", "kd_loss": "reloop.losses",
    "reloop_loss": "reloop.losses", "self_correction_loss": "reloop.losses",
    "ModelSpec": "reloop.schema", "TrainSpec": "reloop.schema",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'reloop' has no attribute {name!r}")


__all__ = [
    "FittedModel",
    "ModelSpec",
    "TrainSpec",
    "bce_loss",
    "fit",
    "kd_loss",
    "load",
    "predict",
    "reloop_loss",
    "self_correction_loss",
]
