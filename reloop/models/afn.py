"""AFN+ (Cheng et al., 2020): adaptive factorization network ensembled with a plain DNN.

The logarithmic transformation layer learns arbitrary-order cross features
``exp(sum_f w_lf log|e_f|) = prod_f |e_f|^w_lf`` (per embedding dimension); an MLP reads them.
AFN+ adds a DNN on its own embeddings and mixes the two logits with a learned linear layer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from reloop.features import FieldSchema
from reloop.models.base import CTRModel
from reloop.models.layers import MLP, FeatureEmbedding


class AFNPlus(CTRModel):
    def __init__(self, schema: FieldSchema, *, log_neurons: int = 64, **options: Any) -> None:
        super().__init__(schema, **options)
        n_fields, dim = schema.n_fields, self.embedding_dim
        self.afn_embedding = FeatureEmbedding(schema, dim)
        self.log_norm = nn.BatchNorm1d(n_fields)
        self.log_weights = nn.Linear(n_fields, log_neurons, bias=False)
        self.exp_norm = nn.BatchNorm1d(log_neurons)
        self.afn_mlp = MLP(dim * log_neurons, self.hidden_units, dropout=self.dropout)
        self.dnn_embedding = FeatureEmbedding(schema, dim)
        self.dnn = MLP(n_fields * dim, self.hidden_units, dropout=self.dropout)
        self.ensemble = nn.Linear(2, 1)

    def forward(self, categorical: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        log_embeddings = self.afn_embedding(categorical, numeric).abs().clamp(min=1e-7).log()
        crossed = self.log_weights(self.log_norm(log_embeddings).transpose(1, 2)).exp()
        afn = self.afn_mlp(self.exp_norm(crossed.transpose(1, 2)).flatten(start_dim=1))
        dnn = self.dnn(self.dnn_embedding(categorical, numeric).flatten(start_dim=1))
        return self.ensemble(torch.cat([afn, dnn], dim=1)).squeeze(-1)
