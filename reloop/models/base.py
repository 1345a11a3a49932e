"""The interface every CTR backbone implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from reloop.features import FieldSchema
from reloop.models.layers import FeatureEmbedding

__all__ = ["CTRModel"]


class CTRModel(nn.Module):
    """A CTR backbone: ``forward(categorical, numeric) -> logits [batch]``.

    Subclasses take ``(schema, embedding_dim, hidden_units, dropout, **their own options)``;
    options a model does not use are accepted and ignored so that one config drives every model.
    """

    def __init__(
        self,
        schema: FieldSchema,
        embedding_dim: int = 16,
        hidden_units: Sequence[int] = (400, 400, 400),
        dropout: float = 0.0,
        **_unused: Any,
    ) -> None:
        super().__init__()
        self.schema = schema
        self.embedding_dim = embedding_dim
        self.hidden_units = tuple(hidden_units)
        self.dropout = dropout

    def forward(self, categorical: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def grow_vocabulary(self, schema: FieldSchema) -> None:
        """Enlarge every embedding table to ``schema``'s vocabularies, keeping learned rows."""
        for module in self.modules():
            if isinstance(module, FeatureEmbedding):
                module.grow(schema)
        self.schema = schema
