"""FmFM (Sun et al., 2021): field-matrixed factorization machine.

Each field pair ``(i, j)`` has its own ``dim x dim`` matrix ``M_ij`` and interacts as
``e_i M_ij . e_j``. The matrices start as identities, so an untrained FmFM is an FM.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from reloop.features import FieldSchema
from reloop.models.base import CTRModel
from reloop.models.layers import FeatureEmbedding, FieldPairs, LinearTerm


class FmFM(CTRModel):
    def __init__(self, schema: FieldSchema, **options: Any) -> None:
        super().__init__(schema, **options)
        self.linear = LinearTerm(schema)
        self.embedding = FeatureEmbedding(schema, self.embedding_dim)
        self.pairs = FieldPairs(schema.n_fields)
        identity = torch.eye(self.embedding_dim).expand(self.pairs.n_pairs, -1, -1)
        self.field_matrices = nn.Parameter(identity.clone())

    def forward(self, categorical: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        left, right = self.pairs(self.embedding(categorical, numeric))
        transformed = torch.einsum("bpd,pde->bpe", left, self.field_matrices)
        return self.linear(categorical, numeric) + (transformed * right).sum(dim=(1, 2))
