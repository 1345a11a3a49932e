"""reloop.atomic: a write lands whole or not at all, and leaves no temporary either way."""

from __future__ import annotations

import polars as pl
import pytest

from reloop.atomic import atomic_dir, atomic_path, write_json, write_parquet, write_text


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path):
    target = tmp_path / "a.txt"
    write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_writes_replace_whole_files(tmp_path):
    write_json(tmp_path / "d" / "x.json", {"b": 1, "a": [2]})
    assert (tmp_path / "d" / "x.json").read_text() == '{\n  "a": [\n    2\n  ],\n  "b": 1\n}'
    frame = pl.DataFrame({"x": [1, 2]})
    write_parquet(frame, tmp_path / "f.parquet")
    write_parquet(frame.head(1), tmp_path / "f.parquet")
    assert pl.read_parquet(tmp_path / "f.parquet").equals(frame.head(1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "f.parquet"]


def test_a_folder_is_swapped_whole_or_kept(tmp_path):
    report = tmp_path / "report"
    with atomic_dir(report) as staging:
        (staging / "a.csv").write_text("1")
    with atomic_dir(report) as staging:
        (staging / "b.csv").write_text("2")
    assert sorted(p.name for p in report.iterdir()) == ["b.csv"]
    with pytest.raises(ValueError), atomic_dir(report) as staging:
        (staging / "c.csv").write_text("3")
        raise ValueError("killed")
    assert sorted(p.name for p in report.iterdir()) == ["b.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_written_files_and_folders_get_the_umask_modes_a_plain_create_gives(tmp_path):
    """Reports are shared: atomic writes must not leave the temp functions' private modes."""
    import os

    old = os.umask(0o022)
    try:
        write_text(tmp_path / "a.txt", "x")
        with atomic_dir(tmp_path / "report") as staging:
            (staging / "page.html").write_text("<p>")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "report").stat().st_mode & 0o777 == 0o755
