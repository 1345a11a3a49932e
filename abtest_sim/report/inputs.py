"""What ``write_report`` is given: the per-(unit, arm, day) table, which arms to compare
(``Arms``), how to read the test (``ReportOptions``) and what the caller knows beyond the table
(``ReportContext``: where it came from, and a simulator's launch truth, design, health and
calibration)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from abtest_sim.analysis.options import ReportOptions

__all__ = ["Arms", "ReportContext", "ReportInput"]


@dataclass(frozen=True)
class Arms:
    """The compared arms: ``aa_control`` is a concurrent second control (A/A'), giving the
    shared-control A/B minus A/A; ``shares``: the designed share of users per arm for the SRM
    test (None: equal)."""

    control: str
    treatment: str
    aa_control: str | None = None
    shares: Mapping[str, float] | None = None


@dataclass(frozen=True)
class ReportContext:
    """What the writer knows beyond the table.

    - ``owner``: the app writing; an existing ``report/`` is replaced only if that app wrote it
      (``reloop.owned``: files it did not write are kept, another app's or a user's folder is
      refused with ``NotOwned`` before any work);
    - ``metadata``: goes into summary.json's "input" (where the log came from: ``source`` and
      ``input`` also make the page's footer line);
    - ``recipes``: each arm's recipe in words (e.g. "reloop, alpha 0.5"), for the title;
    - ``launch_truth`` (day, arm, true_clicks, impressions): a simulator's launch lineages (each
      arm's recipe serving and trained on every user); ``paired``: every unit in every arm;
    - ``diverged``: arms whose model diverged (``abtest_sim.sim.health``), the first warning;
    - ``calibration``: a per-(arm, day) table with any of ``report.calibration``'s columns (a
      simulator's ``abtest_sim.sim.diagnostics``), written as calibration.csv and shown;
    - ``lineage_note``: where the options' lineage SDs came from (a measurement of the design),
      or without them how to measure them, in the app's own words (default: a general hint).
    """

    owner: str = "abtest-analyze"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    recipes: Mapping[str, str] = field(default_factory=dict)
    launch_truth: pl.DataFrame | None = None
    paired: bool = False
    diverged: Mapping[str, str] = field(default_factory=dict)
    calibration: pl.DataFrame | None = None
    lineage_note: str = ""


@dataclass(frozen=True)
class ReportInput:
    """Everything a report is made from. ``unit_days``: columns unit, arm, day, clicks,
    impressions; optional phase ("aa" / "ab") and true_clicks."""

    unit_days: pl.DataFrame
    arms: Arms
    options: ReportOptions = field(default_factory=ReportOptions)
    context: ReportContext = field(default_factory=ReportContext)
