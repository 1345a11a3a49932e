"""``abtest-sim-plan``: users per arm and days a test needs, from per-user data
(``abtest_sim.analysis.planning``); the table is read by the one reader of table files
(``reloop.datasets.read_table_file``)."""

from __future__ import annotations

import sys
from dataclasses import dataclass

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
    phase: str | None = "aa"
    lift: float = 0.01
    power: float = 0.8
    alpha: float = 0.05
    splits: int = 4
    lineage_sd: float | None = None  # null: 0
    unit: str = "unit"
    day: str = "day"
    clicks: str = "clicks"
    impressions: str = "impressions"

    @classmethod
    def read(cls, cfg: DictConfig) -> PlanCommand:
        if OmegaConf.is_missing(cfg, "input") or cfg.input is None:
            raise ReportInputError("input= is required (e.g. input=runs/a/unit_days.parquet)")
        raw = plain(cfg)
        for key in ("split_arm", "phase"):  # an arm or phase may be written as a number
            if isinstance(raw.get(key), int) and not isinstance(raw[key], bool):
                raw[key] = str(raw[key])
        return build(cls, raw, "")

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
        rows = plan_sample_size(
            command.table(), arm=command.split_arm, lift=command.lift, power=command.power,
            alpha=command.alpha, phase=command.phase, splits=command.splits,
            lineage_sd=command.lineage_sd or 0.0,
        )  # fmt: skip
        print(render_plan(rows, lift=command.lift, power=command.power, alpha=command.alpha))


def main() -> None:
    precheck(PROG, "plan", sys.argv[1:])
    _hydra_main()


if __name__ == "__main__":
    main()
