"""The candidate draw: distinct items per request; a world whose item popularity is too
concentrated to draw them stops with a one-line reason (it raised a bare RuntimeError, which
ended abtest-sim with a traceback: seed 991 of the ML-100k world with drift_tau=5)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from abtest_sim.world.config import WorldConfig
from abtest_sim.world.requests import CandidateDrawError, draw_candidates


def test_candidates_are_distinct_live_items():
    config = replace(WorldConfig(), n_candidates=5)
    live = np.arange(100, 140)
    rows = draw_candidates(config, live, np.zeros(live.size), 500, seed=1, day=3)
    assert rows.shape == (500, 5)
    assert np.isin(rows, live).all() and (np.diff(rows, axis=1) > 0).all()


def test_too_concentrated_a_popularity_is_a_one_line_reason():
    config = replace(WorldConfig(), n_candidates=5, candidate_popularity=5.0)
    live = np.arange(40)
    bias = np.r_[10.0, np.zeros(live.size - 1)]  # one item holds every slot of the table
    with pytest.raises(CandidateDrawError, match="too concentrated for n_candidates=5") as raised:
        draw_candidates(config, live, bias, 10, seed=1, day=3)
    assert "\n" not in str(raised.value) and "day 3" in str(raised.value)
