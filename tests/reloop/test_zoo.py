"""The Table 1 backbones compute what their papers define (beyond "it learns", in test_models)."""

import torch

from reloop.features import FieldSchema
from reloop.models import build_model
from reloop.models.layers import FactorizationMachine, FieldPairs
from reloop.models.nfm import BiInteraction
from reloop.models.xdeepfm import CompressedInteraction

SCHEMA = FieldSchema((5, 7, 3), n_numeric=1)


def _inputs(n=16):
    g = torch.Generator().manual_seed(1)
    cat = torch.stack([torch.randint(0, s, (n,), generator=g) for s in (5, 7, 3)], dim=1)
    return cat, torch.randn(n, 1, generator=g)


def test_field_pairs_are_every_pair_once_in_order():
    x = torch.arange(4.0).reshape(1, 4, 1)
    left, right = FieldPairs(4)(x)
    pairs = list(zip(left.flatten().tolist(), right.flatten().tolist(), strict=True))
    assert pairs == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]


def test_bi_interaction_sums_to_the_fm_term():
    e = torch.randn(8, 5, 3)
    explicit = sum(e[:, i] * e[:, j] for i in range(5) for j in range(i + 1, 5))
    assert torch.allclose(BiInteraction()(e), explicit, atol=1e-5)
    assert torch.allclose(BiInteraction()(e).sum(dim=1), FactorizationMachine()(e), atol=1e-5)


def test_cin_layer_matches_its_definition():
    torch.manual_seed(0)
    cin = CompressedInteraction(n_fields=3, layer_units=(4, 2))
    x0 = torch.randn(5, 3, 6)
    x, pooled = x0, []
    for conv in cin.layers:
        w = conv.weight.reshape(conv.out_channels, x.shape[1], 3)  # [H_next, H, m]
        x = torch.einsum("nhm,bhd,bmd->bnd", w, x, x0) + conv.bias[None, :, None]
        pooled.append(x.sum(dim=-1))
    assert torch.allclose(cin(x0), torch.cat(pooled, dim=1), atol=1e-5)


def test_untrained_fmfm_is_an_fm_and_its_matrices_matter():
    torch.manual_seed(0)
    fmfm = build_model("fmfm", SCHEMA, embedding_dim=4)
    fm = build_model("fm", SCHEMA, embedding_dim=4)
    fm.load_state_dict({k: v for k, v in fmfm.state_dict().items() if k != "field_matrices"})
    cat, num = _inputs()
    assert torch.allclose(fmfm(cat, num), fm(cat, num), atol=1e-6)
    with torch.no_grad():
        fmfm.field_matrices[0] *= 3.0
    assert not torch.allclose(fmfm(cat, num), fm(cat, num), atol=1e-6)


def test_ipnn_product_layer_is_embeddings_and_pairwise_inner_products():
    torch.manual_seed(0)
    model = build_model("ipnn", SCHEMA, embedding_dim=4, hidden_units=(8,)).eval()
    seen = []
    model.mlp.register_forward_hook(lambda _module, args, _out: seen.append(args[0]))
    cat, num = _inputs()
    model(cat, num)
    e = model.embedding(cat, num)
    products = [(e[:, i] * e[:, j]).sum(dim=1) for i in range(4) for j in range(i + 1, 4)]
    expected = torch.cat([e.flatten(start_dim=1), torch.stack(products, dim=1)], dim=1)
    assert torch.allclose(seen[0], expected, atol=1e-7)


def test_afn_plus_cross_features_are_products_of_powers():
    torch.manual_seed(0)
    model = build_model("afn_plus", SCHEMA, embedding_dim=4, hidden_units=(8,), log_neurons=3)
    model.eval()  # batch norm with its initial running statistics: the identity
    cat, num = _inputs(4)
    e = model.afn_embedding(cat, num).abs().clamp(min=1e-7)  # [b, fields, dim]
    w = model.log_weights.weight  # [neurons, fields]
    expected = torch.exp(torch.einsum("lf,bfd->bld", w, e.log()))
    got = model.log_weights(model.log_norm(e.log()).transpose(1, 2)).exp().transpose(1, 2)
    assert torch.allclose(got, expected, rtol=1e-3)
