"""IPNN (Qu et al., 2016): an MLP over the field embeddings and their pairwise inner products."""

from __future__ import annotations

from typing import Any

import torch

from reloop.features import FieldSchema
from reloop.models.base import CTRModel
from reloop.models.layers import MLP, FeatureEmbedding, FieldPairs


class IPNN(CTRModel):
    def __init__(self, schema: FieldSchema, **options: Any) -> None:
        super().__init__(schema, **options)
        n_fields = schema.n_fields
        self.embedding = FeatureEmbedding(schema, self.embedding_dim)
        self.pairs = FieldPairs(n_fields)
        in_dim = n_fields * self.embedding_dim + self.pairs.n_pairs
        self.mlp = MLP(in_dim, self.hidden_units, dropout=self.dropout)

    def forward(self, categorical: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        embeddings = self.embedding(categorical, numeric)
        left, right = self.pairs(embeddings)
        inner_products = (left * right).sum(dim=-1)
        product_layer = torch.cat([embeddings.flatten(start_dim=1), inner_products], dim=1)
        return self.mlp(product_layer).squeeze(-1)
