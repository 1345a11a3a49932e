"""Logistic regression over one-hot features."""

from __future__ import annotations

from typing import Any

import torch

from reloop.features import FieldSchema
from reloop.models.base import CTRModel
from reloop.models.layers import LinearTerm


class LR(CTRModel):
    def __init__(self, schema: FieldSchema, **options: Any) -> None:
        super().__init__(schema, **options)
        self.linear = LinearTerm(schema)

    def forward(self, categorical: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        return self.linear(categorical, numeric)
