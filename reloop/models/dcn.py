"""Deep & Cross Network (Wang et al., 2017) and DCN-V2 (Wang et al., 2021), parallel form."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from reloop.features import FieldSchema
from reloop.models.base import CTRModel
from reloop.models.layers import MLP, CrossNetwork, CrossNetworkV2, FeatureEmbedding


class DCN(CTRModel):
    cross_type: type[nn.Module] = CrossNetwork

    def __init__(self, schema: FieldSchema, *, cross_layers: int = 3, **options: Any) -> None:
        super().__init__(schema, **options)
        in_dim = schema.n_fields * self.embedding_dim
        self.embedding = FeatureEmbedding(schema, self.embedding_dim)
        self.cross = self.cross_type(in_dim, cross_layers)
        self.mlp = MLP(in_dim, self.hidden_units, out_dim=None, dropout=self.dropout)
        self.output = nn.Linear(in_dim + self.mlp.out_dim, 1)

    def forward(self, categorical: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        x0 = self.embedding(categorical, numeric).flatten(start_dim=1)
        return self.output(torch.cat([self.cross(x0), self.mlp(x0)], dim=1)).squeeze(-1)


class DCNv2(DCN):
    cross_type = CrossNetworkV2
