"""Wide & Deep (Cheng et al., 2016): a linear model plus an MLP over embeddings."""

from __future__ import annotations

from typing import Any

import torch

from reloop.features import FieldSchema, SlateTensors
from reloop.models.base import CTRModel
from reloop.models.layers import MLP, FeatureEmbedding, LinearTerm


class WideDeep(CTRModel):
    def __init__(self, schema: FieldSchema, **options: Any) -> None:
        super().__init__(schema, **options)
        self.linear = LinearTerm(schema)
        self.embedding = FeatureEmbedding(schema, self.embedding_dim)
        self.mlp = MLP(
            schema.n_fields * self.embedding_dim, self.hidden_units, dropout=self.dropout
        )

    def forward(self, categorical: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        deep = self.mlp(self.embedding(categorical, numeric).flatten(start_dim=1)).squeeze(-1)
        return self.linear(categorical, numeric) + deep

    def forward_slates(self, slates: SlateTensors) -> torch.Tensor:
        deep = self.mlp.forward_slates(self.embedding.forward_slates(slates)).squeeze(-1)
        return self.linear.forward_slates(slates) + deep
