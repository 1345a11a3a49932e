"""The interface every CTR backbone implements."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from reloop.features import FieldSchema, SlateTensors
from reloop.models.layers import FeatureEmbedding

__all__ = ["CTRModel"]


class CTRModel(nn.Module):
    """A CTR backbone: ``forward(categorical, numeric) -> logits [batch]``.

    Subclasses take ``(schema, embedding_dim, hidden_units, dropout, **their own options)`` and
    pass the shared ones on; an option no class along the way takes is a ``TypeError`` (and
    ``build_model`` names it first), never silently ignored.
    """

    def __init__(
        self,
        schema: FieldSchema,
        embedding_dim: int = 16,
        hidden_units: Sequence[int] = (400, 400, 400),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.schema = schema
        self.embedding_dim = embedding_dim
        self.hidden_units = tuple(hidden_units)
        self.dropout = dropout

    def forward(self, categorical: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_slates(self, slates: SlateTensors) -> torch.Tensor:
        """Logits ``[R, S]`` of the ``S`` slots (candidates, or shown items) of ``R`` requests:
        ``slates.categorical [R, F]`` and ``slates.numeric [R, N]`` hold each request's fields,
        ``slates.slot_categorical [R, S, k]`` the ``slates.slot_fields`` that vary per slot.

        Equal to ``forward`` on the ``R * S`` expanded rows, which is what this default does;
        models whose request-level part can be computed once per request override it."""
        r, s = slates.slot_categorical.shape[:2]
        rows = slates.categorical.unsqueeze(1).repeat(1, s, 1)
        rows[:, :, slates.slot_fields] = slates.slot_categorical
        numeric = slates.numeric.repeat_interleave(s, dim=0)
        logits = self.forward(rows.reshape(r * s, -1), numeric)
        return logits.reshape(r, s)

    def grow_vocabulary(self, schema: FieldSchema) -> None:
        """Enlarge every embedding table to ``schema``'s vocabularies, keeping learned rows."""
        for module in self.modules():
            if isinstance(module, FeatureEmbedding):
                module.grow(schema)
        self.schema = schema
