"""``abtest-sim-aggregate``: what a sweep of simulated A/B tests says across many possible worlds
(``abtest_sim.sweep.aggregate``)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from abtest_sim.sweep.aggregate import PROG, AggregateError, aggregate
from reloop.hydra_app import CONF_SEARCH_PATH, fail, one_line_errors, precheck
from reloop.schema import build, plain

__all__ = ["AggregateCommand", "main"]


@dataclass(frozen=True)
class AggregateCommand:
    """conf/aggregate.yaml's keys, read by the one schema reader (``reloop.schema.build``)."""

    input: Path
    out: Path | None = None  # null: <input>/aggregate
    alpha: float = 0.05
    paper_users_per_arm: int = 300_000

    @property
    def out_dir(self) -> Path:
        return self.out if self.out is not None else self.input / "aggregate"


@hydra.main(version_base="1.3", config_path=CONF_SEARCH_PATH, config_name="aggregate")
def _hydra_main(cfg: DictConfig) -> None:
    if OmegaConf.is_missing(cfg, "input") or cfg.input is None:
        fail(PROG, "input= is required: the multirun folder of a sweep (multirun/simulate/...)")
    with one_line_errors(PROG, AggregateError, ValueError):
        command = build(AggregateCommand, plain(cfg), "")
        summary = aggregate(command.input, command.out_dir, alpha=command.alpha,
                            paper_users=command.paper_users_per_arm)  # fmt: skip
        print(f"{PROG}: {summary.height} configuration(s) -> {command.out_dir}")


def main() -> None:
    precheck(PROG, "aggregate", sys.argv[1:])
    _hydra_main()


if __name__ == "__main__":
    main()
