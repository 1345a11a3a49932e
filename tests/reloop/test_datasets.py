import csv

import numpy as np
import polars as pl
import pytest

from reloop.datasets import (
    MOVIELENS_CATEGORICAL,
    load_dataset,
    load_movielens100k,
    load_table,
    movielens100k_dir,
    movielens100k_frame,
)


@pytest.fixture(scope="module")
def movielens():
    return movielens100k_frame()


def test_movielens_joins_ratings_with_users_and_items(movielens):
    assert movielens.height == 100_000
    assert "rating" not in movielens.columns  # the label's source is not a feature
    assert movielens.null_count().sum_horizontal().item() == 0  # every rating joined
    with open(movielens100k_dir() / "ml-100k.inter", newline="") as handle:
        ratings = np.array([float(r[2]) for r in list(csv.reader(handle, delimiter="\t"))[1:]])
    assert movielens["click"].to_numpy().mean() == pytest.approx((ratings >= 4).mean())
    # the file's first rating: user 196 gave Kolya (1996, item 242) a 3
    first = movielens.row(0, named=True)
    assert first["user_id"] == "196" and first["item_id"] == "242" and first["click"] == 0
    assert (first["age"], first["gender"], first["occupation"]) == ("49", "M", "writer")
    assert (first["release_year"], first["genres"], first["timestamp"]) == (
        "1996",
        "Comedy",
        881250949,
    )


def test_movielens_dataset_keeps_time_and_slices(movielens):
    data = load_movielens100k(max_rows=500)
    assert len(data) == 500 and data.time == "timestamp"
    assert data.features == MOVIELENS_CATEGORICAL
    assert data.frame["click"].dtype == pl.Int8
    assert data.frame["user_id"].to_list() == movielens["user_id"].head(500).to_list()


def test_movielens_from_another_folder(tmp_path):
    (tmp_path / "ml-100k.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t7\t5\t10\n2\t7\t2\t11\n"
    )
    (tmp_path / "ml-100k.user").write_text(
        "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
        "1\t20\tF\tartist\t1\n2\t30\tM\tother\t2\n"
    )
    (tmp_path / "ml-100k.item").write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        '7\tA "Film"\t1990\tDrama War\n'
    )
    data = load_dataset({"name": "movielens100k", "path": str(tmp_path)})
    assert data.frame["click"].to_list() == [1, 0]
    assert data.frame["genres"].to_list() == ["Drama War", "Drama War"]
    (tmp_path / "ml-100k.user").unlink()
    with pytest.raises(ValueError, match=r"no such file: .*ml-100k\.user"):
        load_movielens100k(path=tmp_path)


def _write(tmp_path, frame, name="logs.csv"):
    path = tmp_path / name
    frame.write_parquet(path) if name.endswith(".parquet") else frame.write_csv(path)
    return path


@pytest.mark.parametrize("name", ["logs.csv", "logs.parquet"])
def test_table_types_label_categorical_and_numeric(tmp_path, name):
    frame = pl.DataFrame(
        {"y": [True, False, True], "u": [1, 2, 3], "price": [1, 2, 4], "score": [0.5, 1.5, 0.5]}
    )
    path = _write(tmp_path, frame, name)
    data = load_table(path, label="y", categorical=["u", "score"], numeric=["price"])
    assert data.frame["y"].to_list() == [1, 0, 1] and data.frame["y"].dtype == pl.Int8
    assert data.frame["price"].dtype == pl.Float64  # dense field
    assert data.frame["score"].dtype == pl.String  # a float named categorical is embedded
    assert data.frame["u"].dtype.is_integer() and data.features == ("u", "score", "price")
    assert data.name == "logs" and data.time is None


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ([0, 1, 2], r"only 0 and 1, found e\.g\. \[2\]"),
        ([0.0, float("nan"), 1.0], "1 null/NaN values"),
        ([0, None, 1], "1 null/NaN values"),
        (["yes", "no", "yes"], "must hold 0 and 1"),
    ],
)
def test_bad_labels_are_named(tmp_path, column, message):
    path = _write(tmp_path, pl.DataFrame({"y": column, "u": [1, 2, 3]}), "logs.parquet")
    with pytest.raises(ValueError, match=message):
        load_table(path, label="y", categorical=["u"])


def test_input_errors_are_clear(tmp_path):
    path = _write(tmp_path, pl.DataFrame({"y": [0, 1], "u": ["a", "b"], "x": ["1", "z"]}))
    with pytest.raises(ValueError, match="no such file"):
        load_table(tmp_path / "nope.csv", label="y", categorical=["u"])
    other = tmp_path / "logs.json"
    other.write_text("{}")
    with pytest.raises(ValueError, match=r"expected a \.csv"):
        load_table(other, label="y", categorical=["u"])
    with pytest.raises(ValueError, match=r"missing columns \['v', 'w'\]"):
        load_table(path, label="y", categorical=["u", "v"], numeric=["w"])
    with pytest.raises(ValueError, match="numeric column 'x' holds non-numbers"):
        load_table(path, label="y", numeric=["x"])
    with pytest.raises(ValueError, match="no features"):
        load_table(path, label="y")
    with pytest.raises(ValueError, match=r"more than once.*\['y'\]"):
        load_table(path, label="y", categorical=["u", "y"])
    with pytest.raises(ValueError, match="max_rows"):
        load_table(path, label="y", categorical=["u"], max_rows=0)


def test_load_dataset_checks_its_node(tmp_path):
    with pytest.raises(ValueError, match="unknown data set 'nope'"):
        load_dataset({"name": "nope"})
    with pytest.raises(ValueError, match=r"dataset\.path"):
        load_dataset({"name": "table", "path": None, "label": "y"})
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['colour'\]"):
        load_dataset({"name": "movielens100k", "colour": "red"})
