"""Factorization machine (Rendle, 2010)."""

from __future__ import annotations

from typing import Any

import torch

from reloop.features import FieldSchema
from reloop.models.base import CTRModel
from reloop.models.layers import FactorizationMachine, FeatureEmbedding, LinearTerm


class FM(CTRModel):
    def __init__(self, schema: FieldSchema, **options: Any) -> None:
        super().__init__(schema, **options)
        self.linear = LinearTerm(schema)
        self.embedding = FeatureEmbedding(schema, self.embedding_dim)
        self.fm = FactorizationMachine()

    def forward(self, categorical: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        embeddings = self.embedding(categorical, numeric)
        return self.linear(categorical, numeric) + self.fm(embeddings)
