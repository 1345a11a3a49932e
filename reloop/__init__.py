"""ReLoop: CTR models that correct their previous version's mistakes (Cai et al., SIGIR 2022).

import reloop
model = reloop.fit(frame, ["user_id", "item_id"], loss="reloop", alpha=0.5, y_last="pctr")
p = reloop.predict(model, frame)
"""

from reloop.api import FittedModel, fit, load, predict
from reloop.losses import bce_loss, kd_loss, reloop_loss, self_correction_loss

__all__ = [
    "FittedModel",
    "bce_loss",
    "fit",
    "kd_loss",
    "load",
    "predict",
    "reloop_loss",
    "self_correction_loss",
]
