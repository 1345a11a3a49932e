"""Sample ratio mismatch against scipy's chi-square goodness-of-fit test."""

import numpy as np
import pytest
from scipy.stats import chisquare

from abtest_sim.stats import srm_test


@pytest.mark.parametrize(
    ("counts", "shares"),
    [
        ([5000, 5100], None),
        ([5000, 5300], [1, 1]),
        ([3000, 3050, 6100], [0.25, 0.25, 0.5]),
        ([900, 100], [9, 1]),
    ],
)
def test_srm_equals_scipy_chisquare(counts, shares) -> None:
    weights = np.ones(len(counts)) if shares is None else np.asarray(shares, dtype=float)
    expected = np.sum(counts) * weights / weights.sum()
    reference = chisquare(counts, expected)
    result = srm_test(counts, shares)
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert result.df == len(counts) - 1
    assert result.expected == pytest.approx(tuple(expected))


def test_srm_flags_a_lost_percent_of_a_large_arm() -> None:
    assert srm_test([100_000, 99_000]).p_value < 0.05
    assert srm_test([100_000, 99_900]).p_value > 0.05


def test_srm_rejects_malformed_input() -> None:
    with pytest.raises(ValueError, match="one entry per arm"):
        srm_test([10])
    with pytest.raises(ValueError, match="one entry per arm"):
        srm_test([10, 20], [1, 1, 1])
    with pytest.raises(ValueError, match="positive"):
        srm_test([10, 20], [1, 0])
    with pytest.raises(ValueError, match="non-negative"):
        srm_test([-1, 20])
