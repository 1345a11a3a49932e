"""Impression logs: schema, atomic partitions, lazy scans, and the truth kept from training."""

from __future__ import annotations

import os

import numpy as np
import polars as pl
import pytest

from abtest_sim.sim import logs
from abtest_sim.sim.serving import Exploration, random_scorer, rank, with_shown_pctr
from abtest_sim.world import World, WorldConfig

SMALL = WorldConfig(
    n_users=2000,
    n_items=1000,
    n_categories=8,
    latent_dim=8,
    n_user_attrs=3,
    item_lifetime_days=20,
    n_candidates=15,
)
K = 5
EXPECTED_DTYPES = {
    "day": pl.Int16,
    "arm": pl.String,
    "user_id": pl.Int32,
    "request_id": pl.Int32,
    "request_index": pl.Int16,
    "position": pl.Int16,
    "item_id": pl.Int32,
    "item_category": pl.Int16,
    "weekday": pl.Int16,
    "hour": pl.Int16,
    "user_attr_0": pl.Int16,
    "user_attr_1": pl.Int16,
    "user_attr_2": pl.Int16,
    "pctr": pl.Float32,
    "click": pl.Int8,
    "model_version": pl.Int32,
    "explored": pl.Int8,
}


@pytest.fixture(scope="module")
def served():
    world = World(SMALL, 5)
    requests = world.begin_day(2)
    observation = world.observe(requests)
    scorer = random_scorer(0)
    slates = rank(scorer, observation, None, K, exploration=Exploration(0.1, 0.1))
    slates = with_shown_pctr(scorer, observation, slates)
    outcome = world.oracle.click(requests, slates.items, slates.request_rows)
    frame = logs.impression_log(observation, slates, outcome.click, arm="control", model_version=7)
    return world, requests, slates, outcome, frame


def test_impression_log_schema_and_content(served):
    _, requests, slates, outcome, frame = served
    assert dict(frame.schema) == EXPECTED_DTYPES
    assert frame.height == requests.n * K
    np.testing.assert_array_equal(frame["position"].to_numpy(), np.tile(np.arange(K), requests.n))
    request_ids = np.repeat(requests.request_id, K)
    np.testing.assert_array_equal(frame["request_id"].to_numpy(), request_ids)
    np.testing.assert_array_equal(frame["user_id"].to_numpy(), np.repeat(requests.user_id, K))
    np.testing.assert_array_equal(frame["item_id"].to_numpy(), slates.items.ravel())
    np.testing.assert_array_equal(frame["pctr"].to_numpy(), slates.pctr.ravel())
    np.testing.assert_array_equal(frame["click"].to_numpy(), outcome.click.ravel())
    assert not set(logs.TRUTH_COLUMNS) & set(frame.columns)  # the oracle's truth is not logged
    assert frame["day"].unique().to_list() == [2]
    assert frame["model_version"].unique().to_list() == [7]


def test_write_then_scan_round_trips(served, tmp_path):
    frame = served[-1]
    path = logs.write_partition(tmp_path, "control", 2, frame)
    assert path == tmp_path / "arm=control" / "day=2" / "part-0.parquet"
    treatment = frame.with_columns(pl.lit("treatment").alias("arm"))
    logs.write_partition(tmp_path, "treatment", 2, treatment)
    day_3 = frame.with_columns(pl.lit(3, pl.Int16).alias("day"))
    logs.write_partition(tmp_path, "control", 3, day_3)
    back = logs.scan(tmp_path, arms=["control"], days=[2]).collect()
    assert back.equals(frame)
    assert logs.scan(tmp_path).select(pl.len()).collect().item() == 3 * frame.height
    both_days = logs.window(tmp_path, "control", last_day=3, n_days=5).collect()
    assert sorted(both_days["day"].unique().to_list()) == [2, 3]
    assert logs.scan(tmp_path, days=[2]).collect()["arm"].unique().sort().to_list() == [
        "control",
        "treatment",
    ]
    with pytest.raises(FileNotFoundError, match="no log partitions"):
        logs.scan(tmp_path, arms=["nobody"])


def test_rewriting_a_partition_replaces_it_and_leaves_no_debris(served, tmp_path):
    frame = served[-1].with_columns(pl.lit("a").alias("arm"))
    logs.write_partition(tmp_path, "a", 2, frame)
    smaller = frame.head(10).with_columns(pl.lit("a").alias("arm"))
    logs.write_partition(tmp_path, "a", 2, smaller)
    assert logs.scan(tmp_path).collect().equals(smaller)
    assert sorted(os.listdir(tmp_path / "arm=a")) == ["day=2"]


def test_a_crash_mid_write_never_exposes_a_partial_partition(served, tmp_path, monkeypatch):
    frame = served[-1].with_columns(pl.lit("a").alias("arm"))
    logs.write_partition(tmp_path, "a", 2, frame)
    before = logs.scan(tmp_path).collect()

    def crash(data: pl.DataFrame, path) -> None:
        path.write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(logs, "_write_file", crash)
    with pytest.raises(OSError, match="disk full"):
        logs.write_partition(tmp_path, "a", 2, frame.head(3))  # a rewrite
    with pytest.raises(OSError, match="disk full"):
        logs.write_partition(tmp_path, "a", 4, frame.drop("day"))  # a new partition
    monkeypatch.undo()
    assert logs.scan(tmp_path).collect().equals(before)
    assert sorted(os.listdir(tmp_path / "arm=a")) == ["day=2"]
    # an error between the two renames of a rewrite restores the old partition
    real_replace, calls = os.replace, []

    def second_rename_fails(src, dst) -> None:
        calls.append(dst)
        if len(calls) == 2:
            raise OSError("power cut")
        real_replace(src, dst)

    monkeypatch.setattr(logs.os, "replace", second_rename_fails)
    with pytest.raises(OSError, match="power cut"):
        logs.write_partition(tmp_path, "a", 2, frame.head(3))
    monkeypatch.undo()
    assert len(calls) == 3  # aside, (failed) into place, back
    assert logs.scan(tmp_path).collect().equals(before)
    assert sorted(os.listdir(tmp_path / "arm=a")) == ["day=2"]
    # a hard kill leaves its temp directory behind: readers must not see it
    debris = tmp_path / "arm=a" / ".tmp-day=5-deadbeef"
    debris.mkdir()
    (debris / "part-0.parquet").write_bytes(b"PAR1 torn")
    assert [p.day for p in logs.list_partitions(tmp_path)] == [2]
    assert logs.scan(tmp_path).collect().equals(before)


def test_partition_keys_are_checked(served, tmp_path):
    frame = served[-1]
    with pytest.raises(ValueError, match="arm"):
        logs.write_partition(tmp_path, "treatment", 2, frame)  # frame says control
    with pytest.raises(ValueError, match="day"):
        logs.write_partition(tmp_path, "control", 9, frame)
    for bad in ("", "../x", "a/b", "a=b", ".hidden"):
        with pytest.raises(ValueError, match="arm name"):
            logs.partition_path(tmp_path, bad, 0)


def test_training_path_cannot_see_the_truth(served, tmp_path):
    world, requests, _, outcome, frame = served
    # a log that holds the truth anyway (a user's own log, say): training still cannot see it
    logs.write_partition(tmp_path, "control", 2, frame.with_columns(p_true=outcome.p_true.ravel()))
    scanned = logs.scan(tmp_path)
    observable = logs.observable_columns(scanned)
    assert "p_true" in scanned.collect_schema().names()
    assert not set(logs.TRUTH_COLUMNS) & set(observable)
    assert logs.observable_columns(frame) == observable
    assert logs.observable_columns(["a", "p_true", "click"]) == ["a", "click"]
    train = scanned.select(observable).collect()
    assert "p_true" not in train.columns and "click" in train.columns
    # the features a model is trained on are exactly the serving features, none of them truth
    assert set(world.feature_columns) <= set(observable)
    observed = world.observe(requests).candidate_features()
    assert not set(logs.TRUTH_COLUMNS) & set(observed.columns)
