import dataclasses

import numpy as np
import polars as pl
import pytest
from scipy import stats

from reloop.datasets import Dataset, load_movielens100k
from reloop.offline import (
    RESULT_COLUMNS,
    Budget,
    ModelSpec,
    OfflineConfig,
    OfflineResults,
    Paired,
    PaperSplit,
    TrainSpec,
    plan,
    report,
    run,
    write_results,
)

TINY = ModelSpec("deepfm", embedding_dim=4, hidden_units=(16,))
TINY_TRAIN = TrainSpec(batch_size=256, lr=3e-3)
BUDGETS = {"default": Budget(2, 1), "long": Budget(3, 5)}


@pytest.fixture(scope="module")
def movielens():
    """A small slice of MovieLens-100k with a row id to check the splits."""
    data = load_movielens100k(max_rows=3000)
    return dataclasses.replace(data, frame=data.frame.with_row_index("row"))


def config(**changes):
    base = OfflineConfig(seeds=(0, 1), model=TINY, train=TINY_TRAIN, budgets=BUDGETS)
    return dataclasses.replace(base, **changes)


def test_paper_split_is_8_1_1_disjoint_and_the_previous_model_sees_90_percent(movielens):
    cut = plan(movielens, config()).splits[1]
    assert isinstance(cut, PaperSplit)
    ids = {name: set(getattr(cut, name)["row"].to_list()) for name in ("train", "valid", "test")}
    assert [len(ids[n]) for n in ("train", "valid", "test")] == [2400, 300, 300]
    assert set.union(*ids.values()) == set(range(3000))
    assert not (ids["train"] & ids["valid"]) and not (ids["train"] & ids["test"])
    previous = set(cut.previous_train["row"].to_list())
    assert len(previous) == 2160 and previous <= ids["train"]
    again = plan(movielens, config()).splits[1]
    assert again.test["row"].to_list() == cut.test["row"].to_list()  # seeded
    assert plan(movielens, config()).splits[0].test["row"].to_list() != cut.test["row"].to_list()


@pytest.mark.slow
def test_paper_protocol_end_to_end_on_movielens(movielens):
    results = run(movielens, config(seeds=(1,), alphas=(0.0, 0.5)))
    rows = results.rows
    assert rows.columns == list(RESULT_COLUMNS)
    # the previous model, 3 BCE methods, 4 alpha-dependent methods x 2 alphas
    assert rows.height == 1 + 3 + 4 * 2
    assert rows["period"].null_count() == rows.height
    assert rows.filter(pl.col("method") == "previous")["n_train"].unique().to_list() == [2160]
    bce = rows.filter(pl.col("method") == "bce")
    assert (bce["auc"] > 0.55).all() and (bce["n_test"] == 300).all()
    assert (rows.filter(pl.col("method") == "bce_long")["epochs"] == 3).all()  # the long budget
    # alpha = 0 is BCE: same initial weights, same batches, so the very same model
    for method, baseline in [("reloop", "bce"), ("kd", "bce"), ("reloop_warm", "bce_warm")]:
        same = rows.filter((pl.col("method") == method) & (pl.col("alpha") == 0.0))
        other = rows.filter(pl.col("method") == baseline)
        assert same["auc"].to_list() == other["auc"].to_list(), method
    changed = rows.filter((pl.col("method") == "reloop") & (pl.col("alpha") == 0.5))
    assert changed["auc"].to_list() != bce["auc"].to_list()
    assert "| reloop (alpha=0.5) |" in results.markdown and "vs bce_warm" in results.markdown


@pytest.mark.slow
def test_successive_protocol_end_to_end_on_movielens(movielens):
    cfg = config(protocol="successive", methods=("bce", "reloop"), baselines=("bce",), periods=4)
    cfg = dataclasses.replace(cfg, alphas=(0.0, 0.5))
    steps = plan(movielens, cfg).splits[0]
    for step in steps:
        assert step.train["timestamp"].max() <= step.following["timestamp"].min()
        assert not set(step.train["row"]) & set(step.valid["row"])
    results = run(movielens, cfg)
    rows = results.rows
    # per seed: the shared version 0 on period 1, then versions 1 and 2 of 3 lineages
    assert rows.height == 2 * (1 + 3 * 2)
    lineage = rows.filter(pl.col("method") == "reloop").sort("alpha", "seed", "period")
    assert lineage["period"].to_list() == [2, 3, 2, 3, 2, 3, 2, 3]
    bce = rows.filter(pl.col("method") == "bce").sort("seed", "period")
    # alpha = 0 reproduces the BCE lineage at every period (same warm starts all the way)
    assert lineage.filter(pl.col("alpha") == 0.0)["auc"].to_list() == bce["auc"].to_list()
    assert lineage.filter(pl.col("alpha") == 0.5)["auc"].to_list() != bce["auc"].to_list()
    assert "| method | period 1 | period 2 | period 3 |" in results.markdown  # AUC per period
    assert "| method | period 2 | period 3 |" in results.markdown  # differences against bce


def test_results_are_the_same_for_the_same_seeds(movielens):
    small = dataclasses.replace(movielens, frame=movielens.frame.head(1000))
    cfg = config(seeds=(3,), methods=("bce", "reloop"), baselines=("bce",))
    first, second = run(small, cfg).rows, run(small, cfg).rows
    assert first.drop("seconds").equals(second.drop("seconds"))


def test_paired_statistics_match_scipy():
    treatment = np.array([0.71, 0.72, 0.70, 0.74])
    baseline = np.array([0.70, 0.73, 0.69, 0.71])
    result = Paired.of(treatment, baseline, higher_is_better=True)
    diff = treatment - baseline
    assert result.mean == pytest.approx(diff.mean())
    assert result.std == pytest.approx(diff.std(ddof=1))
    assert (result.improved, result.n) == (3, 4)
    assert result.p_value == pytest.approx(stats.ttest_1samp(diff, 0).pvalue)
    assert Paired.of(treatment, baseline, higher_is_better=False).improved == 1
    assert np.isnan(Paired.of(treatment[:1], baseline[:1], True).p_value)


def _rows(values):
    """Result rows from {(method, alpha): [(seed, period, auc, logloss, seconds, epochs)]}."""
    records = [
        {"protocol": "paper", "method": m, "alpha": a, "seed": s, "period": p, "auc": auc,
         "logloss": ll, "epochs": e, "best_epoch": e, "seconds": sec, "n_train": 1, "n_test": 1}
        for (m, a), entries in values.items() for s, p, auc, ll, sec, e in entries
    ]  # fmt: skip
    return pl.DataFrame(records).select(RESULT_COLUMNS)


def test_report_table_one_relative_change_time_and_paired_cells():
    rows = _rows(
        {
            ("bce", None): [(0, None, 0.70, 0.50, 10.0, 5), (1, None, 0.72, 0.52, 10.0, 5)],
            ("reloop", 0.5): [(0, None, 0.714, 0.49, 12.0, 5), (1, None, 0.7344, 0.51, 12.0, 5)],
        }
    )
    text = report(rows, ["bce"], "demo")
    line = next(x for x in text.splitlines() if x.startswith("| reloop (alpha=0.5) | 0.7242"))
    assert "| +2.00% |" in line  # 0.7242 / 0.71 - 1
    assert "| 1.20 | 1.20 |" in line  # 12 s against 10 s, same epochs
    paired = Paired.of(np.array([0.714, 0.7344]), np.array([0.70, 0.72]), True).cell()
    assert f"| reloop (alpha=0.5) | {paired} |" in text and "(2/2, p=" in paired


def test_report_averages_periods_within_a_seed_before_pairing():
    rows = _rows(
        {
            ("bce", None): [(0, 2, 0.70, 0.5, 1.0, 1), (0, 3, 0.60, 0.5, 1.0, 1),
                            (1, 2, 0.70, 0.5, 1.0, 1), (1, 3, 0.60, 0.5, 1.0, 1)],
            ("reloop", 0.5): [(0, 2, 0.72, 0.5, 1.0, 1), (0, 3, 0.60, 0.5, 1.0, 1),
                              (1, 2, 0.70, 0.5, 1.0, 1), (1, 3, 0.64, 0.5, 1.0, 1)],
        }
    )  # fmt: skip
    text = report(rows, ["bce"])
    expected = Paired.of(np.array([0.66, 0.67]), np.array([0.65, 0.65]), True).cell()
    assert f"| reloop (alpha=0.5) | {expected} |" in text
    assert "| reloop (alpha=0.5) | 0.7100 ± 0.0141 | 0.6200 ± 0.0283 |" in text


def test_write_results_is_complete_and_leaves_no_temporary_file(tmp_path):
    rows = _rows({("bce", None): [(0, None, 0.7, 0.5, 1.0, 1)]})
    results = OfflineResults(rows, "# t\n")
    csv_path, md_path = write_results(results, tmp_path / "out")
    assert pl.read_csv(csv_path).equals(rows, null_equal=True)
    assert md_path.read_text() == "# t\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["results.csv", "results.md"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"protocol": "online"}, "protocol"),
        ({"alphas": (0.5, 1.5)}, "alpha"),
        ({"protocol": "successive", "methods": ("bce", "bce_warm")}, "bce_warm"),
        ({"methods": ("bce", "reloop")}, r"baselines: \['bce', 'bce_long', 'bce_warm'\]"),
        ({"methods": ("reloop",), "baselines": ()}, "backbone"),
        ({"model": ModelSpec("nope")}, "unknown 'nope'"),
        ({"budgets": {"default": Budget(0, 1), "long": Budget(1, 1)}}, "budgets.default"),
        ({"split": (0.8, 0.3, 0.1)}, "paper.split"),
        ({"protocol": "successive", "methods": ("bce",), "baselines": (), "periods": 2}, "periods"),
        ({"seeds": ()}, "seeds"),
    ],
)
def test_bad_configuration_is_refused_before_training(movielens, changes, message):
    with pytest.raises(ValueError, match=message):
        plan(movielens, config(**changes))


def test_data_problems_are_refused_before_training(movielens):
    no_time = dataclasses.replace(movielens, time=None)
    successive = config(protocol="successive", methods=("bce",), baselines=())
    with pytest.raises(ValueError, match="needs a time column"):
        plan(no_time, successive)
    one_class = Dataset("x", pl.DataFrame({"click": [0] * 50 + [1] * 2, "u": list(range(52))}),
                        "click", ("u",))  # fmt: skip
    with pytest.raises(ValueError, match="AUC needs both labels"):
        plan(one_class, config())


def test_a_kd_baseline_is_paired_at_the_same_alpha():
    def two_seeds(a, b):
        return [(0, None, a, 0.5, 1.0, 1), (1, None, b, 0.5, 1.0, 1)]

    rows = _rows(
        {
            ("bce", None): two_seeds(0.70, 0.71),
            ("kd", 0.1): two_seeds(0.72, 0.70),
            ("kd", 0.5): two_seeds(0.75, 0.74),
            ("reloop", 0.1): two_seeds(0.73, 0.73),
            ("reloop", 0.5): two_seeds(0.74, 0.76),
        }
    )
    text = report(rows, ["bce", "kd"])
    assert "| method | vs bce | vs kd (same alpha) |" in text
    vs_kd = Paired.of(np.array([0.74, 0.76]), np.array([0.75, 0.74]), True).cell()
    vs_bce = Paired.of(np.array([0.74, 0.76]), np.array([0.70, 0.71]), True).cell()
    assert f"| reloop (alpha=0.5) | {vs_bce} | {vs_kd} |" in text
    assert "| kd (alpha=0.1) | " in text and " | — |" in text
