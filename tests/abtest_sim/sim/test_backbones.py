"""Every backbone's config node drives the simulator: the model it trains and serves with."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

import reloop
from abtest_sim.apps.simulate import CONF_DIR
from abtest_sim.sim import logs
from abtest_sim.sim.loop import run_experiment
from reloop.schema import ModelSpec, build, plain


def model_node(model: str) -> ModelSpec:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("simulate", overrides=["experiment=smoke", f"model={model}"])
    return build(ModelSpec, plain(cfg.model), "model")


@pytest.mark.parametrize("model", ["dcn", "lr", "xdeepfm", "sim"])
def test_every_backbone_config_drives_the_simulator(model, tmp_path, tiny):
    """A backbone's config node is the model the simulator trains and serves with: a tiny run
    with the real trainer (warm-up, an A/A and an A/B night) serves that backbone's pCTRs."""
    node = model_node(model)
    config = replace(tiny(burnin_days=0, ab_days=1), model=node)
    run_experiment(config, tmp_path)
    served = reloop.load(tmp_path / "models" / "arm=treatment" / "day=2.pt")  # serves day 3
    assert served.model_name == ("deepfm" if model == "sim" else model)
    pctr = logs.scan(tmp_path / "logs", ["treatment"], [3]).collect()["pctr"].to_numpy()
    assert pctr.size and ((pctr > 0) & (pctr < 1)).all() and np.unique(pctr).size > 1
