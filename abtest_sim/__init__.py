"""abtest_sim: a closed-loop A/B simulator for CTR models and the statistics to read its tests.

From Python: ``abtest_sim.analyze(log, metrics=[abtest_sim.Metric.ratio(...)], control=...,
treatments=[...])`` (``abtest_sim.analysis.api``), loaded on first use so that the command-line
tools start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from abtest_sim.analysis.api import Analysis, AnalysisError, analyze
    from abtest_sim.analysis.metrics import Metric, MetricError

__all__ = ["Analysis", "AnalysisError", "Metric", "MetricError", "analyze"]


def __getattr__(name: str) -> Any:
    if name in ("Analysis", "AnalysisError", "analyze"):
        from abtest_sim.analysis import api

        return getattr(api, name)
    if name in ("Metric", "MetricError"):
        from abtest_sim.analysis import metrics

        return getattr(metrics, name)
    raise AttributeError(f"module 'abtest_sim' has no attribute {name!r}")
