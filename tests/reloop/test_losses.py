import math

import pytest
import torch

from reloop.losses import (
    bce_loss,
    kd_loss,
    loss_from_logits,
    reloop_loss,
    self_correction_loss,
)

P = torch.tensor([0.9, 0.2, 0.6, 0.1])
Y_LAST = torch.tensor([0.7, 0.4, 0.3, 0.05])
Y = torch.tensor([1.0, 0.0, 1.0, 0.0])


def test_bce_by_hand():
    expected = -(math.log(0.9) + math.log(0.8) + math.log(0.6) + math.log(0.9)) / 4
    assert bce_loss(P, Y).item() == pytest.approx(expected, rel=1e-6)


def test_self_correction_by_hand():
    # sample 0: click, p above y_last -> 0; sample 1: no click, p below y_last -> 0;
    # sample 2: click, p=0.6 > y_last -> 0; sample 3: no click, p=0.1 > y_last=0.05 -> 0.05
    assert self_correction_loss(P, Y_LAST, Y).item() == pytest.approx(0.05 / 4, rel=1e-6)
    worse = torch.tensor([0.5, 0.6, 0.2, 0.1])
    # 0.7-0.5 (click), 0.6-0.4 (no click), 0.3-0.2 (click), 0.1-0.05 (no click)
    assert self_correction_loss(worse, Y_LAST, Y).item() == pytest.approx(0.55 / 4, rel=1e-6)


def test_reloop_mixes_terms():
    alpha = 0.3
    expected = alpha * self_correction_loss(P, Y_LAST, Y) + (1 - alpha) * bce_loss(P, Y)
    assert reloop_loss(P, Y_LAST, Y, alpha).item() == pytest.approx(expected.item(), rel=1e-6)


def test_alpha_zero_is_exactly_bce():
    p = torch.rand(1000, dtype=torch.float64)
    y = (torch.rand(1000) < 0.3).double()
    y_last = torch.rand(1000, dtype=torch.float64)
    assert torch.equal(reloop_loss(p, y_last, y, 0.0), bce_loss(p, y))
    assert torch.equal(kd_loss(p, y_last, y, 0.0), bce_loss(p, y))


def test_kd_by_hand():
    alpha = 0.4
    soft = -(Y_LAST * torch.log(P) + (1 - Y_LAST) * torch.log(1 - P)).mean()
    expected = alpha * soft + (1 - alpha) * bce_loss(P, Y)
    assert kd_loss(P, Y_LAST, Y, alpha).item() == pytest.approx(expected.item(), rel=1e-6)


def test_sc_gradient_is_zero_where_new_model_already_better():
    p = torch.tensor([0.9, 0.2, 0.5, 0.5], requires_grad=True)
    y_last = torch.tensor([0.7, 0.4, 0.6, 0.4])
    y = torch.tensor([1.0, 0.0, 1.0, 0.0])
    self_correction_loss(p, y_last, y).backward()
    # samples 0 and 1 beat y_last: no gradient; 2 (click, too low) is pushed up,
    # 3 (no click, too high) down
    assert p.grad.tolist() == pytest.approx([0.0, 0.0, -0.25, 0.25])


def test_numerically_safe_at_the_edges():
    p = torch.tensor([0.0, 1.0, 0.0, 1.0], requires_grad=True)
    y = torch.tensor([0.0, 1.0, 1.0, 0.0])
    loss = reloop_loss(p, torch.tensor([0.5, 0.5, 0.5, 0.5]), y, 0.5)
    loss.backward()
    assert torch.isfinite(loss)
    # two perfect predictions cost ~0, two confidently wrong ones -log(eps) each
    expected = -math.log(torch.finfo(torch.float32).eps) / 2
    assert bce_loss(p.detach(), y).item() == pytest.approx(expected, rel=1e-5)
    assert torch.isfinite(p.grad).all()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: reloop_loss(P, Y_LAST, Y, 1.5), "alpha"),
        (lambda: reloop_loss(P, Y_LAST, Y, -0.1), "alpha"),
        (lambda: reloop_loss(P, Y_LAST, Y, float("nan")), "alpha"),
        (lambda: kd_loss(P, Y_LAST, Y, 2.0), "alpha"),
        (lambda: reloop_loss(P, torch.tensor([0.1, 1.2, 0.3, 0.4]), Y, 0.5), "y_last"),
        (lambda: reloop_loss(P, torch.tensor([0.1, float("nan"), 0.3, 0.4]), Y, 0.5), "y_last"),
        (lambda: reloop_loss(P, Y_LAST[:3], Y, 0.5), "shape"),
        (lambda: bce_loss(P, Y[:2]), "shape"),
        (lambda: self_correction_loss(P.reshape(2, 2), Y_LAST, Y), "1-D"),
    ],
)
def test_bad_input_names_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_logit_versions_match_probability_versions():
    torch.manual_seed(0)
    logits = torch.randn(500, dtype=torch.float64)
    p = torch.sigmoid(logits)
    y = (torch.rand(500) < 0.4).double()
    y_last = torch.rand(500, dtype=torch.float64)
    for alpha in (0.0, 0.3, 1.0):
        got = loss_from_logits("reloop", logits, y, y_last, alpha)
        assert got.item() == pytest.approx(reloop_loss(p, y_last, y, alpha).item(), rel=1e-9)
        got = loss_from_logits("kd", logits, y, y_last, alpha)
        assert got.item() == pytest.approx(kd_loss(p, y_last, y, alpha).item(), rel=1e-9)
    assert loss_from_logits("bce", logits, y).item() == pytest.approx(bce_loss(p, y).item())
