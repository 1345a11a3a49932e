import pytest
import torch

from reloop.features import FieldSchema, SlateTensors
from reloop.models import MODELS, build_model

SCHEMA = FieldSchema((5, 7, 3), n_numeric=2)


def _batch(n=32, sizes=SCHEMA.categorical_sizes):
    g = torch.Generator().manual_seed(0)
    cat = torch.stack([torch.randint(0, s, (n,), generator=g) for s in sizes], dim=1)
    return cat, torch.randn(n, SCHEMA.n_numeric, generator=g)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_gives_one_logit_per_row_and_learns(name):
    torch.manual_seed(0)
    model = build_model(name, SCHEMA, embedding_dim=4, hidden_units=(16, 16))
    cat, num = _batch()
    y = (cat[:, 0] % 2).float()
    assert model(cat, num).shape == (32,)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    first = None
    for _ in range(30):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(cat, num), y)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.7 * first


@pytest.mark.parametrize("name", sorted(MODELS))
def test_growing_the_vocabulary_keeps_old_predictions(name):
    torch.manual_seed(0)
    model = build_model(name, SCHEMA, embedding_dim=4, hidden_units=(8,)).eval()
    cat, num = _batch()
    before = model(cat, num)
    model.grow_vocabulary(FieldSchema((9, 7, 4), n_numeric=2))
    assert torch.allclose(model(cat, num), before)
    new_values = torch.tensor([[8, 6, 3]])
    assert model(new_values, torch.zeros(1, 2)).shape == (1,)


def test_shrinking_is_refused():
    model = build_model("fm", SCHEMA)
    with pytest.raises(ValueError, match="only grow"):
        model.grow_vocabulary(FieldSchema((4, 7, 3), n_numeric=2))


def test_unknown_model_is_named():
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        build_model("nope", SCHEMA)


def _slates(r=6, s=4, slot_fields=(0, 2)):
    """R requests of S slots, and the same slots as R * S expanded rows."""
    g = torch.Generator().manual_seed(1)
    cat, num = _batch(r)
    fields = torch.tensor(slot_fields, dtype=torch.long)
    sizes = torch.tensor(SCHEMA.categorical_sizes)[fields]
    slot = (torch.rand(r, s, len(slot_fields), generator=g) * sizes).long()
    rows = cat.unsqueeze(1).repeat(1, s, 1)
    rows[:, :, fields] = slot
    request_cat = cat.clone()
    request_cat[:, fields] = 0  # what FeatureMap.transform_slates gives: slot fields are not read
    slates = SlateTensors(request_cat, num, slot, fields)
    return slates, (rows.reshape(r * s, -1), num.repeat_interleave(s, 0))


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("slot_fields", [(0, 2), (1,), (0, 1, 2)])
def test_slate_scoring_equals_scoring_every_row(name, slot_fields):
    """forward_slates (request-level work once per request where a model has it) is forward on the
    expanded rows, for models with their own implementation and for the default."""
    torch.manual_seed(0)
    model = build_model(name, SCHEMA, embedding_dim=4, hidden_units=(16, 8)).eval()
    slate_inputs, row_inputs = _slates(slot_fields=slot_fields)
    with torch.no_grad():
        expected = model(*row_inputs).reshape(6, 4)
        got = model.forward_slates(slate_inputs)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
