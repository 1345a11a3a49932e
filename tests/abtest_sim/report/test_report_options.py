"""The report's options (``conf/stats``): unknown keys and values are errors naming them."""

from __future__ import annotations

import pytest

from abtest_sim.analysis.options import ReportOptions


def test_unknown_stats_options_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown key"):
        ReportOptions.from_mapping({"alhpa": 0.1})
    with pytest.raises(ValueError, match="unknown estimator"):
        ReportOptions.from_mapping({"lineage_sd": {"raw": 0.01}})
    with pytest.raises(ValueError, match="headline"):
        ReportOptions.from_mapping({"headline": "best"})
