import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from reloop.metrics import auc, group_auc, logloss


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(5000) < 0.2).astype(int)
    score = np.round(rng.random(5000) + 0.3 * y, 2)  # rounding makes many ties
    assert auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-9)


def test_auc_of_one_class_is_nan():
    assert np.isnan(auc([1, 1, 1], [0.1, 0.2, 0.3]))


@pytest.mark.parametrize("seed", range(3))
def test_logloss_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(3000) < 0.3).astype(int)
    p = rng.random(3000)
    p[:5] = [0.0, 1.0, 0.0, 1.0, 0.5]
    assert logloss(y, p) == pytest.approx(log_loss(y, p), abs=1e-9)


def test_group_auc_matches_per_group_sklearn():
    rng = np.random.default_rng(7)
    n = 4000
    groups = rng.integers(0, 60, n)
    y = (rng.random(n) < 0.25).astype(int)
    score = np.round(rng.random(n) + 0.2 * y, 1)
    aucs, weights = [], []
    for g in np.unique(groups):
        mask = groups == g
        if 0 < y[mask].sum() < mask.sum():
            aucs.append(roc_auc_score(y[mask], score[mask]))
            weights.append(mask.sum())
    expected = np.average(aucs, weights=weights)
    assert group_auc(y, score, groups) == pytest.approx(expected, abs=1e-9)


def test_bad_labels_rejected():
    with pytest.raises(ValueError, match="labels"):
        auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="shape"):
        logloss([0, 1], [0.1])
