import csv
import io
import re

import numpy as np
import polars as pl
import pytest

from reloop import datasets
from reloop.datasets import (
    MOVIELENS_CATEGORICAL,
    TableFileError,
    collect_table,
    load_dataset,
    load_movielens100k,
    load_table,
    movielens100k_dir,
    movielens100k_frame,
    read_table_file,
    scan_table_file,
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


# ---------------------------------------------------------------- the one reader of table files

GOOD = "unit,arm,clicks\n1,A,0\n2,B,1\n"
BROKEN_FILES = {
    "empty.csv": ("", "is empty"),
    "header.csv": ("unit,arm,clicks\n", "has no rows"),
    "long.csv": ("unit,arm,clicks\n1,A,0\n2,B,1,9\n", "line 3 has 4 field(s), the header 3"),
    "short.csv": ("unit,arm,clicks\n1,A,0\n2,B\n", "line 3 has 2 field(s), the header 3"),
    "blank.csv": ("unit,arm,clicks\n1,A,0\n\n2,B,1\n", "line 3 is blank"),
    "trailing_blank.csv": (GOOD + "\n", "line 4 is blank"),
    # polars would read the second as clicks_duplicated_0, and the first, wrong, as clicks
    "twice.csv": ("unit,clicks,arm,clicks\n1,5,A,0\n", "column 'clicks' appears twice"),
    "twice.tsv": ("unit\tclicks\tclicks\n1\t5\t0\n", "column 'clicks' appears twice"),
    "latin.csv": (b"unit,arm\n1,d\xe9j\xe0\n", "cannot read"),
    "garbage.parquet": ("PAR1 not a parquet file at all PAR1", "cannot read"),
    "notes.txt": (GOOD, "expected a .csv, .tsv, .parquet or .pq file"),
}


@pytest.fixture
def broken_files(tmp_path):
    paths = {}
    for name, (content, _) in BROKEN_FILES.items():
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        paths[name] = path
    frame = pl.DataFrame({"unit": [1, 2], "arm": ["A", "B"], "clicks": [0, 1]})
    frame.write_parquet(tmp_path / "whole.parquet")
    whole = (tmp_path / "whole.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "parquet.csv").write_bytes(whole)
    for name in ("cut.parquet", "parquet.csv"):
        paths[name] = tmp_path / name
    return paths


EXPECTED_READ = {name: message for name, (_, message) in BROKEN_FILES.items()} | {
    "cut.parquet": "cannot read",
    "parquet.csv": "cannot read",
}


@pytest.mark.parametrize("name", list(EXPECTED_READ))
def test_the_reader_refuses_what_is_not_a_table_in_one_line(broken_files, name):
    """Eager and lazy readers, one set of rules and one wording: ``cannot read <path>: ...`` for
    every polars or OS error, a named cause for the rest."""
    path = broken_files[name]
    for read in (read_table_file, lambda p: collect_table(scan_table_file(p), p)):
        with pytest.raises(TableFileError, match=re.escape(EXPECTED_READ[name])) as error:
            read(path)
        assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_the_reader_reads_every_suffix_alike(tmp_path):
    frame = pl.DataFrame({"unit": [1, 2], "arm": ["A", "B"], "ctr": [0.5, 1.5]})
    frame.write_parquet(tmp_path / "log.pq")
    frame.write_parquet(tmp_path / "log.parquet")
    frame.write_csv(tmp_path / "log.csv")
    frame.write_csv(tmp_path / "log.TSV", separator="\t")
    # quoted separators and line ends are inside a field, not between fields
    (tmp_path / "quoted.csv").write_text('unit,arm,ctr\n1,"A,\nx",0.5\n2,B,1.5\n')
    for name in ("log.pq", "log.parquet", "log.csv", "log.TSV"):
        assert read_table_file(tmp_path / name).equals(frame)
        assert collect_table(scan_table_file(tmp_path / name), tmp_path / name).equals(frame)
    assert read_table_file(tmp_path / "quoted.csv")["arm"].to_list() == ["A,\nx", "B"]
    with pytest.raises(TableFileError, match="not a file"):
        read_table_file(tmp_path)


@pytest.mark.parametrize("chunk", [1, 2, 5, 64, 1 << 22])
def test_field_counts_agree_with_the_csv_module_across_chunks(tmp_path, monkeypatch, chunk):
    """The vectorised count of fields per line, chunk boundaries anywhere (inside quotes too),
    finds the first line Python's csv module sees with another number of fields."""
    monkeypatch.setattr(datasets, "_CHUNK_BYTES", chunk)
    rng = np.random.default_rng(chunk)
    values = np.array(["1", "ab", '"x,y"', '"q""z"', '"two\nlines"', ""])
    for trial in range(40):
        width = int(rng.integers(2, 5))
        rows = []
        for _ in range(int(rng.integers(1, 7))):
            n = width if rng.random() < 0.8 else int(rng.choice([1, width - 1, width + 1]))
            rows.append(",".join(rng.choice(values, n)))
        text = ",".join(f"c{j}" for j in range(width)) + "\n" + "\n".join(rows)
        text += "\n" if trial % 2 else ""
        path = tmp_path / "t.csv"
        path.write_text(text)
        lengths = [len(r) for r in csv.reader(io.StringIO(text))]
        bad = [i + 1 for i, n in enumerate(lengths) if n != width]
        if bad:
            with pytest.raises(TableFileError, match=rf"line {bad[0]} (is blank|has)"):
                datasets._check_field_counts(path, ",", width)
        else:
            datasets._check_field_counts(path, ",", width)
