"""Offline CTR metrics: AUC (ties as scikit-learn counts them), logloss and group AUC."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["auc", "group_auc", "logloss"]


def _as_labels_and_scores(y: ArrayLike, score: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(y, dtype=np.float64).ravel()
    scores = np.asarray(score, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise ValueError(f"shape mismatch: y {labels.shape}, score {scores.shape}")
    if not np.isin(labels, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1")
    return labels, scores


def _average_ranks(sorted_keys: np.ndarray) -> np.ndarray:
    """1-based ranks of already sorted keys, tied keys sharing the mean of their ranks."""
    n = sorted_keys.size
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    ends = np.r_[starts[1:], n]
    mean_rank = (starts + ends + 1) / 2.0  # mean of positions start+1 .. end
    return np.repeat(mean_rank, ends - starts)


def auc(y: ArrayLike, score: ArrayLike) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties).

    Equals ``sklearn.metrics.roc_auc_score``; NaN when only one class is present.
    """
    labels, scores = _as_labels_and_scores(y, score)
    n_pos = labels.sum()
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = _average_ranks(scores[order])
    rank_sum = ranks[labels[order] == 1].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def logloss(y: ArrayLike, p: ArrayLike) -> float:
    """Mean binary cross-entropy, probabilities clipped to [eps, 1 - eps] as scikit-learn does."""
    labels, probs = _as_labels_and_scores(y, p)
    eps = np.finfo(np.float64).eps
    probs = np.clip(probs, eps, 1 - eps)
    return float(-np.mean(labels * np.log(probs) + (1 - labels) * np.log1p(-probs)))


def group_auc(y: ArrayLike, score: ArrayLike, groups: ArrayLike) -> float:
    """Impression-weighted mean of per-group AUC (the usual gAUC, groups = users).

    Groups with only clicks or only non-clicks have no AUC and are left out, weights included.
    Computed for all groups at once: one sort by (group, score), ranks within groups.
    """
    labels, scores = _as_labels_and_scores(y, score)
    group_codes = np.unique(np.asarray(groups).ravel(), return_inverse=True)[1]
    if group_codes.shape != labels.shape:
        raise ValueError("groups must have one entry per sample")
    order = np.lexsort((scores, group_codes))
    g, s, lab = group_codes[order], scores[order], labels[order]
    # A new tie block starts wherever the group or the score changes.
    new_block = np.r_[True, (g[1:] != g[:-1]) | (s[1:] != s[:-1])]
    block_id = np.cumsum(new_block) - 1
    ranks_global = _average_ranks(block_id)
    group_start = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    n_in_group = np.diff(np.r_[group_start, g.size])
    ranks = ranks_global - np.repeat(group_start, n_in_group)  # ranks within each group
    n_groups = group_start.size  # codes from np.unique are 0..n_groups-1, all present
    n_pos = np.bincount(g, weights=lab, minlength=n_groups)
    n_total = n_in_group.astype(np.float64)
    n_neg = n_total - n_pos
    rank_sum = np.bincount(g, weights=ranks * lab, minlength=n_groups)
    valid = (n_pos > 0) & (n_neg > 0)
    if not valid.any():
        return float("nan")
    per_group = (rank_sum[valid] - n_pos[valid] * (n_pos[valid] + 1) / 2) / (
        n_pos[valid] * n_neg[valid]
    )
    return float(np.average(per_group, weights=n_total[valid]))
