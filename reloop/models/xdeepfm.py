"""xDeepFM (Lian et al., 2018): a linear term, a compressed interaction network and an MLP."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import torch
from torch import nn

from reloop.features import FieldSchema
from reloop.models.base import CTRModel
from reloop.models.layers import MLP, FeatureEmbedding, LinearTerm


class CompressedInteraction(nn.Module):
    """CIN: ``x_k[h] = sum_ij W_k[h, i, j] (x_{k-1}[i] * x_0[j])`` (vector-wise, no activation),
    each layer sum-pooled over the embedding dimension: ``[batch, fields, dim] -> [batch,
    sum(layer_units)]``."""

    def __init__(self, n_fields: int, layer_units: Sequence[int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Conv1d(prev * n_fields, units, kernel_size=1)
            for prev, units in pairwise([n_fields, *layer_units])
        )
        self.out_dim = sum(layer_units)

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x, pooled = x0, []
        for layer in self.layers:
            x = layer(torch.einsum("bhd,bmd->bhmd", x, x0).flatten(start_dim=1, end_dim=2))
            pooled.append(x.sum(dim=-1))
        return torch.cat(pooled, dim=1)


class XDeepFM(CTRModel):
    def __init__(
        self, schema: FieldSchema, *, cin_units: Sequence[int] = (16, 16, 16), **options: Any
    ) -> None:
        super().__init__(schema, **options)
        self.linear = LinearTerm(schema)
        self.embedding = FeatureEmbedding(schema, self.embedding_dim)
        self.cin = CompressedInteraction(schema.n_fields, tuple(cin_units))
        self.cin_output = nn.Linear(self.cin.out_dim, 1)
        self.mlp = MLP(
            schema.n_fields * self.embedding_dim, self.hidden_units, dropout=self.dropout
        )

    def forward(self, categorical: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        embeddings = self.embedding(categorical, numeric)
        cin = self.cin_output(self.cin(embeddings)).squeeze(-1)
        deep = self.mlp(embeddings.flatten(start_dim=1)).squeeze(-1)
        return self.linear(categorical, numeric) + cin + deep
