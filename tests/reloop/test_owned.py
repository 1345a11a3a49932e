"""reloop.owned: an app writes only into a new or empty folder or its own, and keeps what it did
not write; reloop.atomic sweeps the staging folders of writers that died."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from reloop.atomic import atomic_dir
from reloop.owned import MARKER, NotOwned, check_writable, claim_dir, replace_owned_dir


def test_a_users_folder_is_refused_and_an_empty_or_own_one_taken(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.md").write_text("x")
    with pytest.raises(NotOwned, match=r"holds files app-a did not write: notes.md; choose"):
        check_writable(mine, "app-a")
    with pytest.raises(NotOwned, match="is a file"):
        check_writable(mine / "notes.md", "app-a")
    empty = tmp_path / "empty"
    empty.mkdir()
    claim_dir(empty, "app-a")
    assert json.loads((empty / MARKER).read_text()) == {"app": "app-a"}
    (empty / "result.csv").write_text("1")
    check_writable(empty, "app-a")  # its own, whatever it holds
    with pytest.raises(NotOwned, match=r"\(written by app-a\)"):
        check_writable(empty, "app-b")
    check_writable(mine, "app-a", legacy=lambda folder: (folder / "notes.md").is_file())


def test_replacing_its_folder_keeps_what_the_app_did_not_write(tmp_path):
    out = tmp_path / "out"
    with replace_owned_dir(out, "app") as staging:
        (staging / "a.csv").write_text("1")
        (staging / "b.png").write_text("2")
    (out / "my_note.md").write_text("mine")
    with replace_owned_dir(out, "app") as staging:
        (staging / "a.csv").write_text("3")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "a.csv", "my_note.md"]
    assert (out / "a.csv").read_text() == "3" and (out / "my_note.md").read_text() == "mine"
    assert json.loads((out / MARKER).read_text()) == {"app": "app", "files": ["a.csv"]}
    # a user's file with the name of a new output: refused before the swap, nothing lost
    (out / "c.csv").write_text("user's")
    with (
        pytest.raises(NotOwned, match=r"c\.csv was not written by app"),
        replace_owned_dir(out, "app") as staging,
    ):
        (staging / "c.csv").write_text("app's")
    assert (out / "c.csv").read_text() == "user's" and (out / "a.csv").read_text() == "3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_staging_folders_of_dead_writers_are_swept_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    parent = os.getppid()  # alive for the whole test
    (tmp_path / f".report-new-{dead}-abc.tmp").mkdir()
    (tmp_path / f".report-old-{dead}-abc.tmp").mkdir()
    (tmp_path / f".report-new-{parent}-abc.tmp").mkdir()
    (tmp_path / ".notes-new-1-x.tmp").mkdir()  # another folder's: not this writer's business
    with atomic_dir(tmp_path / "report") as staging:
        (staging / "a.csv").write_text("1")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".notes-new-1-x.tmp",
        f".report-new-{parent}-abc.tmp",
        "report",
    ]
