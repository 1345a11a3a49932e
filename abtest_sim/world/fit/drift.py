"""How fast user tastes move: an Ornstein-Uhlenbeck time constant fitted from a log.

Each user's vector is fitted separately on successive time windows (item parameters fixed, see
``factors.fit_window_vectors``). Under the world's taste model ``u(t) = m + d(t)`` with ``d`` an
OU process, the covariance across users of a user's vectors in two windows ``L`` days apart is

    c(L) = var(m) + var(d) * exp(-L / tau)

while the estimation noise of each window's vector is independent between windows, so it is
absent from every ``c(L)`` with ``L > 0``. ``c`` at lags of one window and more is fitted by least
squares, giving ``tau`` and the persistent share ``var(m) / (var(m) + var(d))``; their interval
comes from a bootstrap over users (a user's windows resampled together).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import curve_fit

from abtest_sim.world.fit.factors import Factors, fit_window_vectors
from abtest_sim.world.fit.log import InteractionLog

__all__ = ["DriftEstimate", "estimate_drift"]

TAU_MAX = 10_000.0  # days: a fitted tau at this bound means "no measurable drift"


@dataclass(frozen=True)
class DriftEstimate:
    tau: float  # days
    tau_interval: tuple[float, float]  # bootstrap percentile interval
    persistent_share: float  # var(m) / (var(m) + var(d))
    window_days: int
    lags: np.ndarray  # days
    covariance: np.ndarray  # c(L) per lag
    n_users: int  # users seen in at least two windows

    def to_dict(self) -> dict[str, object]:
        return {
            "tau_days": self.tau,
            "tau_interval_days": list(self.tau_interval),
            "persistent_share": self.persistent_share,
            "window_days": self.window_days,
            "users_in_two_windows": self.n_users,
            "lag_days": self.lags.tolist(),
            "lag_covariance": self.covariance.tolist(),
        }


def estimate_drift(
    log: InteractionLog,
    factors: Factors,
    *,
    window_days: int,
    l2: float,
    bootstrap: int = 200,
    seed: int = 0,
) -> DriftEstimate | None:
    """The drift estimate, or None when fewer than three lags have users in both windows."""
    window = log.day // window_days
    pair_key = log.user * (int(window.max()) + 1) + window
    keys, pair = np.unique(pair_key, return_inverse=True)
    vectors = fit_window_vectors(
        factors, pair, log.user, log.item, log.click, n_pairs=keys.size, l2=l2
    )
    pair_user, pair_window = keys // (int(window.max()) + 1), keys % (int(window.max()) + 1)
    vectors = vectors - _window_means(vectors, pair_window)  # common shifts are not drift
    sums, counts = _lagged_products(vectors, pair_user, pair_window, log.n_users)
    lags = np.flatnonzero(counts.sum(0) > 0)
    lags = lags[lags > 0]
    if lags.size < 3:
        return None
    users = np.flatnonzero(counts[:, lags].sum(1) > 0)
    sums, counts = sums[users][:, lags], counts[users][:, lags]
    lag_days = lags * float(window_days)
    tau, share = _fit_curve(lag_days, sums.sum(0) / counts.sum(0), counts.sum(0))
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(users.size, np.full(users.size, 1 / users.size), size=bootstrap)
    taus = [
        _fit_curve(lag_days, (w @ sums) / np.maximum(w @ counts, 1), w @ counts)[0] for w in draws
    ]
    low, high = np.percentile(taus, [2.5, 97.5])
    return DriftEstimate(
        tau=tau,
        tau_interval=(float(low), float(high)),
        persistent_share=share,
        window_days=window_days,
        lags=lag_days,
        covariance=sums.sum(0) / counts.sum(0),
        n_users=int(users.size),
    )


def _window_means(vectors: np.ndarray, window: np.ndarray) -> np.ndarray:
    totals = np.zeros((int(window.max()) + 1, vectors.shape[1]))
    np.add.at(totals, window, vectors)
    sizes = np.bincount(window, minlength=totals.shape[0])[:, None]
    return (totals / np.maximum(sizes, 1))[window]


def _lagged_products(
    vectors: np.ndarray, user: np.ndarray, window: np.ndarray, n_users: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per user and lag (in windows): the sum over window pairs of the mean per-component
    product of the two vectors, and the number of pairs. Dense [n_users, n_windows]."""
    n_windows = int(window.max()) + 1
    dense = np.full((n_users, n_windows, vectors.shape[1]), np.nan)
    dense[user, window] = vectors
    sums, counts = np.zeros((n_users, n_windows)), np.zeros((n_users, n_windows))
    for lag in range(1, n_windows):  # one vectorised step per lag, not per user
        products = (dense[:, :-lag] * dense[:, lag:]).mean(axis=2)  # NaN: a window unseen
        seen = ~np.isnan(products)
        sums[:, lag] = np.where(seen, products, 0.0).sum(1)
        counts[:, lag] = seen.sum(1)
    return sums, counts


def _fit_curve(
    lags: np.ndarray, covariance: np.ndarray, weights: np.ndarray
) -> tuple[float, float]:
    """(tau, persistent share) of c(L) = a + b exp(-L / tau), a, b >= 0, by weighted LS."""

    def curve(lag: np.ndarray, a: float, b: float, tau: float) -> np.ndarray:
        return a + b * np.exp(-lag / tau)

    top = max(float(np.abs(covariance).max()), 1e-12)
    start = (max(covariance[-1], 0.0), max(covariance[0] - covariance[-1], top * 0.1), lags[0] * 3)
    try:
        (a, b, tau), _ = curve_fit(
            curve, lags, covariance, p0=start, sigma=1 / np.sqrt(np.maximum(weights, 1)),
            bounds=([0.0, 0.0, lags[0] / 20], [np.inf, np.inf, TAU_MAX]), maxfev=5000,
        )  # fmt: skip
    except RuntimeError:  # no convergence: report no measurable drift
        return TAU_MAX, 1.0
    share = a / (a + b) if a + b > 0 else 1.0
    return float(tau), float(share)
