"""Shared building blocks of the CTR backbones (FuxiCTR style: a model composes these)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from reloop.features import FieldSchema

__all__ = [
    "MLP",
    "CrossNetwork",
    "CrossNetworkV2",
    "FactorizationMachine",
    "FeatureEmbedding",
    "FieldPairs",
    "LinearTerm",
]


class FeatureEmbedding(nn.Module):
    """One ``dim``-vector per field: ``[batch, n_fields, dim]``.

    All categorical fields share one table (one lookup per batch, not one per field); ``offsets``
    place each field's rows. A dense numeric field ``f`` is embedded as ``x_f * w_f``.
    """

    def __init__(self, schema: FieldSchema, dim: int) -> None:
        super().__init__()
        self.schema = schema
        self.dim = dim
        self.table = nn.Embedding(max(sum(schema.categorical_sizes), 1), dim)
        self.dense = nn.Parameter(torch.empty(schema.n_numeric, dim))
        self.register_buffer("offsets", _offsets(schema.categorical_sizes), persistent=False)
        nn.init.normal_(self.table.weight, std=1e-2 if dim > 1 else 1e-4)
        nn.init.normal_(self.dense, std=1e-2 if dim > 1 else 1e-4)

    def forward(self, categorical: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        parts = []
        if self.schema.categorical_sizes:
            parts.append(self.table(categorical + self.offsets))
        if self.schema.n_numeric:
            parts.append(numeric.unsqueeze(-1) * self.dense)
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

    @torch.no_grad()
    def grow(self, schema: FieldSchema) -> None:
        """Enlarge the vocabularies to ``schema``'s, keeping every existing row in place."""
        old = self.schema
        if len(schema.categorical_sizes) != len(old.categorical_sizes) or (
            schema.n_numeric != old.n_numeric
        ):
            raise ValueError("cannot grow an embedding to a different set of fields")
        pairs = zip(schema.categorical_sizes, old.categorical_sizes, strict=True)
        if any(new < prev for new, prev in pairs):
            raise ValueError("vocabularies can only grow")
        if schema == old:
            return
        weight = torch.empty(sum(schema.categorical_sizes), self.dim)
        nn.init.normal_(weight, std=1e-2 if self.dim > 1 else 1e-4)
        old_rows, new_rows = _kept_rows(old.categorical_sizes, schema.categorical_sizes)
        weight[new_rows] = self.table.weight[old_rows]
        self.table = nn.Embedding.from_pretrained(weight, freeze=False)
        self.offsets = _offsets(schema.categorical_sizes)
        self.schema = schema


def _offsets(sizes: Sequence[int]) -> torch.Tensor:
    starts = [0]
    for size in sizes[:-1]:
        starts.append(starts[-1] + size)
    return torch.tensor(starts if sizes else [], dtype=torch.long)


def _kept_rows(old: Sequence[int], new: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Row indices of every old vocabulary entry in the old and in the grown table."""
    old_offsets, new_offsets = _offsets(old), _offsets(new)
    sizes = torch.tensor(old)
    field = torch.repeat_interleave(torch.arange(len(old)), sizes)
    within = torch.arange(int(sizes.sum())) - torch.repeat_interleave(old_offsets, sizes)
    return old_offsets[field] + within, new_offsets[field] + within


class LinearTerm(nn.Module):
    """First-order term: a bias plus one weight per feature value (logistic regression)."""

    def __init__(self, schema: FieldSchema) -> None:
        super().__init__()
        self.weights = FeatureEmbedding(schema, 1)
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, categorical: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        return self.weights(categorical, numeric).sum(dim=(1, 2)) + self.bias


class FactorizationMachine(nn.Module):
    """Second-order FM interaction of field embeddings ``[batch, fields, dim] -> [batch]``."""

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        square_of_sum = embeddings.sum(dim=1).pow(2)
        sum_of_square = embeddings.pow(2).sum(dim=1)
        return 0.5 * (square_of_sum - sum_of_square).sum(dim=1)


class FieldPairs(nn.Module):
    """The embeddings of every field pair ``i < j``: ``[batch, fields, dim] -> (left, right)``,
    each ``[batch, n_pairs, dim]`` (the inner-product layers of IPNN and FmFM)."""

    def __init__(self, n_fields: int) -> None:
        super().__init__()
        left, right = torch.triu_indices(n_fields, n_fields, offset=1)
        self.register_buffer("left", left, persistent=False)
        self.register_buffer("right", right, persistent=False)
        self.n_pairs = int(left.numel())

    def forward(self, embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return embeddings[:, self.left], embeddings[:, self.right]


class MLP(nn.Module):
    """Fully connected ReLU layers, optionally ending in a linear output of size ``out_dim``."""

    def __init__(
        self,
        in_dim: int,
        hidden_units: Sequence[int],
        *,
        out_dim: int | None = 1,
        dropout: float = 0.0,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_dim
        for units in hidden_units:
            layers.append(nn.Linear(width, units))
            if batch_norm:
                layers.append(nn.BatchNorm1d(units))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = units
        if out_dim is not None:
            layers.append(nn.Linear(width, out_dim))
            width = out_dim
        self.out_dim = width
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CrossNetwork(nn.Module):
    """DCN's cross network: ``x_{l+1} = x_0 * (x_l . w_l) + b_l + x_l``."""

    def __init__(self, in_dim: int, n_layers: int) -> None:
        super().__init__()
        self.weights = nn.ParameterList(
            nn.Parameter(torch.randn(in_dim) / in_dim**0.5) for _ in range(n_layers)
        )
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(in_dim)) for _ in range(n_layers))

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for w, b in zip(self.weights, self.biases, strict=True):
            x = x0 * (x @ w).unsqueeze(1) + b + x
        return x


class CrossNetworkV2(nn.Module):
    """DCN-V2's cross network: ``x_{l+1} = x_0 * (W_l x_l + b_l) + x_l``."""

    def __init__(self, in_dim: int, n_layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(in_dim, in_dim) for _ in range(n_layers))

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for layer in self.layers:
            x = x0 * layer(x) + x
        return x
