"""Logistic matrix factorisation of logged clicks: the world's click model fitted to a log.

    logit P(click) = g + b_user + b_item + <u_user, v_item>

minimised with an L2 penalty by L-BFGS (scipy) on the exact gradient, accumulated per user and
item with ``np.bincount`` (no per-row Python); and the same model with item parameters held fixed
and one user vector per (user, time window): the windows' vectors are what the drift estimate
compares. The penalty ``l2`` is in pseudo-impressions: a parameter's prior weighs as much as
``l2`` impressions of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

__all__ = ["Factors", "fit_factors", "fit_window_vectors"]

BIAS_PENALTY = 0.1  # biases are shrunk ten times less than factors
MAX_ITERATIONS = 500


@dataclass(frozen=True)
class Factors:
    global_bias: float
    user_bias: np.ndarray  # float64 [n_users]
    item_bias: np.ndarray  # float64 [n_items]
    user_vec: np.ndarray  # float64 [n_users, k]
    item_vec: np.ndarray  # float64 [n_items, k]

    @property
    def k(self) -> int:
        return self.user_vec.shape[1]


def fit_factors(
    user: np.ndarray, item: np.ndarray, click: np.ndarray, *, k: int, l2: float, seed: int = 0
) -> Factors:
    """The penalised maximum-likelihood MF of ``click`` over (user, item) rows."""
    n_users, n_items = int(user.max()) + 1, int(item.max()) + 1
    y = click.astype(np.float64)
    rng = np.random.default_rng(seed)
    start = np.concatenate([
        [np.log(y.mean() / (1 - y.mean()))], np.zeros(n_users + n_items),
        0.1 * rng.standard_normal((n_users + n_items) * k),
    ])  # fmt: skip
    shapes = (n_users, n_items, k)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        g, bu, bi, u, v = _unpack(theta, shapes)
        logit = g + bu[user] + bi[item] + np.einsum("nk,nk->n", u[user], v[item])
        loss, residual = _nll(logit, y)
        penalty = l2 * (np.sum(u**2) + np.sum(v**2) + BIAS_PENALTY * (bu @ bu + bi @ bi))
        grad_u = _sum_by(user, residual[:, None] * v[item], n_users) + 2 * l2 * u
        grad_v = _sum_by(item, residual[:, None] * u[user], n_items) + 2 * l2 * v
        grad = np.concatenate([
            [residual.sum()],
            np.bincount(user, residual, n_users) + 2 * l2 * BIAS_PENALTY * bu,
            np.bincount(item, residual, n_items) + 2 * l2 * BIAS_PENALTY * bi,
            grad_u.ravel(), grad_v.ravel(),
        ])  # fmt: skip
        return (loss + penalty) / y.size, grad / y.size

    theta = _minimise(objective, start)
    g, bu, bi, u, v = _unpack(theta, shapes)
    return Factors(float(g), bu.copy(), bi.copy(), u.copy(), v.copy())


def fit_window_vectors(
    factors: Factors,
    pair: np.ndarray,
    user: np.ndarray,
    item: np.ndarray,
    click: np.ndarray,
    *,
    n_pairs: int,
    l2: float,
) -> np.ndarray:
    """float64 [n_pairs, k]: one user vector per (user, window) ``pair`` id, with the global
    bias, biases and item vectors of ``factors`` held fixed (all pairs in one optimisation)."""
    fixed = factors.global_bias + factors.user_bias[user] + factors.item_bias[item]
    v = factors.item_vec[item]
    y = click.astype(np.float64)
    k = factors.k

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        p = theta.reshape(n_pairs, k)
        loss, residual = _nll(fixed + np.einsum("nk,nk->n", p[pair], v), y)
        grad = _sum_by(pair, residual[:, None] * v, n_pairs) + 2 * l2 * p
        return (loss + l2 * np.sum(p**2)) / y.size, grad.ravel() / y.size

    return _minimise(objective, np.zeros(n_pairs * k)).reshape(n_pairs, k)


def _unpack(theta: np.ndarray, shapes: tuple[int, int, int]) -> tuple:
    n_users, n_items, k = shapes
    cuts = np.cumsum([1, n_users, n_items, n_users * k])
    g, bu, bi, u, v = np.split(theta, cuts)
    return g[0], bu, bi, u.reshape(n_users, k), v.reshape(n_items, k)


def _nll(logit: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Summed negative log-likelihood and its derivative in each logit (p - y)."""
    loss = -(y @ log_expit(logit) + (1 - y) @ log_expit(-logit))
    return float(loss), expit(logit) - y


def _sum_by(index: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Row sums of ``values`` [n, k] grouped by ``index``: [size, k], one bincount a column."""
    columns = [np.bincount(index, values[:, c], size) for c in range(values.shape[1])]
    return np.stack(columns, axis=1)


def _minimise(
    objective: Callable[[np.ndarray], tuple[float, np.ndarray]], start: np.ndarray
) -> np.ndarray:
    result = minimize(objective, start, jac=True, method="L-BFGS-B",
                      options={"maxiter": MAX_ITERATIONS})  # fmt: skip
    return result.x
