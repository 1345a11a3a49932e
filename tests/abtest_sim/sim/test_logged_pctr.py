"""The logged pCTR is ReLoop's y_last: the prediction, for the impression as shown (its position
included), of the model version that served it, i.e. the version trained the night before."""

from __future__ import annotations

import json

import numpy as np
import pytest

import reloop
from abtest_sim.sim import logs
from abtest_sim.sim.rundir import RunDir

pytestmark = pytest.mark.slow


def test_every_logged_pctr_is_the_serving_versions_prediction_of_that_row(reference_run):
    run_dir = RunDir(reference_run)
    spec = json.loads(run_dir.config.read_text())["experiment"]
    first = spec["warmup_days"] + spec["burnin_days"]
    days = range(first, first + spec["aa_days"] + spec["ab_days"])
    checked = 0
    for arm in ("control", "treatment"):
        for day in days:
            frame = logs.scan(reference_run / "logs", [arm], [day]).collect()
            version = day - first
            assert frame["model_version"].unique().to_list() == [version]
            path = run_dir.start_model if version == 0 else run_dir.test.model(arm, day - 1)
            served = reloop.load(path)
            shown = frame.select(logs.observable_columns(frame))
            predicted = reloop.predict(served, shown)
            np.testing.assert_allclose(frame["pctr"].to_numpy(), predicted, rtol=1e-4, atol=1e-6)
            # and not the version of another night (a test that could fail)
            if version > 0:
                other = reloop.predict(reloop.load(run_dir.start_model), shown)
                assert not np.allclose(frame["pctr"].to_numpy(), other, rtol=1e-4, atol=1e-6)
            checked += frame.height
    assert checked > 1000
