"""reloop.models.embedding: the faster CPU gradient is aten's, to the bit."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reloop.models.embedding import Embedding


def _gradients(table: nn.Embedding, indices: torch.Tensor, upstream: torch.Tensor) -> torch.Tensor:
    table.zero_grad()
    (table(indices) * upstream).sum().backward()
    assert table.weight.grad is not None
    return table.weight.grad.clone()


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_gradient_is_atens_to_the_bit(threads: int) -> None:
    generator = torch.Generator().manual_seed(0)
    rows, dim = 3000, 16
    indices = torch.randint(0, rows, (4096, 14), generator=generator)
    indices[:, 3] = torch.randint(0, 7, (4096,), generator=generator)  # hundreds of repeats a row
    upstream = torch.randn(4096, 14, dim, generator=generator)
    ours = Embedding(rows, dim)
    aten = nn.Embedding(rows, dim)
    aten.load_state_dict(ours.state_dict())
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        mine, theirs = _gradients(ours, indices, upstream), _gradients(aten, indices, upstream)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(ours(indices), aten(indices))
    assert torch.equal(mine, theirs)
    assert mine[indices[:, 3]].abs().sum() > 0


def test_plain_lookup_where_the_fast_gradient_does_not_apply() -> None:
    table = Embedding(10, 4, padding_idx=0)
    indices = torch.tensor([[0, 1, 1]])
    table(indices).sum().backward()
    assert table.weight.grad is not None
    assert torch.equal(table.weight.grad[0], torch.zeros(4))  # padding rows get no gradient
    assert torch.equal(table.weight.grad[1], torch.full((4,), 2.0))
    sparse = Embedding(10, 4, sparse=True)
    sparse(indices).sum().backward()
    assert sparse.weight.grad is not None and sparse.weight.grad.is_sparse


def test_from_pretrained_keeps_the_class_and_values() -> None:
    weight = torch.randn(5, 3)
    table = Embedding.from_pretrained(weight, freeze=False)
    assert isinstance(table, Embedding) and table.weight.requires_grad
    assert torch.equal(table.weight, weight)
