"""abtest-sim refuses a bad configuration before any work: as ``ConfigError`` from the config
reader, and from the command line with one line, exit code 2 and nothing on disk (the table of
every app's bad inputs is tests/bad_inputs.py)."""

from __future__ import annotations

import pytest

from abtest_sim.sim.config import ConfigError, SimulationConfig


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("arm.treatment.share=0.7", "shares must sum to 1"),
        ("arm.treatment.alpha=1.5", "alpha must lie in [0, 1]"),
        ("arm.treatment.recipe=magic", "unknown recipe 'magic'"),
        ("world.n_users=0", "n_users"),
        ("arm.control.train.epochs=two", "must be an integer"),
        ("+arm.control.train.patience=3", "no validation data"),
        ("+arm.control.train.lrr=0.1", "arm.control.train: unknown key"),
        ("+arm.control.epochs=2", "arm.control: unknown key"),
        ("+arm.control.colour=red", "unknown key"),
        ("experiment.control=nobody", "arm 'nobody'"),
        ("retrain_workers=0", "retrain_workers must be at least 1"),
        ("world.n_users=", "world.n_users must be an integer, got ''"),
        ("world.drift_tau=slow", "world.drift_tau must be a number"),
    ],
)
def test_bad_config_is_refused_before_work(override, message, smoke_config):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        SimulationConfig.from_hydra(smoke_config(override))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("arm.treatment.alpha=2", "alpha"),
        ("torch_threads=two", "torch_threads must be an integer"),
        ("experiment=nope", "Could not find 'experiment/nope'"),  # Hydra's own error
    ],
)
def test_cli_bad_config_exits_2_with_one_line_and_leaves_nothing(
    tmp_path, override, message, smoke_cli
):
    result = smoke_cli("experiment=smoke", f"run_dir={tmp_path}/run", override)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("abtest-sim: error:") and message in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()  # not even Hydra's own files
