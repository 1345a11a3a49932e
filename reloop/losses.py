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
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "LOSSES",
    "bce_loss",
    "kd_loss",
    "loss_from_logits",
    "reloop_loss",
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


def loss_from_logits(
    kind: str,
    logits: torch.Tensor,
    y: torch.Tensor,
    y_last: torch.Tensor | None = None,
    alpha: float = 0.0,
) -> torch.Tensor:
    """The trainer's loss: same definitions as above, cross-entropy computed from logits."""
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
