"""NFM (He & Chua, 2017): an MLP over the bi-interaction pooling of field embeddings.

The paper's optional batch normalisation of the pooled vector is left out: it fails on a
training batch of one row, which the trainer's last batch can be.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from reloop.features import FieldSchema
from reloop.models.base import CTRModel
from reloop.models.layers import MLP, FeatureEmbedding, LinearTerm


class BiInteraction(nn.Module):
    """Element-wise products of all field pairs, summed: ``[batch, fields, dim] -> [batch, dim]``
    (the FM interaction before its sum over ``dim``)."""

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return 0.5 * (embeddings.sum(dim=1).pow(2) - embeddings.pow(2).sum(dim=1))


class NFM(CTRModel):
    def __init__(self, schema: FieldSchema, **options: Any) -> None:
        super().__init__(schema, **options)
        self.linear = LinearTerm(schema)
        self.embedding = FeatureEmbedding(schema, self.embedding_dim)
        self.bi_interaction = BiInteraction()
        self.mlp = MLP(self.embedding_dim, self.hidden_units, dropout=self.dropout)

    def forward(self, categorical: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        pooled = self.bi_interaction(self.embedding(categorical, numeric))
        return self.linear(categorical, numeric) + self.mlp(pooled).squeeze(-1)
