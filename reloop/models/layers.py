"""Shared building blocks of the CTR backbones (FuxiCTR style: a model composes these)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from reloop.features import FieldSchema, SlateTensors
from reloop.models.embedding import Embedding

__all__ = [
    "MLP",
    "CrossNetwork",
    "CrossNetworkV2",
    "FactorizationMachine",
    "FeatureEmbedding",
    "FieldPairs",
    "LinearTerm",
    "SlateEmbeddings",
]


@dataclass(frozen=True)
class SlateEmbeddings:
    """Field embeddings of ``R`` requests of ``S`` slots, each field embedded once: the fields
    shared by a request's slots and the fields that vary per slot, with their field positions
    (in ``FeatureEmbedding.forward``'s field order)."""

    request: torch.Tensor  # [R, a, dim]
    slot: torch.Tensor  # [R, S, k, dim]
    request_fields: torch.Tensor  # int64 [a]
    slot_fields: torch.Tensor  # int64 [k]

    def columns(self, fields: torch.Tensor) -> torch.Tensor:
        """Positions of ``fields``' values in the flattened ``[batch, n_fields * dim]`` input."""
        dim = self.request.shape[-1]
        return (fields[:, None] * dim + torch.arange(dim)).reshape(-1)


class FeatureEmbedding(nn.Module):
    """One ``dim``-vector per field: ``[batch, n_fields, dim]``.

    All categorical fields share one table (one lookup per batch, not one per field); ``offsets``
    place each field's rows. A dense numeric field ``f`` is embedded as ``x_f * w_f``.
    """

    def __init__(self, schema: FieldSchema, dim: int) -> None:
        super().__init__()
        self.schema = schema
        self.dim = dim
        self.table = Embedding(max(sum(schema.categorical_sizes), 1), dim)
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

    def forward_slates(self, slates: SlateTensors) -> SlateEmbeddings:
        """The fields of ``R`` requests of ``S`` slots, each embedded once: the request-level
        fields (every field but ``slot_fields``) ``[R, a, dim]``, the slot fields
        ``[R, S, k, dim]``."""
        categorical, numeric = slates.categorical, slates.numeric
        slot_categorical, slot_fields = slates.slot_categorical, slates.slot_fields
        n_categorical = len(self.schema.categorical_sizes)
        is_slot = torch.zeros(n_categorical, dtype=torch.bool)
        is_slot[slot_fields] = True
        request_fields = torch.nonzero(~is_slot).squeeze(1)
        parts = [self.table(categorical[:, request_fields] + self.offsets[request_fields])]
        if self.schema.n_numeric:
            parts.append(numeric.unsqueeze(-1) * self.dense)
        numeric_fields = torch.arange(n_categorical, self.schema.n_fields)
        return SlateEmbeddings(
            request=torch.cat(parts, dim=1) if len(parts) > 1 else parts[0],
            slot=self.table(slot_categorical + self.offsets[slot_fields]),
            request_fields=torch.cat([request_fields, numeric_fields]),
            slot_fields=slot_fields,
        )

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
        self.table = Embedding.from_pretrained(weight, freeze=False)
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

    def forward_slates(self, slates: SlateTensors) -> torch.Tensor:
        """``forward`` of every slot of ``R`` requests, ``[R, S]``."""
        parts = self.weights.forward_slates(slates)
        request = parts.request.sum(dim=(1, 2)) + self.bias
        return request.unsqueeze(1) + parts.slot.sum(dim=(2, 3))


class FactorizationMachine(nn.Module):
    """Second-order FM interaction of field embeddings ``[batch, fields, dim] -> [batch]``."""

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        square_of_sum = embeddings.sum(dim=1).pow(2)
        sum_of_square = embeddings.pow(2).sum(dim=1)
        return 0.5 * (square_of_sum - sum_of_square).sum(dim=1)

    def forward_slates(self, parts: SlateEmbeddings) -> torch.Tensor:
        """``forward`` of every slot, ``[R, S]``, from the request and slot fields' embeddings."""
        total = parts.request.sum(dim=1).unsqueeze(1) + parts.slot.sum(dim=2)  # [R, S, dim]
        squares = parts.request.pow(2).sum(dim=(1, 2)).unsqueeze(1) + parts.slot.pow(2).sum(
            dim=(2, 3)
        )
        return 0.5 * (total.pow(2).sum(dim=-1) - squares)


class FieldPairs(nn.Module):
    """The embeddings of every field pair ``i < j``: ``[batch, fields, dim] -> (left, right)``,
    each ``[batch, n_pairs, dim]`` (the inner-product layers of IPNN and FmFM)."""

    def __init__(self, n_fields: int) -> None:
        super().__init__()
        left, right = torch.triu_indices(n_fields, n_fields, offset=1)
        self.left: torch.Tensor
        self.right: torch.Tensor
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

    def forward_slates(self, parts: SlateEmbeddings) -> torch.Tensor:
        """``forward`` of the flattened field embeddings of every slot, ``[R, S, out_dim]``.

        The first layer is linear, so the request fields' share of it is computed once per
        request and added to every slot's share (a cached user tower, as in serving systems)."""
        first = self.net[0]
        assert isinstance(first, nn.Linear)
        request_weight = first.weight[:, parts.columns(parts.request_fields)]
        slot_weight = first.weight[:, parts.columns(parts.slot_fields)]
        linear = nn.functional.linear
        request = linear(parts.request.flatten(start_dim=1), request_weight, first.bias)
        hidden = linear(parts.slot.flatten(start_dim=2), slot_weight)  # [R, S, width]
        hidden += request.unsqueeze(1)
        r, s = hidden.shape[:2]
        return self.net[1:](hidden.reshape(r * s, -1)).reshape(r, s, -1)


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
