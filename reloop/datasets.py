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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import polars as pl

__all__ = [
    "MOVIELENS_CATEGORICAL",
    "Dataset",
    "TableFileError",
    "collect_table",
    "load_dataset",
    "load_movielens100k",
    "load_table",
    "movielens100k_dir",
    "movielens100k_frame",
    "read_table_file",
    "scan_table_file",
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
T = TypeVar("T")


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


# Suffix -> CSV field separator (None: parquet). The suffix alone decides how a file is read.
TABLE_SUFFIXES: dict[str, str | None] = {".csv": ",", ".tsv": "\t", ".parquet": None, ".pq": None}
_READ_ERRORS = (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError)
_CHUNK_BYTES = 1 << 22  # the field-count check reads a CSV in chunks of 4 MiB


class TableFileError(ValueError):
    """A file that cannot be read as a table; the message is one line naming the file."""


def read_table_file(path: str | Path) -> pl.DataFrame:
    """A CSV / TSV / parquet file by its suffix, or ``TableFileError`` (a ``ValueError``) in one
    line. The rules, which ``scan_table_file`` shares: the suffix decides (.csv, .tsv, .parquet,
    .pq); an empty file, a header without rows, a CSV line with more or fewer fields than the
    header (a blank line too) and a column name used twice are refused; any polars or OS error
    becomes ``cannot read <path>: <its first line>``."""
    path, separator = _checked_file(path)
    if separator is None:
        frame = _guarded(path, lambda: pl.read_parquet(path))
    else:
        frame = _guarded(path, lambda: pl.read_csv(path, separator=separator,
                                                   infer_schema_length=None))  # fmt: skip
    if frame.height == 0:
        raise TableFileError(f"{path} has no rows")
    return frame


def scan_table_file(path: str | Path) -> pl.LazyFrame:
    """The lazy sibling of ``read_table_file``, under its rules: what needs no full read of the
    rows is checked here (for a CSV also every line's field count); collect queries on it with
    ``collect_table``, which words an error met while reading the same way."""
    path, separator = _checked_file(path)
    if separator is None:
        scan = _guarded(path, lambda: pl.scan_parquet(path))
    else:  # the whole file decides the column types: a float after 100 integers must not fail
        scan = _guarded(path, lambda: pl.scan_csv(path, separator=separator,
                                                  infer_schema_length=None))  # fmt: skip
    _guarded(path, scan.collect_schema)
    if collect_table(scan.select(pl.len()), path).item() == 0:
        raise TableFileError(f"{path} has no rows")
    return scan


def collect_table(query: pl.LazyFrame, path: str | Path) -> pl.DataFrame:
    """``query.collect()`` for a query on ``scan_table_file(path)``; read errors in one line."""
    return _guarded(Path(path), query.collect)


def _guarded(path: Path, read: Callable[[], T]) -> T:
    try:
        return read()
    except _READ_ERRORS as error:
        text = str(error).strip()
        first = text.splitlines()[0] if text else type(error).__name__
        raise TableFileError(f"cannot read {path}: {first}") from None


def _checked_file(path: str | Path) -> tuple[Path, str | None]:
    """The path and its CSV separator (None: parquet), once the file exists, is not empty, has a
    known suffix and, for a CSV, a header without a repeated name and lines that fit it."""
    path = Path(path)
    if not path.exists():
        raise TableFileError(f"no such file: {path}")
    if not path.is_file():
        raise TableFileError(f"not a file: {path}")
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise TableFileError(f"{path}: expected a .csv, .tsv, .parquet or .pq file")
    if _guarded(path, lambda: path.stat().st_size) == 0:
        raise TableFileError(f"{path} is empty")
    separator = TABLE_SUFFIXES[path.suffix.lower()]
    if separator is not None:
        header = _guarded(path, lambda: _raw_header(path, separator))
        repeated = [name for i, name in enumerate(header) if name in header[:i]]
        if repeated:  # polars would rename the second one <name>_duplicated_0 and read on
            raise TableFileError(f"{path}: column {repeated[0]!r} appears twice in the header")
        if len(header) > 1:
            _guarded(path, lambda: _check_field_counts(path, separator, len(header)))
    return path, separator


def _raw_header(path: Path, separator: str) -> list[str | None]:
    """The header's names as written (polars' own header renames a repeated name)."""
    first = pl.read_csv(
        path, separator=separator, has_header=False, n_rows=1, infer_schema=False,
        truncate_ragged_lines=True,  # a longer line below is _check_field_counts' to name
    )  # fmt: skip
    return list(first.row(0))


def _check_field_counts(path: Path, separator: str, fields: int) -> None:
    """Refuse a CSV line with more or fewer fields than the header (polars fills a short line
    with nulls, and makes a blank line a row of nulls): separators and line ends outside quotes
    are counted per line, vectorised over chunks of the file."""
    done, parity, open_separators, open_bytes = 0, 0, 0, 0  # lines done; the open line's state
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            data = np.frombuffer(chunk, dtype=np.uint8)
            separators, ends, parity = _unquoted(data, ord(separator), parity)
            before = np.searchsorted(separators, ends)  # separators before each line end
            if ends.size == 0:  # the open line goes on
                open_separators += separators.size
                open_bytes += data.size
                continue
            counts, sizes = np.diff(before, prepend=0), np.diff(ends, prepend=-1) - 1
            counts[0], sizes[0] = counts[0] + open_separators, sizes[0] + open_bytes
            _refuse_misfit(path, counts + 1, sizes, fields, first_line=done + 1)
            done += ends.size
            open_separators = separators.size - int(before[-1])
            open_bytes = data.size - int(ends[-1]) - 1
    if open_bytes:  # the last line, without a line end
        last = np.array([open_separators + 1]), np.array([open_bytes])
        _refuse_misfit(path, *last, fields, first_line=done + 1)


def _unquoted(data: np.ndarray, separator: int, parity: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Positions of the separators and line ends outside quotes in a chunk that starts inside
    quotes when ``parity`` is 1, and the parity at its end."""
    separators, ends = np.flatnonzero(data == separator), np.flatnonzero(data == ord("\n"))
    quotes = data == ord('"')
    if parity == 0 and not quotes.any():
        return separators, ends, 0
    inside = (np.cumsum(quotes, dtype=np.int64) + parity) % 2 == 1
    return separators[~inside[separators]], ends[~inside[ends]], int(inside[-1])


def _refuse_misfit(
    path: Path, counts: np.ndarray, sizes: np.ndarray, fields: int, first_line: int
) -> None:
    bad = np.flatnonzero(counts != fields)
    if bad.size == 0:
        return
    line, count = first_line + int(bad[0]), int(counts[bad[0]])
    if count == 1 and sizes[bad[0]] <= 1:  # nothing, or a lone carriage return
        raise TableFileError(f"{path}: line {line} is blank (a table has no blank lines)")
    raise TableFileError(f"{path}: line {line} has {count} field(s), the header {fields}")


LOADERS: dict[str, Callable[..., Dataset]] = {
    "movielens100k": load_movielens100k,
    "table": load_table,
}


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
