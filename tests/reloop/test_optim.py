"""LazyAdam against torch's own SparseAdam (the same update, computed independently)."""

from __future__ import annotations

import pytest
import torch

from reloop.optim import LazyAdam


def _train(optimizer_class: type, steps: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    table = torch.nn.Embedding(500, 8, sparse=True)
    weights = torch.nn.Embedding(500, 1, sparse=True)  # a second table, looked up alike
    optimizer = optimizer_class([table.weight, weights.weight], lr=1e-2)
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        index = torch.randint(0, 200, (64, 5), generator=generator)
        index[:, 0] = torch.randint(0, 3, (64,), generator=generator)  # many repeated rows
        target = torch.randn(64, generator=generator)
        prediction = table(index).sum(dim=(1, 2)) * weights(index).sum(dim=(1, 2))
        loss = ((prediction - target) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return table.weight.detach(), weights.weight.detach()


def test_lazy_adam_matches_sparse_adam():
    expected = _train(torch.optim.SparseAdam)
    got = _train(LazyAdam)
    for want, have in zip(expected, got, strict=True):
        torch.testing.assert_close(have, want, rtol=1e-5, atol=1e-6)


def test_rows_never_looked_up_do_not_move():
    torch.manual_seed(0)
    before = torch.nn.Embedding(500, 8).weight.detach().clone()
    table, _ = _train(LazyAdam)
    torch.testing.assert_close(table[200:], before[200:], rtol=0, atol=0)
    assert not torch.equal(table[:200], before[:200])


def test_dense_gradients_are_refused():
    table = torch.nn.Embedding(10, 4)  # dense gradients
    optimizer = LazyAdam(table.parameters())
    table(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse gradients"):
        optimizer.step()


@pytest.mark.parametrize("kwargs", [{"lr": 0.0}, {"betas": (1.0, 0.999)}])
def test_bad_hyperparameters(kwargs):
    with pytest.raises(ValueError):
        LazyAdam([torch.nn.Parameter(torch.zeros(2))], **kwargs)


@pytest.mark.parametrize("weight_decay", [0.0, 1e-4])
def test_foreach_adam_is_the_default_adam_to_the_bit(weight_decay: float) -> None:
    """reloop.train builds Adam with foreach=True for speed, on the claim that it computes what
    torch's CPU default (foreach=False) computes, bit for bit."""
    trained = []
    for foreach in (False, True):
        torch.manual_seed(0)
        layers = (torch.nn.Linear(12, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
        model = torch.nn.Sequential(*layers)
        optimizer = torch.optim.Adam(
            model.parameters(), lr=1e-2, weight_decay=weight_decay, foreach=foreach
        )
        generator = torch.Generator().manual_seed(1)
        for _ in range(30):
            x, y = torch.randn(64, 12, generator=generator), torch.randn(64, 1, generator=generator)
            optimizer.zero_grad(set_to_none=True)
            ((model(x) - y) ** 2).mean().backward()
            optimizer.step()
        trained.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*trained, strict=True))
