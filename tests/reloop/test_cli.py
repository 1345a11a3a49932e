import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hydra import compose, initialize_config_dir

from reloop import cli
from reloop.models import MODELS, build_model
from reloop.offline import METHODS, SUCCESSIVE_METHODS
from reloop.schema import plain

FAST = ["model.hidden_units=[8]", "model.embedding_dim=4", "train.epochs=2", "progress=false"]


def _compose(*overrides):
    with initialize_config_dir(config_dir=cli.CONF_DIR, version_base="1.3"):
        return compose("offline", overrides=list(overrides))


@pytest.fixture
def logs_csv(tmp_path):
    """A made-up log the tool has never seen: other column names, a float feature, a time."""
    rng = np.random.default_rng(0)
    n = 800
    shop, brand, price = rng.integers(0, 15, n), rng.choice(["a", "b", "c"], n), rng.gamma(2, 5, n)
    p = 1 / (1 + np.exp(-(0.3 * (shop % 3) - 0.05 * price + (brand == "a"))))
    frame = pl.DataFrame({"shop": shop, "brand": brand, "price": price, "ts": np.arange(n)})
    path = tmp_path / "made_up.csv"
    frame.with_columns(bought=pl.Series((rng.random(n) < p).astype(int))).write_csv(path)
    return path


def _table_args(path, run_dir):
    return [
        "dataset=table", f"dataset.path={path}", "dataset.label=bought",
        "dataset.categorical=[shop,brand]", "dataset.numeric=[price]", f"run_dir={run_dir}",
    ]  # fmt: skip


def test_contract_overrides_reach_the_configuration():
    cfg = _compose("dataset=movielens100k", "model=dcn", "protocol=successive", "seeds=5",
                   "alpha=0.5")  # fmt: skip
    config = cli.offline_config(plain(cfg))
    assert (config.protocol, config.seeds, config.alphas) == ("successive", (0, 1, 2, 3, 4), (0.5,))
    assert config.model.name == "dcn" and config.model.options == {"cross_layers": 3}
    assert config.methods == SUCCESSIVE_METHODS and config.baselines == ("bce", "bce_long", "kd")
    assert config.budgets["default"].patience == 2 and config.budgets["long"].patience == 5
    sweep = cli.offline_config(plain(_compose("alpha=[0.1,0.3]", "seeds=[4,9]")))
    assert sweep.alphas == (0.1, 0.3) and sweep.seeds == (4, 9)
    assert sweep.methods == tuple(METHODS) and sweep.baselines[-1] == "kd"
    assert cli.offline_config(plain(_compose("model.options=null"))).model.options == {}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_backbone_has_a_model_node_that_builds(name):
    config = cli.offline_config(plain(_compose(f"model={name}")))
    assert config.model.name == name
    model = config.model
    from reloop.features import FieldSchema

    build_model(name, FieldSchema((3, 4)), embedding_dim=model.embedding_dim,
                hidden_units=model.hidden_units, **model.options)  # fmt: skip


def test_run_offline_on_a_made_up_csv(logs_csv, tmp_path):
    cfg = _compose(*_table_args(logs_csv, tmp_path / "unused"), *FAST, "seeds=2")
    results = cli.run_offline(cfg, tmp_path / "out", command="reloop-offline ...")
    assert results.rows.height == 2 * (1 + 3 + 4)
    assert set(results.rows["n_test"]) == {80}
    written = pl.read_csv(tmp_path / "out" / "results.csv")
    assert written.height == results.rows.height
    text = (tmp_path / "out" / "results.md").read_text()
    assert text.startswith("# ReLoop offline: deepfm on made_up (800 rows), protocol paper")
    assert "Command: `reloop-offline ...`" in text and "| reloop (alpha=0.5) |" in text


def _main(monkeypatch, capsys, args):
    monkeypatch.setattr(sys, "argv", ["reloop-offline", *args])
    with pytest.raises(SystemExit) as stop:
        cli.main()
    return stop.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["dataset.path=/nonexistent/logs.csv"], "no such file: /nonexistent/logs.csv"),
        (["dataset.label=shop", "dataset.categorical=[brand]"], r"'shop' must hold only 0 and 1"),
        (["dataset.categorical=[shop,colour]"], r"missing columns \['colour'\]"),
        (["alpha=1.5"], r"alpha: each value must lie in \[0, 1\]"),
        (["protocol=successive"], "needs a time column"),
        (["model=nope"], "Could not find 'model/nope'"),
        (["model.name=nope"], "model.name: unknown 'nope'"),
        (["dataset.path=???"], "Missing mandatory value"),
        (["seeds=[a]"], r"seeds\[0\] must be an integer"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    monkeypatch, capsys, logs_csv, tmp_path, change, message
):
    run_dir = tmp_path / "run"
    code, err = _main(monkeypatch, capsys, [*_table_args(logs_csv, run_dir), *FAST, *change])
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("reloop-offline: error: ")
    assert re.search(message, err), err
    assert not (run_dir / "results.csv").exists() and not (run_dir / "results.md").exists()


def _reloop_offline(args, cwd):
    exe = Path(sys.executable).with_name("reloop-offline")
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, env=env)


@pytest.mark.slow
def test_reloop_offline_command_on_a_csv_it_has_never_seen(logs_csv, tmp_path):
    run_dir = tmp_path / "run"
    args = [*_table_args(logs_csv, run_dir), "dataset.time=ts", "protocol=successive",
            "successive.periods=4", "seeds=2", *FAST]  # fmt: skip
    done = _reloop_offline(args, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = pl.read_csv(run_dir / "results.csv")
    assert rows.height == 2 * (1 + 4 * 2)  # initial + 4 lineages x versions 1 and 2
    assert "finished" not in done.stderr and "bce_long, seed 1, period 3: AUC" in done.stdout
    text = (run_dir / "results.md").read_text()
    assert "## Paired AUC differences against `bce` per period" in text


@pytest.mark.slow
def test_reloop_offline_command_error_exits_2_with_one_line(tmp_path):
    done = _reloop_offline(["dataset=table", f"dataset.path={tmp_path}/x.csv",
                            "dataset.label=y", "dataset.categorical=[a]"], tmp_path)  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == f"reloop-offline: error: no such file: {tmp_path}/x.csv\n"
    refused = _reloop_offline(["alpha=2", f"run_dir={tmp_path}/run"], tmp_path)
    assert refused.returncode == 2 and "alpha" in refused.stderr
    assert not (tmp_path / "run").exists()  # not even Hydra's config copy and log


@pytest.mark.slow
def test_a_users_folder_as_run_dir_is_refused_untouched_and_an_empty_one_kept(logs_csv, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "results.md").write_text("my own results")
    done = _reloop_offline([*_table_args(logs_csv, mine), *FAST], tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        f"reloop-offline: error: run_dir {mine} holds files reloop-offline did not write: "
        "results.md; choose a new or empty folder\n"
    )
    assert sorted(p.name for p in mine.iterdir()) == ["results.md"]
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = _reloop_offline(["alpha=2", f"run_dir={empty}"], tmp_path)
    assert refused.returncode == 2 and empty.is_dir() and not list(empty.iterdir())
