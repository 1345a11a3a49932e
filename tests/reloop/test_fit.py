import numpy as np
import polars as pl
import pytest
import torch

import reloop
from reloop import ModelSpec, TrainSpec
from reloop.metrics import auc

FIELDS = [f"f{i}" for i in range(10)]
SMALL = ModelSpec(hidden_units=(32,))


def logistic_truth(n: int, seed: int) -> tuple[pl.DataFrame, np.ndarray]:
    """10 categorical fields with a known logistic truth: additive effects plus one interaction."""
    rng = np.random.default_rng(seed)
    weights = np.random.default_rng(123).normal(0, 0.6, size=(10, 20))
    pair = np.random.default_rng(321).normal(0, 0.25, size=(20, 20))
    codes = rng.integers(0, 20, size=(n, 10))
    logit = -1.5 + weights[np.arange(10), codes].sum(axis=1) + pair[codes[:, 0], codes[:, 1]]
    p = 1 / (1 + np.exp(-logit))
    frame = pl.DataFrame({name: codes[:, i] for i, name in enumerate(FIELDS)})
    return frame.with_columns(click=pl.Series((rng.random(n) < p).astype(np.int8))), p


@pytest.fixture(scope="module")
def data():
    train, _ = logistic_truth(150_000, 0)
    valid, _ = logistic_truth(20_000, 1)
    test, p_test = logistic_truth(50_000, 2)
    return train, valid, test, p_test


@pytest.mark.slow
@pytest.mark.parametrize(("model", "tolerance"), [("lr", 0.025), ("deepfm", 0.03)])
def test_reaches_the_truth_auc(data, model, tolerance):
    train, valid, test, p_test = data
    fitted = reloop.fit(train, FIELDS, model=model, train=TrainSpec(epochs=5, lr=3e-3), valid=valid)
    truth_auc = auc(test["click"], p_test)
    model_auc = auc(test["click"], reloop.predict(fitted, test))
    assert model_auc >= (1 - tolerance) * truth_auc, (model_auc, truth_auc)


@pytest.mark.slow
def test_same_seed_same_model(data):
    train = data[0][:20_000]
    a = reloop.fit(train, FIELDS, model=SMALL, seed=3)
    b = reloop.fit(train, FIELDS, model=SMALL, seed=3)
    c = reloop.fit(train, FIELDS, model=SMALL, seed=4)
    assert np.array_equal(reloop.predict(a, train), reloop.predict(b, train))
    assert not np.array_equal(reloop.predict(a, train), reloop.predict(c, train))


@pytest.mark.slow
def test_reloop_and_kd_use_y_last_and_warm_start(data, tmp_path):
    train = data[0][:20_000]
    first = reloop.fit(train, FIELDS, model=SMALL, seed=0)
    path = tmp_path / "v1.pt"
    first.save(path)
    y_last = reloop.predict(first, train)
    frame = train.with_columns(pctr=pl.Series(y_last))
    for loss in ("reloop", "kd"):
        second = reloop.fit(frame, FIELDS, loss=loss, alpha=0.5, y_last="pctr", warm_start=path)
        assert second.model_name == "deepfm" and second.model.hidden_units == (32,)
        assert not np.array_equal(reloop.predict(second, train), y_last)
    # alpha = 0 is BCE: same result as a BCE fit from the same warm start
    a = reloop.fit(frame, FIELDS, loss="reloop", alpha=0.0, y_last="pctr", warm_start=first)
    b = reloop.fit(frame, FIELDS, loss="bce", warm_start=first)
    assert np.array_equal(reloop.predict(a, train), reloop.predict(b, train))


def test_warm_start_grows_vocabulary_for_new_ids(data):
    train = data[0][:10_000]
    first = reloop.fit(train.filter(pl.col("f0") < 10), FIELDS, model="fm", seed=0)
    assert first.feature_map.schema.categorical_sizes[0] == 11
    second = reloop.fit(train, FIELDS, warm_start=first)
    assert second.feature_map.schema.categorical_sizes[0] == 21
    old_rows = train.filter(pl.col("f0") < 10)
    # the warm-started copy is a new object: the first model is untouched
    assert first.model.schema.categorical_sizes[0] == 11
    assert reloop.predict(first, old_rows).shape == (old_rows.height,)


def test_save_load_round_trip(data, tmp_path):
    train = data[0][:5_000]
    fitted = reloop.fit(train, FIELDS, model=ModelSpec("dcn", hidden_units=(16,)), seed=0)
    fitted.save(tmp_path / "m.pt")
    loaded = reloop.load(tmp_path / "m.pt")
    assert loaded.model_name == "dcn"
    assert np.array_equal(reloop.predict(loaded, train), reloop.predict(fitted, train))
    assert not list(tmp_path.glob("*.tmp"))
    # One model, one byte string, whatever the file is called (runs compare their models by bytes).
    fitted.save(tmp_path / "other" / "name.pt")
    assert (tmp_path / "other" / "name.pt").read_bytes() == (tmp_path / "m.pt").read_bytes()


@pytest.mark.slow
def test_early_stopping_keeps_the_best_epoch(data):
    train, valid = data[0][:5_000], data[1][:5_000]
    fitted = reloop.fit(train, FIELDS, train=TrainSpec(epochs=30, lr=1e-2, patience=2), valid=valid)
    history = fitted.history
    assert len(history.valid_auc) < 30  # overfits 5k rows quickly, so it stops early
    assert history.best_epoch == int(np.argmax(history.valid_auc))
    assert auc(valid["click"], reloop.predict(fitted, valid)) == pytest.approx(
        max(history.valid_auc), abs=1e-6
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label": "nope"}, "missing label column"),
        ({"loss": "reloop"}, "needs y_last"),
        ({"loss": "reloop", "y_last": "nope"}, "missing y_last column"),
        ({"loss": "reloop", "y_last": np.full(100, 1.5)}, r"y_last must lie in \[0, 1\]"),
        ({"loss": "kd", "y_last": np.zeros(7)}, "7 values for 100 rows"),
        ({"loss": "focal"}, "unknown loss"),
        ({"alpha": 1.2, "loss": "reloop", "y_last": np.zeros(100)}, "alpha"),
        ({"model": "nope"}, "unknown model"),
        ({"train": TrainSpec(epochs=0)}, "train.epochs"),
        ({"train": TrainSpec(optimizer="sgd")}, "train.optimizer"),
    ],
)
def test_bad_arguments_are_named(data, kwargs, message):
    train = data[0][:100]
    with pytest.raises(ValueError, match=message):
        reloop.fit(train, FIELDS, **kwargs)


def test_non_binary_labels_rejected(data):
    train = data[0][:100].with_columns(click=pl.lit(2))
    with pytest.raises(ValueError, match="only 0 and 1"):
        reloop.fit(train, FIELDS)


@pytest.mark.slow
def test_lazy_adam_learns_and_moves_only_touched_rows(data):
    train, valid, test, p_test = data
    fitted = reloop.fit(
        train, FIELDS, train=TrainSpec(epochs=5, lr=3e-3, optimizer="lazy_adam"), valid=valid
    )
    truth_auc = auc(test["click"], p_test)
    assert auc(test["click"], reloop.predict(fitted, test)) >= 0.97 * truth_auc
    # one batch of rows with f0 < 10: embedding rows of f0 values 10..19 must not move
    small = train.filter(pl.col("f0") < 10)[:4096]
    start = reloop.fit(train, FIELDS, model=ModelSpec(hidden_units=(8,)), seed=1)
    after = reloop.fit(small, FIELDS, warm_start=start, train=TrainSpec(optimizer="lazy_adam"))
    before_rows = start.model.embedding.table.weight[
        11:21
    ]  # field f0: codes 11..20 = values 10..19
    after_rows = after.model.embedding.table.weight[11:21]
    assert torch.equal(before_rows, after_rows)
    assert not torch.equal(
        start.model.embedding.table.weight[1:11], after.model.embedding.table.weight[1:11]
    )


def test_auto_optimizer_switches_on_table_size():
    from reloop.features import FieldSchema
    from reloop.models import build_model
    from reloop.train import TrainConfig, _uses_lazy_adam

    small, large = (build_model("fm", FieldSchema((rows,))) for rows in (1_000, 150_000))
    assert not _uses_lazy_adam(small, TrainConfig())
    assert _uses_lazy_adam(large, TrainConfig())
    assert not _uses_lazy_adam(large, TrainConfig(spec=TrainSpec(optimizer="adam")))
    with pytest.raises(ValueError, match="weight_decay"):
        TrainConfig(spec=TrainSpec(optimizer="lazy_adam", weight_decay=0.1)).validate()


@pytest.mark.parametrize("model", ["deepfm", "dcn"])
def test_predict_slates_equals_predict_on_the_joined_rows(model):
    """Request-level columns (ids, a float, strings) once per request, slot columns per slot."""
    rng = np.random.default_rng(0)
    n = 3000
    frame = pl.DataFrame(
        {
            "user": rng.integers(0, 50, n),
            "age": rng.normal(30, 5, n),
            "country": rng.choice(["de", "fr", "it"], n),
            "item": rng.integers(0, 40, n),
            "slot": rng.integers(0, 5, n),
        }
    ).with_columns(click=pl.Series((rng.random(n) < 0.2).astype(np.int8)))
    features = ["user", "item", "age", "country", "slot"]
    fitted = reloop.fit(
        frame, features, model=ModelSpec(model, embedding_dim=4, hidden_units=(16,))
    )
    r, s = 7, 5
    requests = pl.DataFrame(
        {
            "user": rng.integers(0, 60, r),  # some users never seen in training (OOV)
            "age": rng.normal(30, 5, r),
            "country": rng.choice(["de", "fr", "xx"], r),
        }
    )
    slots = pl.DataFrame({"item": rng.integers(0, 45, r * s), "slot": np.tile(np.arange(s), r)})
    joined = pl.concat([requests.select(pl.all().repeat_by(s).explode()), slots], how="horizontal")
    expected = reloop.predict(fitted, joined).reshape(r, s)
    got = fitted.predict_slates(requests, slots, s, batch_size=10)  # several batches
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_predict_slates_refuses_bad_input():
    rng = np.random.default_rng(0)
    frame = pl.DataFrame({"user": rng.integers(0, 5, 100), "score": rng.random(100)})
    frame = frame.with_columns(click=pl.Series((rng.random(100) < 0.5).astype(np.int8)))
    fitted = reloop.fit(frame, ["user", "score"], model="lr")
    requests = pl.DataFrame({"user": [1, 2]})
    with pytest.raises(ValueError, match="per-slot features must be categorical"):
        fitted.predict_slates(requests, pl.DataFrame({"score": [0.1] * 6}), 3)
    with pytest.raises(ValueError, match="5 rows for 2 requests of 3 slots"):
        fitted.predict_slates(requests, pl.DataFrame({"user": [1] * 5}), 3)
    with pytest.raises(ValueError, match="missing feature columns"):
        fitted.predict_slates(requests, pl.DataFrame({"user": [1] * 6}), 3)


def test_predict_slates_with_every_feature_per_slot():
    rng = np.random.default_rng(0)
    frame = pl.DataFrame({"item": rng.integers(0, 9, 500), "pos": rng.integers(0, 3, 500)})
    frame = frame.with_columns(click=pl.Series((rng.random(500) < 0.3).astype(np.int8)))
    fitted = reloop.fit(frame, ["item", "pos"], model=ModelSpec(embedding_dim=4, hidden_units=(8,)))
    slots = pl.DataFrame({"item": rng.integers(0, 9, 12), "pos": np.tile([0, 1, 2], 4)})
    requests = pl.DataFrame({"request": np.arange(4)})  # no request-level feature
    got = fitted.predict_slates(requests, slots, 3)
    np.testing.assert_allclose(got.reshape(-1), reloop.predict(fitted, slots), rtol=1e-5)
