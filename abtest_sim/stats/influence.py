"""Per-user influence functions: the covariance of estimates that share users.

A smooth function of arm ratios (a lift, a lift minus a lift, a mean of daily lifts) is, to first
order, a sum over users of each user's influence. Estimates computed on the same users (the days of
one test, the A/A and A/B weeks) are correlated through those users, and

    Cov(T_j, T_k) = sum over groups g, users i in g of phi_g[j, i] * phi_g[k, i].

A group is a set of independent users, in practice one arm. Influence matrices are scaled so that
the diagonal reproduces the ddof-1 delta-method variance of ``abtest_sim.stats.ratio`` exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from abtest_sim.stats.ratio import two_sided_p, z_critical


@dataclass(frozen=True)
class Linearized:
    """K estimates with per-group influence matrices (group -> array of shape (K, users))."""

    value: np.ndarray
    influence: Mapping[str, np.ndarray]

    def covariance(self) -> np.ndarray:
        """The (K, K) covariance matrix of the estimates."""
        cov = np.zeros((self.value.size, self.value.size))
        for phi in self.influence.values():
            cov += phi @ phi.T
        return cov

    def variance(self) -> np.ndarray:
        """The diagonal of ``covariance()``, without forming the matrix."""
        out = np.zeros(self.value.size)
        for phi in self.influence.values():
            out += np.einsum("ki,ki->k", phi, phi)
        return out

    def se(self) -> np.ndarray:
        return np.sqrt(self.variance())

    def combine(self, weights: ArrayLike) -> Linearized:
        """The linear combinations ``weights @ value`` (weights of shape (J, K))."""
        w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
        return Linearized(w @ self.value, {g: w @ phi for g, phi in self.influence.items()})

    def without(self, undefined: np.ndarray) -> Linearized:
        """The estimates with the ``undefined`` ones set to 0 with no influence, so that linear
        combinations giving them weight 0 stay finite (their own rows must be blanked after)."""
        if not undefined.any():
            return self
        value = np.where(undefined, 0.0, self.value)
        influence = {g: np.where(undefined[:, None], 0.0, phi) for g, phi in self.influence.items()}
        return Linearized(value, influence)

    def select(self, index: ArrayLike) -> Linearized:
        idx = np.asarray(index)
        return Linearized(self.value[idx], {g: phi[idx] for g, phi in self.influence.items()})

    def wald(self, alpha: float) -> WaldColumns:
        """Normal intervals and p-values of every estimate against 0."""
        se = self.se()
        half = z_critical(alpha) * se
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(se > 0, two_sided_p(self.value / se), np.where(self.value == 0, 1.0, 0.0))
        return WaldColumns(self.value, se, self.value - half, self.value + half, p)


@dataclass(frozen=True)
class WaldColumns:
    """Estimates with standard errors, normal intervals and two-sided p-values (arrays)."""

    estimate: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p_value: np.ndarray


def chain(value: ArrayLike, parts: Sequence[tuple[ArrayLike, Linearized]]) -> Linearized:
    """Linearisation of y = f(x_1, ..., x_m), element by element over the K estimates.

    ``parts`` holds (dy/dx_j, x_j) pairs; influences of the same group add up, because the same
    users drive every input that group appears in.
    """
    out = np.asarray(value, dtype=np.float64)
    influence: dict[str, np.ndarray] = {}
    for grad, x in parts:
        g = np.asarray(grad, dtype=np.float64).reshape(-1, 1)
        for group, phi in x.influence.items():
            term = g * phi
            influence[group] = influence[group] + term if group in influence else term
    return Linearized(out, influence)


def relative_lift_of(control: Linearized, treatment: Linearized) -> Linearized:
    """L = R_B / R_A - 1 with its influence (delta method; arms may share users or not)."""
    r_a, r_b = control.value, treatment.value
    return chain(r_b / r_a - 1.0, [(1.0 / r_a, treatment), (-r_b / r_a**2, control)])


@dataclass(frozen=True)
class RatioPanel:
    """An arm's ratio on each of D periods, over one fixed list of n users.

    ``deviation[d, i] = (C_di - R_d M_di) / Mbar_d`` is user i's linearised metric minus its mean
    (zero for users absent in period d); ``users[d]`` counts the users present in period d.
    """

    ratio: np.ndarray
    deviation: np.ndarray
    users: np.ndarray
    sum_den: np.ndarray

    @property
    def influence(self) -> np.ndarray:
        # Var(R_d) = s2_u / n_d = sum_i dev^2 / (n_d (n_d - 1)): the ddof-1 delta variance.
        return self.deviation / np.sqrt(self.users * (self.users - 1.0))[:, None]

    def linearized(self, group: str) -> Linearized:
        return Linearized(self.ratio, {group: self.influence})


def ratio_panel(
    num: ArrayLike, den: ArrayLike, present: ArrayLike | None = None, *, strict: bool = True
) -> RatioPanel:
    """Per-period ratios of one arm from (D, n) matrices of per-user numerators and denominators.

    ``present`` marks the users that belong to each period's sample (default: den > 0); absent users
    must have zero numerator and denominator. A period needs 2 users and a positive denominator;
    ``strict=False`` gives the others a NaN ratio and no influence instead of raising.
    """
    c = np.atleast_2d(np.asarray(num, dtype=np.float64))
    m = np.atleast_2d(np.asarray(den, dtype=np.float64))
    mask = m > 0 if present is None else np.atleast_2d(np.asarray(present, dtype=bool))
    if c.shape != m.shape or mask.shape != c.shape:
        raise ValueError(f"num, den and present must share one shape, got {c.shape}, {m.shape}")
    if (~mask & ((c != 0) | (m != 0))).any():
        raise ValueError("users marked absent must have zero num and den")
    users = mask.sum(axis=1).astype(np.float64)
    sum_den = m.sum(axis=1)
    undefined = (users < 2) | (sum_den <= 0)
    if strict and undefined.any():
        raise ValueError("every period needs at least 2 users and a positive denominator")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(undefined, np.nan, c.sum(axis=1) / sum_den)
        mean_den = sum_den / users
        deviation = (c - ratio[:, None] * m) / mean_den[:, None]
    deviation[undefined] = 0.0
    users = np.where(undefined, 2.0, users)  # any value > 1: the influence of those rows is 0
    return RatioPanel(ratio=ratio, deviation=deviation, users=users, sum_den=sum_den)
