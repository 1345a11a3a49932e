"""DeepFM (Guo et al., 2017): an FM and an MLP over shared field embeddings."""

from __future__ import annotations

from typing import Any

import torch

from reloop.features import FieldSchema, SlateTensors
from reloop.models.base import CTRModel
from reloop.models.layers import MLP, FactorizationMachine, FeatureEmbedding, LinearTerm


class DeepFM(CTRModel):
    def __init__(self, schema: FieldSchema, **options: Any) -> None:
        super().__init__(schema, **options)
        self.linear = LinearTerm(schema)
        self.embedding = FeatureEmbedding(schema, self.embedding_dim)
        self.fm = FactorizationMachine()
        self.mlp = MLP(
            schema.n_fields * self.embedding_dim, self.hidden_units, dropout=self.dropout
        )

    def forward(self, categorical: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        embeddings = self.embedding(categorical, numeric)
        deep = self.mlp(embeddings.flatten(start_dim=1)).squeeze(-1)
        return self.linear(categorical, numeric) + self.fm(embeddings) + deep

    def forward_slates(self, slates: SlateTensors) -> torch.Tensor:
        parts = self.embedding.forward_slates(slates)
        deep = self.mlp.forward_slates(parts).squeeze(-1)
        return self.linear.forward_slates(slates) + self.fm.forward_slates(parts) + deep
