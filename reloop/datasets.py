"""Logged CTR data sets for the offline protocols: MovieLens-100k and any CSV or parquet table.

Every loader returns a ``Dataset``: one polars frame holding the label (0/1, ``Int8``), the feature
columns and optionally a time column, plus the names of each. Categorical columns keep their
values (a float column named categorical becomes text, so that the feature map embeds it); numeric
columns become ``Float64`` (the feature map feeds them as dense fields). Problems with the input
raise ``ValueError`` naming the file or column.

MovieLens-100k comes from the copy shipped inside the PyPI wheel ``recbole``
(``recbole/dataset_example/ml-100k/``), found without importing recbole (it is installed without
its dependencies). Ratings are joined with user and item attributes; ``click = rating >= 4``; the
rating itself is dropped (it is the label's source) and the Unix ``timestamp`` is kept.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

__all__ = [
    "MOVIELENS_CATEGORICAL",
    "Dataset",
    "load_dataset",
    "load_movielens100k",
    "load_table",
    "movielens100k_dir",
    "movielens100k_frame",
    "read_table_file",
]

MOVIELENS_CATEGORICAL = (
    "user_id",
    "item_id",
    "age",
    "gender",
    "occupation",
    "zip_code",
    "release_year",
    "genres",
)
CLICK_MIN_RATING = 4


@dataclass(frozen=True)
class Dataset:
    """A logged data set: ``frame`` holds the label, the features and the optional time column."""

    name: str
    frame: pl.DataFrame
    label: str
    categorical: tuple[str, ...]
    numeric: tuple[str, ...] = ()
    time: str | None = None

    @property
    def features(self) -> tuple[str, ...]:
        return self.categorical + self.numeric

    def __len__(self) -> int:
        return self.frame.height


def movielens100k_dir() -> Path:
    """The ``ml-100k`` folder inside the installed ``recbole`` wheel."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(
            "MovieLens-100k needs the recbole wheel: pip install --no-deps recbole "
            "(or set dataset.path to a folder holding ml-100k.inter, .user and .item)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "dataset_example" / "ml-100k"


def movielens100k_frame(directory: str | Path | None = None) -> pl.DataFrame:
    """Ratings joined with user and item attributes, ``click`` from the rating, time kept."""
    folder = movielens100k_dir() if directory is None else Path(directory)
    inter = _read_atomic_file(folder / "ml-100k.inter")
    users = _read_atomic_file(folder / "ml-100k.user")
    items = _read_atomic_file(folder / "ml-100k.item")
    ratings = inter.select(
        "user_id",
        "item_id",
        click=(pl.col("rating").cast(pl.Float64) >= CLICK_MIN_RATING).cast(pl.Int8),
        timestamp=pl.col("timestamp").cast(pl.Float64).cast(pl.Int64),
    )
    items = items.select("item_id", "release_year", genres=pl.col("class"))
    return ratings.join(users, on="user_id", how="left").join(items, on="item_id", how="left")


def _read_atomic_file(path: Path) -> pl.DataFrame:
    """A RecBole atomic file: tab separated, headers ``name:type``; every value read as text."""
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    frame = pl.read_csv(path, separator="\t", quote_char=None, infer_schema=False)
    return frame.rename({name: name.split(":")[0] for name in frame.columns})


def load_movielens100k(
    *,
    path: str | Path | None = None,
    label: str = "click",
    categorical: Sequence[str] = MOVIELENS_CATEGORICAL,
    numeric: Sequence[str] = (),
    time: str | None = "timestamp",
    max_rows: int | None = None,
) -> Dataset:
    """MovieLens-100k (from recbole's copy unless ``path`` names an ``ml-100k`` folder)."""
    frame = movielens100k_frame(path)
    return _dataset("movielens100k", frame, label, categorical, numeric, time, max_rows)


def load_table(
    path: str | Path,
    *,
    label: str,
    categorical: Sequence[str] = (),
    numeric: Sequence[str] = (),
    time: str | None = None,
    max_rows: int | None = None,
) -> Dataset:
    """A CSV (``.csv``, ``.tsv``) or parquet (``.parquet``, ``.pq``) file of logged impressions."""
    path = Path(path)
    frame = read_table_file(path)
    return _dataset(path.stem, frame, label, categorical, numeric, time, max_rows)


def read_table_file(path: str | Path) -> pl.DataFrame:
    """A CSV / TSV / parquet file by its suffix; ``ValueError`` with one line if it cannot be."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            separator = "\t" if suffix == ".tsv" else ","
            return pl.read_csv(path, separator=separator, infer_schema_length=None)
        if suffix in (".parquet", ".pq"):
            return pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as error:
        raise ValueError(f"cannot read {path}: {error}") from None
    raise ValueError(f"{path}: expected a .csv, .tsv, .parquet or .pq file")


LOADERS = {"movielens100k": load_movielens100k, "table": load_table}


def load_dataset(config: Mapping[str, Any]) -> Dataset:
    """Load the data set a ``dataset`` config node describes (``name`` picks the loader)."""
    options = dict(config)
    name = options.pop("name", None)
    if name not in LOADERS:
        raise ValueError(f"dataset.name: unknown data set {name!r}; expected {list(LOADERS)}")
    if name == "table" and not options.get("path"):
        raise ValueError("dataset.path: name the CSV or parquet file to load")
    if name == "table" and not options.get("label"):
        raise ValueError("dataset.label: name the label column")
    known = {"path", "label", "categorical", "numeric", "time", "max_rows"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"dataset: unknown option(s) {unknown}; known: {sorted(known)}")
    return LOADERS[name](**options)


def _dataset(
    name: str,
    frame: pl.DataFrame,
    label: str,
    categorical: Sequence[str],
    numeric: Sequence[str],
    time: str | None,
    max_rows: int | None,
) -> Dataset:
    categorical, numeric = tuple(categorical or ()), tuple(numeric or ())
    _check_names(frame, label, categorical, numeric, time)
    if max_rows is not None:
        if int(max_rows) < 1:
            raise ValueError(f"dataset.max_rows must be >= 1, got {max_rows}")
        frame = frame.head(int(max_rows))
    columns = [
        _label_column(frame.get_column(label)),
        *(_categorical_column(frame.get_column(c)) for c in categorical),
        *(_numeric_column(frame.get_column(c)) for c in numeric),
    ]
    if time is not None:
        columns.append(frame.get_column(time))
    return Dataset(name, pl.DataFrame(columns), label, categorical, numeric, time)


def _check_names(
    frame: pl.DataFrame,
    label: str,
    categorical: tuple[str, ...],
    numeric: tuple[str, ...],
    time: str | None,
) -> None:
    if not categorical and not numeric:
        raise ValueError("no features: name categorical and/or numeric columns")
    named = [label, *categorical, *numeric, *([time] if time else [])]
    repeated = sorted({c for c in named if named.count(c) > 1})
    if repeated:
        raise ValueError(f"columns named more than once (label, features, time): {repeated}")
    missing = [c for c in named if c not in frame.columns]
    if missing:
        raise ValueError(f"missing columns {missing}; the data has {frame.columns}")


def _label_column(column: pl.Series) -> pl.Series:
    nulls = column.null_count()
    if column.dtype.is_float():
        nulls += int(column.is_nan().sum())
    if nulls:
        raise ValueError(f"label column {column.name!r} has {nulls} null/NaN values")
    if column.dtype == pl.Boolean:
        return column.cast(pl.Int8)
    if not column.dtype.is_numeric():
        bad = column.unique().head(3).to_list()
        raise ValueError(f"label column {column.name!r} must hold 0 and 1, found e.g. {bad}")
    bad_values = column.filter(~column.is_in([0, 1]))
    if bad_values.len():
        bad = sorted(bad_values.unique().head(3).to_list())
        raise ValueError(f"label column {column.name!r} must hold only 0 and 1, found e.g. {bad}")
    return column.cast(pl.Int8)


def _categorical_column(column: pl.Series) -> pl.Series:
    return column.cast(pl.String) if column.dtype.is_float() else column


def _numeric_column(column: pl.Series) -> pl.Series:
    try:
        return column.cast(pl.Float64)
    except pl.exceptions.InvalidOperationError:
        raise ValueError(f"numeric column {column.name!r} holds non-numbers") from None
