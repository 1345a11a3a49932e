"""The runs of a forecast: the planned design (``test``) and its A/A (``aa``), each a resolved
abtest-sim config file, run for the missing seeds as one Hydra multirun per kind (the launcher of
the design: joblib here, Slurm on a cluster), then summarised into one small row per run and their
heavy files (logs, models, truth, checkpoints) removed unless kept.

Layout under the forecast's ``out`` folder::

    designs/test.yaml, designs/aa.yaml      the two designs, complete (abtest-sim reads them)
    designs/design_key.txt                  the A/B design's key: a resume of another is refused
    runs/<kind>/seed_<s>/                   a run dir of abtest-sim (report/, config.json, ...)
    runs/<kind>/seed_<s>/forecast_row.json  what the forecast reads of it
    runs/<kind>.log                         the launcher's output
"""

from __future__ import annotations

import importlib.resources
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from omegaconf import OmegaConf
from tqdm.auto import tqdm

from abtest_sim.analysis.estimators import estimator_keys
from abtest_sim.sim.design import TRAINING_FIELDS
from reloop.atomic import write_json, write_text
from reloop.hydra_app import CONF_PACKAGE

__all__ = [
    "DESIGN_FILE",
    "KINDS",
    "RunPlan",
    "aa_node",
    "collect_rows",
    "run_missing",
    "write_designs",
]

KINDS = ("aa", "test")
DESIGN_FILE = "designs/design_key.txt"
HEAVY = ("logs", "launch", "models", "truth", "checkpoint", "unit_days.parquet")
ROW_FILE = "forecast_row.json"
# What every run of a forecast sets, whatever the design: resumable, quiet, one torch thread (the
# launcher runs several at once), no figures or model-calibration table (the forecast reads neither)
# and no lineage SD applied (the forecast measures its own).
RUN_SETTINGS = {"resume": True, "progress": False, "report_plots": False,
                "report_calibration": False, "torch_threads": 1, "retrain_workers": 1,
                "lineage_store": None, "run_dir": "."}  # fmt: skip


@dataclass(frozen=True)
class RunPlan:
    out: Path
    launcher: str  # a config of hydra/launcher: parallel (joblib) or cluster (submitit, Slurm)
    jobs: int
    keep_runs: bool

    def run_dir(self, kind: str, seed: int) -> Path:
        return self.out / "runs" / kind / f"seed_{seed}"

    def finished(self, kind: str, seed: int) -> bool:
        run = self.run_dir(kind, seed)
        return (run / ROW_FILE).is_file() or (run / "report" / "summary.json").is_file()


def aa_node(design: Mapping[str, Any]) -> dict[str, Any]:
    """The design as an A/A: every arm trains and serves as the control (its share kept), and no
    launch lineages (an A/A's launch effect is zero)."""
    out = json.loads(json.dumps(design))
    arms, control = out["arm"], out["experiment"]["control"]
    for name, arm in arms.items():
        if name != control:
            arm.update({k: arms[control][k] for k in TRAINING_FIELDS if k in arms[control]})
    out["experiment"]["launch_truth"] = False
    return out


def write_designs(design: Mapping[str, Any], plan: RunPlan) -> dict[str, Path]:
    """designs/<kind>.yaml: each design complete, with abtest-sim's Hydra settings."""
    hydra = OmegaConf.create(
        importlib.resources.files(CONF_PACKAGE).joinpath("simulate.yaml").read_text()
    ).hydra
    test = json.loads(json.dumps(design))
    test["experiment"]["launch_truth"] = True  # the launch effect comes from the test's runs
    paths = {}
    for kind, node in (("test", test), ("aa", aa_node(design))):
        sweep = {"dir": str((plan.out / "runs" / kind).resolve()), "subdir": "seed_${seed}"}
        document = OmegaConf.create(
            {
                "defaults": ["_self_", {"override hydra/launcher": plan.launcher}],
                **node,
                **RUN_SETTINGS,
            }
        )
        document.hydra = OmegaConf.merge(hydra, {"sweep": sweep})
        paths[kind] = plan.out / "designs" / f"{kind}.yaml"
        write_text(paths[kind], OmegaConf.to_yaml(document))
    return paths


def run_missing(plan: RunPlan, kind: str, seeds: Sequence[int]) -> list[int]:
    """Run the seeds of ``kind`` not yet finished, as one multirun; the seeds that failed."""
    todo = [s for s in seeds if not plan.finished(kind, s)]
    if not todo:
        return []
    command = [sys.executable, "-m", "abtest_sim", "-m", "--config-dir",
               str((plan.out / "designs").resolve()), "--config-name", kind,
               f"seed={','.join(map(str, todo))}", f"hydra/launcher={plan.launcher}"]  # fmt: skip
    if plan.launcher == "parallel":
        command.append(f"hydra.launcher.n_jobs={plan.jobs}")
    log = plan.out / "runs" / f"{kind}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as handle, tqdm(total=len(todo), desc=f"{kind} runs", unit="run") as bar:
        # its own process group: a forecast stopped (Ctrl-C, SIGTERM) stops its runs with it
        process = subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            while process.poll() is None:
                time.sleep(1.0)
                bar.update(sum(plan.finished(kind, s) for s in todo) - bar.n)
        finally:
            _stop(process)
        bar.update(sum(plan.finished(kind, s) for s in todo) - bar.n)
    return [s for s in todo if not plan.finished(kind, s)]


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the multirun and every run it started, if still going (a killed run resumes)."""
    if process.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=20)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def collect_rows(plan: RunPlan, kind: str, seeds: Sequence[int]) -> list[dict[str, Any]]:
    """The rows of the finished runs (each read once, then its heavy files removed)."""
    rows = []
    for seed in seeds:
        run = plan.run_dir(kind, seed)
        if (run / ROW_FILE).is_file():
            rows.append(json.loads((run / ROW_FILE).read_text()))
            continue
        if not (run / "report" / "summary.json").is_file():
            continue
        row = run_row(run, seed)
        write_json(run / ROW_FILE, row)
        if not plan.keep_runs:
            _remove_heavy(run)
        rows.append(row)
    return rows


def run_row(run: Path, seed: int) -> dict[str, Any]:
    """What the forecast reads of one run: every estimator's lift, sampling SE and launch
    effect, the pooled launch effect and its A/B days, the users per compared arm."""
    summary = json.loads((run / "report" / "summary.json").read_text())["summary"]
    row: dict[str, Any] = {"seed": seed, "headline": summary["headline"]}
    for name in estimator_keys():
        values = summary["estimates"].get(name) or {}
        for field in ("lift", "se", "launch", "target"):
            row[f"{name}_{field}"] = values.get(field)
    truth = summary.get("truth") or {}
    row["launch"] = (truth.get("launch") or {}).get("pooled")
    compared = [summary["control"], summary["treatment"]]
    row["users"] = sum(summary["users"][arm] for arm in compared) / len(compared)
    daily = pl.read_csv(run / "report" / "daily.csv", infer_schema_length=None)
    days = daily.filter((pl.col("phase") == "ab") & (pl.col("day").cast(pl.String) != "Average"))
    row["launch_days"] = days["launch_lift"].to_list() if "launch_lift" in days.columns else []
    return row


def _remove_heavy(run: Path) -> None:
    for name in HEAVY:
        path = run / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.is_file():
            path.unlink()
