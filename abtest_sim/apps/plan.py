"""``abtest-sim-plan``: users per arm and days a test needs, from per-user data
(``abtest_sim.analysis.planning``); the table is read by the one reader of table files
(``reloop.datasets.read_table_file``)."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import hydra
import polars as pl
from omegaconf import DictConfig, OmegaConf

from abtest_sim.analysis.planning import plan_sample_size, render_plan
from abtest_sim.analysis.unit_days import ReportInputError
from reloop.datasets import read_table_file
from reloop.hydra_app import CONF_SEARCH_PATH, one_line_errors, precheck
from reloop.schema import build, plain

__all__ = ["PlanCommand", "main"]

PROG = "abtest-sim-plan"


@dataclass(frozen=True)
class PlanCommand:
    """conf/plan.yaml's keys, read by the one schema reader (``reloop.schema.build``)."""

    input: str
    split_arm: str = "control"
    estimator: str = "auto"
    pre_days: int | None = None  # null: the phase column's aa days
    lift: float = 0.01
    power: float = 0.8
    alpha: float = 0.05
    splits: int = 4
    lineage_sd: float | None = None  # null: from forecast=, else 0
    forecast: str | None = None  # a forecast.json (or its folder) whose measured SD to use
    unit: str = "unit"
    day: str = "day"
    clicks: str = "clicks"
    impressions: str = "impressions"

    @classmethod
    def read(cls, cfg: DictConfig) -> PlanCommand:
        if OmegaConf.is_missing(cfg, "input") or cfg.input is None:
            raise ReportInputError("input= is required (e.g. input=runs/a/unit_days.parquet)")
        raw = plain(cfg)
        arm = raw.get("split_arm")  # an arm may be written as a number
        if isinstance(arm, int) and not isinstance(arm, bool):
            raw["split_arm"] = str(arm)
        command = build(cls, raw, "")
        if command.forecast is not None and command.lineage_sd is not None:
            raise ReportInputError("give lineage_sd= or forecast=, not both")
        return command

    def measured_lineage_sd(self, name: str) -> float:
        """The lineage SD of the estimator ``name``: as given, or as the forecast measured it,
        else 0."""
        if self.lineage_sd is not None:
            return self.lineage_sd
        if self.forecast is None:
            return 0.0
        path = Path(self.forecast)
        path = path / "forecast.json" if path.is_dir() else path
        try:
            validity = json.loads(path.read_text())["forecast"]["validity"]
            sd = float(validity[name]["lineage_sd"])
        except OSError as error:
            raise ReportInputError(
                f"cannot read forecast={self.forecast}: {error.strerror}"
            ) from None
        except (ValueError, KeyError, TypeError) as error:
            raise ReportInputError(
                f"forecast={self.forecast} is not a forecast.json with a lineage SD of "
                f"{name} ({type(error).__name__}: {error})"
            ) from None
        if not math.isfinite(sd):
            raise ReportInputError(f"forecast={self.forecast} measured no lineage SD of {name}")
        return sd

    def table(self) -> pl.DataFrame:
        """The input, its columns renamed to the standard names."""
        frame = read_table_file(self.input)
        names = {self.unit: "unit", self.day: "day", self.clicks: "clicks",
                 self.impressions: "impressions"}  # fmt: skip
        missing = [c for c in [*names, "arm"] if c not in frame.columns]  # arm: the arm column
        if missing:
            raise ReportInputError(f"missing columns {missing} in {self.input}")
        return frame.rename({k: v for k, v in names.items() if k != v})


@hydra.main(version_base="1.3", config_path=CONF_SEARCH_PATH, config_name="plan")
def _hydra_main(cfg: DictConfig) -> None:
    with one_line_errors(PROG, ValueError):
        command = PlanCommand.read(cfg)
        table = command.table()
        plan = plan_sample_size(
            table, arm=command.split_arm, lift=command.lift, power=command.power,
            alpha=command.alpha, estimator=command.estimator, pre_days=command.pre_days,
            splits=command.splits,
        )  # fmt: skip
        # the SD of the estimator sized ("auto" resolved by the data)
        print(render_plan(plan.with_lineage_sd(command.measured_lineage_sd(plan.estimator))))


def main() -> None:
    precheck(PROG, "plan", sys.argv[1:])
    _hydra_main()


if __name__ == "__main__":
    main()
