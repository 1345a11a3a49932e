"""Training losses of ReLoop (SIGIR 2022) and its baselines.

The public functions take probabilities (1-D float tensors) and return the batch mean. They
validate their inputs and raise ``ValueError`` naming the problem. The trainer uses the
``*_from_logits`` twins, which skip validation and compute the cross-entropy from logits for
numerical stability; both families share one definition of each term.

Per sample, with ``p`` the new prediction, ``y_last`` the previous version's pCTR and ``y`` the
label:

    L_sc = y * max(y_last - p, 0) + (1 - y) * max(p - y_last, 0)
    L    = alpha * L_sc + (1 - alpha) * BCE(p, y)

``L_sc`` only penalises a sample when the new model is *worse* than the previous one on it (a lower
score on a click, a higher one on a non-click); where the new model already beats ``y_last`` the
term is zero and so is its gradient.

Your own loss plugs in wherever a loss name is accepted (``reloop.fit(loss=...)``, a simulated
arm's ``recipe``): any callable ``(logits, y, y_last, alpha) -> scalar tensor`` (``y_last`` is the
previous version's pCTR per row, or None when there is none), or a Hydra ``_target_`` mapping that
instantiates to one (``{"_target_": "my_module.my_loss"}``; extra keys are its arguments).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import torch
import torch.nn.functional as F

from reloop.targets import build

LossFn: TypeAlias = Callable[
    [torch.Tensor, torch.Tensor, "torch.Tensor | None", float], torch.Tensor
]
LossSpec: TypeAlias = "str | Mapping[str, Any] | LossFn"

__all__ = [
    "LOSSES",
    "LossFn",
    "LossSpec",
    "bce_loss",
    "check_loss",
    "kd_loss",
    "loss_from_logits",
    "reloop_loss",
    "resolve_loss",
    "self_correction_loss",
]

LOSSES = ("bce", "reloop", "kd")


def _check_probabilities(name: str, values: torch.Tensor) -> None:
    if torch.isnan(values).any():
        raise ValueError(f"{name} contains NaN")
    if (values < 0).any() or (values > 1).any():
        raise ValueError(f"{name} must lie in [0, 1]")


def _check_inputs(p: torch.Tensor, y: torch.Tensor, y_last: torch.Tensor | None = None) -> None:
    tensors = {"p": p, "y": y} if y_last is None else {"p": p, "y_last": y_last, "y": y}
    for name, tensor in tensors.items():
        if not isinstance(tensor, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
        if tensor.dim() != 1:
            raise ValueError(f"{name} must be 1-D, got shape {tuple(tensor.shape)}")
    shapes = {name: tuple(tensor.shape) for name, tensor in tensors.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"shape mismatch: {shapes}")
    for name, tensor in tensors.items():
        _check_probabilities(name, tensor)


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:  # also rejects NaN
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    return alpha


def _bce_terms(p: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # Probabilities are clipped to [eps, 1 - eps] of their dtype (as scikit-learn's log_loss does):
    # a confident wrong prediction costs -log(eps) instead of infinity, and gradients stay finite.
    eps = torch.finfo(p.dtype).eps
    p = p.clamp(eps, 1 - eps)
    return -(target * torch.log(p) + (1 - target) * torch.log1p(-p))


def _self_correction_terms(p: torch.Tensor, y_last: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return y * torch.relu(y_last - p) + (1 - y) * torch.relu(p - y_last)


def bce_loss(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of probabilities ``p`` against labels ``y`` (batch mean)."""
    _check_inputs(p, y)
    return _bce_terms(p, y).mean()


def self_correction_loss(p: torch.Tensor, y_last: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """ReLoop's self-correction term ``L_sc`` (batch mean)."""
    _check_inputs(p, y, y_last)
    return _self_correction_terms(p, y_last, y).mean()


def reloop_loss(
    p: torch.Tensor, y_last: torch.Tensor, y: torch.Tensor, alpha: float
) -> torch.Tensor:
    """``alpha * L_sc + (1 - alpha) * BCE``; ``alpha = 0`` is exactly BCE."""
    alpha = _check_alpha(alpha)
    _check_inputs(p, y, y_last)
    bce = _bce_terms(p, y).mean()
    if alpha == 0.0:
        return bce
    return alpha * _self_correction_terms(p, y_last, y).mean() + (1 - alpha) * bce


def kd_loss(p: torch.Tensor, y_last: torch.Tensor, y: torch.Tensor, alpha: float) -> torch.Tensor:
    """Distillation from the previous version.

    ``alpha * BCE(p, y_last) + (1 - alpha) * BCE(p, y)``; ``alpha = 0`` is exactly BCE.
    """
    alpha = _check_alpha(alpha)
    _check_inputs(p, y, y_last)
    hard = _bce_terms(p, y).mean()
    if alpha == 0.0:
        return hard
    return alpha * _bce_terms(p, y_last).mean() + (1 - alpha) * hard


def resolve_loss(spec: LossSpec) -> str | LossFn:
    """A built-in loss name as it is; a ``_target_`` mapping built Hydra's way (a function is the
    loss, with the mapping's other keys bound as keyword arguments; a class is instantiated with
    them and the instance is the loss); a callable as it is. ``ValueError`` names what fails."""
    if isinstance(spec, str):
        if spec not in LOSSES:
            raise ValueError(f"unknown loss {spec!r}; expected one of {LOSSES} or a _target_")
        return spec
    if isinstance(spec, Mapping):
        spec = build(spec, "a loss")
    if not callable(spec):
        raise ValueError(f"a loss must be callable (logits, y, y_last, alpha), got {spec!r}")
    return spec


def check_loss(loss: LossFn, alpha: float) -> None:
    """Call a plugged-in loss once on a 4-row batch: it must return a finite scalar tensor that
    back-propagates to the logits (``ValueError`` otherwise), so that a wrong signature is found
    before any training, not on the first night that uses it."""
    logits = torch.zeros(4, requires_grad=True)
    y, y_last = torch.tensor([0.0, 1.0, 0.0, 1.0]), torch.full((4,), 0.5)
    try:
        value = loss(logits, y, y_last, alpha)
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            raise ValueError(f"it returned {type(value).__name__}, not a scalar tensor")
        if not bool(torch.isfinite(value)):
            raise ValueError("it returned a non-finite value")
        value.backward()
    except Exception as error:  # any failure of user code is reported, in one line
        message = " ".join(str(error).split())
        raise ValueError(
            f"the loss (logits, y, y_last, alpha) failed on a test batch: {message}"
        ) from None


def loss_from_logits(
    kind: str | LossFn,
    logits: torch.Tensor,
    y: torch.Tensor,
    y_last: torch.Tensor | None = None,
    alpha: float = 0.0,
) -> torch.Tensor:
    """The trainer's loss: same definitions as above, cross-entropy computed from logits; a
    plugged-in loss (a callable) gets the same arguments."""
    if callable(kind):
        return kind(logits, y, y_last, alpha)
    bce = F.binary_cross_entropy_with_logits(logits, y)
    if kind == "bce" or alpha == 0.0:
        return bce
    if y_last is None:
        raise ValueError(f"loss {kind!r} needs y_last")
    if kind == "reloop":
        p = torch.sigmoid(logits)
        return alpha * _self_correction_terms(p, y_last, y).mean() + (1 - alpha) * bce
    if kind == "kd":
        soft = F.binary_cross_entropy_with_logits(logits, y_last)
        return alpha * soft + (1 - alpha) * bce
    raise ValueError(f"unknown loss {kind!r}; expected one of {LOSSES}")
