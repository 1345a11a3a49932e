"""The confidence sequence against independent computations: the normal-mixture martingale by
quadrature, the optimal tuning by numerical minimisation, time-uniform coverage by simulation."""

import math

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from abtest_sim.stats.sequential import (
    boundary_multiplier,
    confidence_sequence,
    optimal_information,
    rho_for_units,
)


def mixture_martingale(s: float, t: float, rho: float) -> float:
    """integral of exp(lam s - lam^2 t / 2) over lam ~ N(0, rho^2), by quadrature: the e-process
    of a standardised sum ``s`` of ``t`` unit-variance observations."""

    def integrand(lam: float) -> float:
        return math.exp(lam * s - lam**2 * t / 2) * stats.norm.pdf(lam, scale=rho)

    peak = s / (t + 1 / rho**2)  # the integrand's mode; integrate around it
    width = 12 / math.sqrt(t + 1 / rho**2)
    value, _ = integrate.quad(integrand, peak - width, peak + width, epsabs=0, epsrel=1e-10)
    return value


@pytest.mark.parametrize("t", [1, 10, 500, 20_000])
@pytest.mark.parametrize("rho", [0.01, 0.3])
@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_the_boundary_is_where_the_mixture_martingale_reaches_one_over_alpha(t, rho, alpha):
    # In units of one observation's SD the estimate is s / t and its SE 1 / sqrt(t).
    half = boundary_multiplier(t, rho, alpha) / math.sqrt(t)
    assert mixture_martingale(t * half, t, rho) == pytest.approx(1 / alpha, rel=1e-6)
    assert mixture_martingale(0.9 * t * half, t, rho) < 1 / alpha


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1])
def test_optimal_information_minimises_the_width(alpha):
    def multiplier(v: float) -> float:
        return float(boundary_multiplier(v, 1.0, alpha))

    found = optimize.minimize_scalar(multiplier, bounds=(0.01, 1000), method="bounded",
                                     options={"xatol": 1e-9})  # fmt: skip
    assert optimal_information(alpha) == pytest.approx(found.x, rel=1e-5)
    assert multiplier(optimal_information(alpha)) == pytest.approx(
        math.sqrt(optimal_information(alpha) + 1), rel=1e-9
    )
    # gbstats' closed-form approximation of the same optimum is close
    approx = -2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)
    assert optimal_information(alpha) == pytest.approx(approx, rel=0.06)


def test_rho_for_units_is_tightest_at_those_units():
    rho = rho_for_units(5000, 0.05)
    widths = boundary_multiplier(np.array([2500, 4900, 5000, 5100, 10_000]), rho, 0.05)
    assert np.argmin(widths) == 2
    assert widths[2] == pytest.approx(3.0351, abs=1e-4)  # against 1.96 for one look


def test_time_uniform_coverage_on_gaussian_streams():
    """Each stream: i.i.d. N(mu, 3^2) observations, the sample mean and its estimated SE at every
    t from 20 to 2,000; the sequence misses mu at some t in at most alpha of the streams, while
    the fixed-horizon interval read at every t misses far more often."""
    rng = np.random.default_rng(0)
    streams, horizon, mu, sd, alpha = 2000, 2000, 0.5, 3.0, 0.05
    x = rng.normal(mu, sd, (streams, horizon))
    t = np.arange(1, horizon + 1)
    mean = np.cumsum(x, axis=1) / t
    var = (np.cumsum(x**2, axis=1) - t * mean**2) / np.maximum(t - 1, 1)
    se = np.sqrt(var / t)
    looks = slice(19, None)
    units = np.broadcast_to(t, x.shape)[:, looks]
    low, high = confidence_sequence(
        mean[:, looks], se[:, looks], units, alpha=alpha, rho=rho_for_units(500, alpha)
    )
    missed = ((low > mu) | (high < mu)).any(axis=1).mean()
    z = stats.norm.ppf(1 - alpha / 2)
    fixed = (np.abs(mean - mu)[:, looks] > z * se[:, looks]).any(axis=1).mean()
    assert missed <= alpha
    assert missed > alpha / 10  # a real boundary, not an infinitely wide one
    assert fixed > 4 * alpha


def test_default_tuning_is_the_last_look_and_bad_values_are_refused():
    estimate, se, units = np.array([0.1, 0.05]), np.array([0.05, 0.02]), np.array([100, 400])
    low, high = confidence_sequence(estimate, se, units, alpha=0.05)
    assert high[-1] - estimate[-1] == pytest.approx(math.sqrt(optimal_information(0.05) + 1) * 0.02)
    assert (high - low > 2 * 1.959964 * se).all()
    with pytest.raises(ValueError, match="rho"):
        confidence_sequence(estimate, se, units, alpha=0.05, rho=-1.0)
    with pytest.raises(ValueError, match="alpha"):
        confidence_sequence(estimate, se, units, alpha=1.5)
    with pytest.raises(ValueError, match="shape"):
        confidence_sequence(estimate, se[:1], units, alpha=0.05)
