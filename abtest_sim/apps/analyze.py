"""``abtest-analyze``: the A/B test report of a log (CSV or parquet) of a real or simulated test.

``analyze(settings)`` is the plain function (it returns the report's summary); the Hydra app is a
thin wrapper that turns input errors into one line on stderr and exit code 2. The log is read and
validated (``abtest_sim.analysis.real_log``) before the report (and the heavy imports behind it)
starts.
"""

from __future__ import annotations

import importlib.resources
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
import polars as pl
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from abtest_sim.analysis.real_log import FORMATS, AnalyzeError, LogSpec, read_unit_days
from abtest_sim.report.format import interval
from reloop.hydra_app import CONF_PACKAGE, one_line_errors, precheck
from reloop.schema import SchemaError, build, plain

if TYPE_CHECKING:
    from abtest_sim.report.writer import ReportSummary

CONFIG_FILE = "analyze.yaml"  # in CONF_PACKAGE
CONFIG_NAME = "abtest_analyze"
# Where a real log's interval omits the lineage variance: the key this app takes.
ANALYZE_LINEAGE_HINT = (
    "pass an SD measured for a comparable design as lineage_sd={cuped: 0.004} "
    "(abtest-sim-forecast measures one for a simulated design)"
)
PROG = "abtest-analyze"


@dataclass(frozen=True, kw_only=True)
class AnalyzeSettings(LogSpec):
    """The settings of conf/analyze.yaml: what to read (``LogSpec``) and how to report it."""

    out: Path
    control: str
    treatment: str
    aa_control: str | None = None
    alpha: float = 0.05
    shares: dict[str, float] | None = None
    headline: str = "auto"  # the estimator the report leads with (abtest_sim.analysis.options)
    lineage_sd: dict[str, Any] | None = None  # model-lineage SD per estimator, if measured
    cs_rho: Any = None  # tuning of the confidence sequence (checked by ReportOptions)

    @classmethod
    def from_config(cls, cfg: DictConfig) -> AnalyzeSettings:
        """conf/analyze.yaml's settings through the one schema reader (``reloop.schema.build``):
        an unknown key or a value of the wrong type is refused naming it."""
        for key in ("input", "control", "treatment"):
            if OmegaConf.is_missing(cfg, key) or cfg.get(key) is None:
                raise AnalyzeError(f"{key}= is required (e.g. input=log.csv control=A treatment=B)")
        raw = plain(cfg)
        for key in NAME_KEYS:  # arm and column names may be written as numbers (control=0)
            if isinstance(raw.get(key), int) and not isinstance(raw[key], bool):
                raw[key] = str(raw[key])
        try:
            settings = build(cls, raw, "")
        except SchemaError as error:
            raise AnalyzeError(str(error)) from None
        settings.check()
        return settings

    def check(self) -> None:
        if self.format not in FORMATS:
            raise AnalyzeError(f"format must be one of {', '.join(FORMATS)}, got {self.format}")
        if not 0 < self.alpha < 1:
            raise AnalyzeError(f"alpha must lie in (0, 1), got {self.alpha}")
        for arm, share in (self.shares or {}).items():
            if share <= 0:  # a share of 0 or less would leave the SRM test without a design
                raise AnalyzeError(f"shares.{arm} must be positive, got {share!r}")


# Settings that name arms or columns: a number there is a name.
NAME_KEYS = ("control", "treatment", "aa_control", "unit", "arm", "day", "click", "clicks",
             "impressions", "p_true", "true_clicks", "phase")  # fmt: skip


def analyze(settings: AnalyzeSettings) -> ReportSummary:
    """Read, validate and report; raises ``AnalyzeError`` (one line) on bad input."""
    if settings.out.exists() and not settings.out.is_dir():
        raise AnalyzeError(f"out={settings.out} is a file, not a directory")
    table, shape = read_unit_days(settings)
    # The report pulls in scipy, statsmodels and matplotlib: only once the file itself is known
    # good, so that most bad input is answered in well under a second.
    from abtest_sim.analysis.options import ReportOptionsError
    from abtest_sim.report.writer import (
        Arms,
        ReportContext,
        ReportInput,
        ReportInputError,
        ReportOptions,
        write_report,
    )

    try:
        options = ReportOptions.from_mapping(
            {
                "alpha": settings.alpha,
                "headline": settings.headline,
                "lineage_sd": settings.lineage_sd,
                "cs_rho": settings.cs_rho,
            }
        )
    except ReportOptionsError as error:
        raise AnalyzeError(str(error).replace("stats.", "")) from None

    metadata = {
        "input": str(settings.input),
        "format": shape,
        "columns": {"unit": settings.unit, "arm": settings.arm, "day": settings.day},
        "phase": settings.phase,
        "aa_days": settings.aa_days,
    }
    arms = Arms(
        settings.control, settings.treatment, aa_control=settings.aa_control, shares=settings.shares
    )
    context = ReportContext(owner=PROG, metadata=metadata, lineage_note=ANALYZE_LINEAGE_HINT)
    report = ReportInput(table, arms, options, context)
    try:
        return write_report(report, settings.out)
    except ReportInputError as error:  # the table is unusable: arms, counts, phases
        raise AnalyzeError(str(error)) from None


def load_unit_days(settings: AnalyzeSettings) -> pl.DataFrame:
    """The log as one row per (unit, arm, day) with clicks and impressions (+ phase, truth)."""
    return read_unit_days(settings)[0]


def _headline(summary: ReportSummary) -> str:
    lead = summary.lead
    shown = interval(lead.lift, lead.total_ci_low, lead.total_ci_high)
    return (
        f"{PROG}: {summary.treatment} vs {summary.control}: {lead.label} {shown}, "
        f"p = {lead.total_p_value:.4g}; report: {summary.report_dir / 'report.md'}"
    )


def register_config() -> None:
    """Put conf/analyze.yaml into Hydra's ConfigStore as ``CONFIG_NAME``.

    The app does not search conf/ itself: conf/ also holds abtest-sim's config groups (arm/, model/,
    ...), and Hydra would read the contract override ``arm=<column>`` as a choice of the ``arm``
    group and refuse it. From the store, the yaml is the same single source of the settings.
    """
    text = importlib.resources.files(CONF_PACKAGE).joinpath(CONFIG_FILE).read_text()
    ConfigStore.instance().store(name=CONFIG_NAME, node=OmegaConf.create(text))


register_config()


@hydra.main(version_base="1.3", config_path=None, config_name=CONFIG_NAME)
def _hydra_main(cfg: DictConfig) -> None:
    with one_line_errors(PROG, AnalyzeError):
        summary = analyze(AnalyzeSettings.from_config(cfg))
    print(_headline(summary))


def main() -> None:
    precheck(PROG, CONFIG_NAME, sys.argv[1:], stored=True)
    _hydra_main()


if __name__ == "__main__":
    main()
