import numpy as np
import polars as pl
import pytest

from reloop.features import FeatureMap

FRAME = pl.DataFrame(
    {
        "user": [10, 20, 30, 10, None],
        "city": ["b", "a", "c", "a", "b"],
        "age": [20.0, 30.0, float("nan"), 40.0, 50.0],
    }
)


def test_categorical_codes_start_at_one_and_oov_is_zero():
    fmap = FeatureMap.fit(FRAME, ["user", "city"])
    codes = fmap.transform(FRAME).categorical.numpy()
    assert codes[:, 0].tolist() == [1, 2, 3, 1, 0]  # null -> OOV
    assert codes[:, 1].tolist() == [2, 1, 3, 1, 2]
    unseen = pl.DataFrame({"user": [99, 20], "city": ["z", "c"]})
    assert fmap.transform(unseen).categorical.numpy().tolist() == [[0, 0], [2, 3]]
    assert fmap.schema.categorical_sizes == (4, 4)


def test_float_columns_are_numeric_and_normalised():
    fmap = FeatureMap.fit(FRAME, ["city", "age"])
    tensors = fmap.transform(FRAME)
    assert fmap.schema.n_numeric == 1
    values = np.array([20.0, 30.0, 40.0, 50.0])
    expected = (values - values.mean()) / values.std()
    got = tensors.numeric[:, 0].numpy()
    assert got[[0, 1, 3, 4]] == pytest.approx(expected, rel=1e-6)
    assert got[2] == 0.0  # NaN -> the mean


def test_bucketize_numeric():
    frame = pl.DataFrame({"x": np.arange(100, dtype=np.float64)})
    fmap = FeatureMap.fit(frame, ["x"], numeric_mode="bucketize", n_buckets=4)
    codes = fmap.transform(frame).categorical[:, 0].numpy()
    assert fmap.schema.n_numeric == 0
    assert sorted(set(codes.tolist())) == [1, 2, 3, 4]
    assert np.all(np.diff(codes) >= 0)
    assert np.bincount(codes)[1:].tolist() == [25, 25, 25, 25]


def test_extend_keeps_indices_and_appends_new_values():
    fmap = FeatureMap.fit(FRAME, ["user", "city"])
    new = pl.DataFrame({"user": [40, 10, 5], "city": ["d", "a", "b"]})
    grown = fmap.extend(new)
    assert grown.schema.categorical_sizes == (6, 5)
    before = fmap.transform(FRAME).categorical
    after = grown.transform(FRAME).categorical
    assert (before == after).all()
    assert grown.transform(new).categorical.numpy().tolist() == [[5, 4], [1, 1], [4, 2]]


def test_round_trip_through_dict():
    fmap = FeatureMap.fit(FRAME, ["user", "city", "age"])
    again = FeatureMap.from_dict(fmap.to_dict())
    assert again == fmap
    assert (again.transform(FRAME).categorical == fmap.transform(FRAME).categorical).all()


def test_missing_column_is_an_error():
    with pytest.raises(ValueError, match="missing feature columns"):
        FeatureMap.fit(FRAME, ["user", "nope"])


def test_integer_lookup_table_agrees_with_the_hash_join():
    rng = np.random.default_rng(0)
    train = pl.DataFrame({"id": rng.integers(0, 5000, 20_000)})
    fmap = FeatureMap.fit(train, ["id"])
    field = fmap.categorical[0]
    assert field._lookup_table is not None
    probe = pl.Series("id", np.r_[rng.integers(-10, 6000, 5000), 10**12])
    via_table = field.encode(probe)
    via_join = field.encode(probe.cast(pl.Float64))  # a float column takes the hash-join path
    assert np.array_equal(via_table, via_join)
    assert via_table[-1] == 0 and (via_table[probe.to_numpy() < 0] == 0).all()
