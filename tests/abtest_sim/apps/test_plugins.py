"""Your own retraining change, plugged in by Hydra ``_target_`` from a module outside the package:
a loss rewritten by hand gives exactly the built-in's run, and a broken one is refused up front.
The same for a serving-policy change."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import polars as pl
import pytest
import torch

import reloop
from reloop import ModelSpec, TrainSpec
from reloop.losses import check_loss, resolve_loss

MY_RECIPES = textwrap.dedent(
    '''
    import torch
    import torch.nn.functional as F


    def my_bce(logits, y, y_last, alpha):
        return F.binary_cross_entropy_with_logits(logits, y)


    def my_reloop(logits, y, y_last, alpha):
        """ReLoop written out by hand: alpha * L_sc + (1 - alpha) * BCE."""
        bce = F.binary_cross_entropy_with_logits(logits, y)
        p = torch.sigmoid(logits)
        sc = y * torch.relu(y_last - p) + (1 - y) * torch.relu(p - y_last)
        return alpha * sc.mean() + (1 - alpha) * bce


    class Anchored:
        """BCE plus a pull towards the previous version's pCTR."""

        def __init__(self, weight):
            self.weight = weight

        def __call__(self, logits, y, y_last, alpha):
            bce = F.binary_cross_entropy_with_logits(logits, y)
            return bce + self.weight * ((torch.sigmoid(logits) - y_last) ** 2).mean()


    def wrong_signature(logits, y):
        return logits.mean()
    '''
)
MY_MODELS = textwrap.dedent(
    '''
    import torch
    from reloop.models import CTRModel
    from reloop.models.layers import FeatureEmbedding, LinearTerm


    class Tiny(CTRModel):
        """A linear term plus the sum of the field embeddings' first component."""

        def __init__(self, schema, *, scale=1.0, **options):
            super().__init__(schema, **options)
            self.linear = LinearTerm(schema)
            self.embedding = FeatureEmbedding(schema, self.embedding_dim)
            self.scale = scale

        def forward(self, categorical, numeric):
            first = self.embedding(categorical, numeric)[..., 0].sum(dim=1)
            return self.linear(categorical, numeric) + self.scale * first
    '''
)
MY_POLICIES = textwrap.dedent(
    '''
    import numpy as np


    def popular_first(observation, rows, model, slate_size):
        """Not personalised: the candidates retrieval returns most often today, first."""
        candidates = observation.candidates[rows]
        counts = np.bincount(observation.candidates.ravel())
        order = np.argsort(-counts[candidates], axis=1, kind="stable")[:, :slate_size]
        return np.take_along_axis(candidates, order, axis=1)


    def no_slate_size(observation, rows, model):
        return None
    '''
)


@pytest.fixture
def recipes(tmp_path, monkeypatch):
    (tmp_path / "my_recipes.py").write_text(MY_RECIPES)
    (tmp_path / "my_models.py").write_text(MY_MODELS)
    (tmp_path / "my_policies.py").write_text(MY_POLICIES)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def frame(n: int = 3000) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 50, n), rng.integers(0, 30, n)
    click = (rng.random(n) < 0.1 + 0.3 * (users % 3 == 0)).astype(np.int8)
    return pl.DataFrame({"user": users, "item": items, "click": click, "last": rng.random(n)})


def test_a_hand_written_loss_trains_exactly_like_the_built_in(recipes):
    data = frame()
    common = dict(
        features=["user", "item"], model="lr", train=TrainSpec(epochs=2), seed=3, y_last="last"
    )
    for name, spec in (("bce", {"_target_": "my_recipes.my_bce"}),
                       ("reloop", {"_target_": "my_recipes.my_reloop"})):  # fmt: skip
        built_in = reloop.fit(data, loss=name, alpha=0.5, **common)
        plugged = reloop.fit(data, loss=spec, alpha=0.5, **common)
        a, b = built_in.model.state_dict(), plugged.model.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    anchored = reloop.fit(data, loss={"_target_": "my_recipes.Anchored", "weight": 5.0}, **common)
    bce = reloop.fit(data, loss="bce", **common)
    assert not np.allclose(reloop.predict(anchored, data), reloop.predict(bce, data))


def test_a_plugged_loss_is_checked_before_any_training(recipes):
    with pytest.raises(ValueError, match=r"cannot import 'my_recipes\.nothing'"):
        resolve_loss({"_target_": "my_recipes.nothing"})
    with pytest.raises(ValueError, match="failed on a test batch"):
        check_loss(resolve_loss({"_target_": "my_recipes.wrong_signature"}), 0.5)
    check_loss(resolve_loss({"_target_": "my_recipes.Anchored", "weight": 1.0}), 0.5)


@pytest.mark.slow
def test_a_recipe_from_outside_the_package_drives_the_simulator(recipes, reference_run, tmp_path):
    """The reference run's treatment is the built-in ReLoop at alpha 0.5: the same recipe written
    in a user's module gives a byte-identical daily.csv, launch effect included."""
    env = {**os.environ, "PYTHONPATH": f"{recipes}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    base = [sys.executable, "-m", "abtest_sim", "experiment=smoke", "warmup_cache=null"]
    mine = "arm.treatment.recipe={_target_:my_recipes.my_reloop}"
    run = subprocess.run(
        [*base, f"run_dir={tmp_path / 'run'}", mine],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "run" / "report" / "daily.csv").read_bytes() == (
        reference_run / "report" / "daily.csv"
    ).read_bytes()
    bad = subprocess.run(
        [*base, f"run_dir={tmp_path / 'bad'}",
         "arm.treatment.recipe={_target_:my_recipes.wrong_signature}"],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert bad.returncode == 2 and "failed on a test batch" in bad.stderr
    assert not (tmp_path / "bad").exists()


def test_a_backbone_from_outside_the_package_trains_saves_and_loads(recipes, tmp_path):
    data = frame()
    spec = {"_target_": "my_models.Tiny"}
    tiny = ModelSpec(spec, options={"scale": 0.5})
    model = reloop.fit(data, ["user", "item"], model=tiny, seed=1)
    model.save(tmp_path / "tiny.pt")
    again = reloop.load(tmp_path / "tiny.pt")
    assert type(again.model).__name__ == "Tiny" and again.model.scale == 0.5
    np.testing.assert_array_equal(reloop.predict(model, data), reloop.predict(again, data))
    with pytest.raises(ValueError, match="has no option"):
        reloop.fit(data, ["user", "item"], model=ModelSpec(spec, options={"scael": 0.5}))
    with pytest.raises(ValueError, match=r"not a reloop\.models\.CTRModel subclass"):
        reloop.fit(data, ["user", "item"], model={"_target_": "torch.nn.Linear"})


@pytest.mark.slow
def test_a_backbone_from_outside_the_package_drives_the_simulator(recipes, tmp_path):
    env = {**os.environ, "PYTHONPATH": f"{recipes}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = [sys.executable, "-m", "abtest_sim", "experiment=smoke", "warmup_cache=null",
               f"run_dir={tmp_path / 'run'}", "model.name={_target_:my_models.Tiny}",
               "+model.options.scale=0.5"]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr
    saved = reloop.load(tmp_path / "run" / "models" / "start.pt")
    assert type(saved.model).__name__ == "Tiny"
    typo = subprocess.run([*command[:-1], "+model.options.scael=0.5"], capture_output=True,
                          text=True, timeout=600, env=env)  # fmt: skip
    assert typo.returncode == 2 and "has no option(s) ['scael']" in typo.stderr


@pytest.mark.slow
def test_a_serving_policy_from_outside_the_package_drives_the_simulator(
    recipes, reference_run, tmp_path
):
    """The treatment serves with a user's policy in the A/B phase: the A/A days are the reference
    run's, the A/B days' slates are the policy's; a policy with the wrong signature is refused
    before any day."""
    from abtest_sim.sim import logs

    env = {**os.environ, "PYTHONPATH": f"{recipes}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    base = [sys.executable, "-m", "abtest_sim", "experiment=smoke", "warmup_cache=null"]
    mine = "arm.treatment.policy={_target_:my_policies.popular_first}"
    run = subprocess.run(
        [*base, f"run_dir={tmp_path / 'run'}", mine],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    daily = pl.read_csv(tmp_path / "run" / "report" / "daily.csv", infer_schema_length=None)
    reference = pl.read_csv(reference_run / "report" / "daily.csv", infer_schema_length=None)
    aa = pl.col("phase") == "aa"
    served_aa = ["clicks_control", "clicks_treatment", "lift", "target_lift", "launch_lift"]
    assert daily.filter(aa).select(served_aa).equals(reference.filter(aa).select(served_aa))
    ab = daily.filter(pl.col("phase") == "ab")
    assert not ab.equals(reference.filter(pl.col("phase") == "ab"))
    assert (ab["launch_lift"] != 0).all()  # the launch effect of shipping the policy
    first_ab = 1 + 2  # experiment=smoke: day 0 warm-up, days 1-2 A/A
    served = logs.scan(tmp_path / "run" / "logs", ["treatment"], [first_ab]).collect()
    assert (served["explored"] == 0).all() and served["pctr"].is_between(0, 1).all()
    bad = subprocess.run(
        [*base, f"run_dir={tmp_path / 'bad'}",
         "arm.treatment.policy={_target_:my_policies.no_slate_size}"],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 2 and len(lines) == 1, bad.stderr
    assert "arm.treatment.policy: my_policies.no_slate_size cannot be called" in lines[0]
    assert not (tmp_path / "bad").exists()
