"""``abtest-sim-aggregate``: what a sweep of simulated A/B tests says across many possible worlds.

Reads every run of a multirun directory (a folder holding ``config.json`` and ``report/``), groups
the runs by the configuration keys that vary across them (the seed aside), and writes
``aggregate/summary.csv`` (one row per configuration), ``aggregate/runs.csv`` (one row per run),
``aggregate/report.md`` and plots:

- the distribution of the estimated and the true lift (mean, sd, 2.5% and 97.5% quantiles);
- empirical power (share of runs whose A/B Average test rejects at ``alpha``) beside the power the
  planner predicts from each run's own standard error at the mean true lift;
- the A/A false-positive rate: every run's A/A week is a real A/A test (both arms train BCE), so
  its Average p-value rejects with probability alpha if the test is calibrated;
- the coverage of the 95% intervals of the true lift;
- binomial (Wilson) intervals for each rate, from statsmodels.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import polars as pl
from omegaconf import DictConfig
from scipy import stats as scipy_stats
from statsmodels.stats.proportion import proportion_confint

from abtest_sim.plan import predicted_power
from reloop.hydra_app import precheck

__all__ = ["AggregateError", "aggregate", "load_runs", "main", "summarise_runs"]

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
PROG = "abtest-sim-aggregate"


class AggregateError(ValueError):
    """The input cannot be aggregated; the message is one line for the user."""


# ------------------------------------------------------------------------------ reading runs


def find_run_dirs(root: Path) -> list[Path]:
    """Run folders below ``root`` (or ``root`` itself): those with config.json and a summary."""
    found = {p.parent.parent for p in root.rglob("report/summary.json")}
    return sorted(d for d in found if (d / "config.json").is_file())


def flatten_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config.json`` of a run as flat ``group.key`` columns (arms as ``arm.<name>.<field>``)."""
    flat: dict[str, Any] = {"seed": config.get("seed")}
    for group in ("world", "model", "experiment"):
        for key, value in (config.get(group) or {}).items():
            flat[f"{group}.{key}"] = _scalar(value)
    for arm in config.get("arms") or []:
        for key, value in arm.items():
            if key != "name":
                flat[f"arm.{arm['name']}.{key}"] = _scalar(value)
    return flat


def _scalar(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, list | dict) else value


def _average_row(daily: pl.DataFrame, phase: str) -> dict[str, Any]:
    rows = daily.filter((pl.col("day") == "Average") & (pl.col("phase") == phase))
    return rows.row(0, named=True) if rows.height else {}


def read_run(run_dir: Path) -> dict[str, Any]:
    """One run's configuration and its headline numbers."""
    config = json.loads((run_dir / "config.json").read_text())
    summary = json.loads((run_dir / "report" / "summary.json").read_text())["summary"]
    daily = pl.read_csv(run_dir / "report" / "daily.csv", infer_schema_length=None)
    aa, ab = _average_row(daily, "aa"), _average_row(daily, "ab")
    users = summary.get("users") or {}
    compared = [summary.get("control"), summary.get("treatment")]
    return {
        "run": str(run_dir),
        **flatten_config(config),
        "lift": ab.get("lift"),
        "se": ab.get("se"),
        "ci_low": ab.get("ci_low"),
        "ci_high": ab.get("ci_high"),
        "p_value": ab.get("p_value"),
        "true_lift": ab.get("true_lift"),
        "covers_true": ab.get("covers_true"),
        "ab_minus_aa": ab.get("ab_minus_aa"),
        "ab_minus_aa_p_value": ab.get("ab_minus_aa_p_value"),
        "aa_lift": aa.get("lift"),
        "aa_p_value": aa.get("p_value"),
        "users_per_arm": float(np.mean([users[a] for a in compared if a in users] or [np.nan])),
        "served_true_lift": served_true_lift(run_dir / "unit_days.parquet", *compared),
    }


def served_true_lift(path: Path, control: str | None, treatment: str | None) -> float | None:
    """Mean over the A/B days of the daily lift of expected CTR (sum of p_true) on the users each
    arm actually served: the truth without shadow serving, still carrying who went where."""
    if not path.is_file() or control is None or treatment is None:
        return None
    table = pl.read_parquet(path)
    if "true_clicks" not in table.columns:
        return None
    if "phase" in table.columns:
        table = table.filter(pl.col("phase") == "ab")
    daily = (
        table.group_by("day", "arm")
        .agg((pl.col("true_clicks").sum() / pl.col("impressions").sum()).alias("ctr"))
        .pivot("arm", index="day", values="ctr")
        .sort("day")
    )
    if daily.is_empty() or control not in daily.columns or treatment not in daily.columns:
        return None
    return float((daily[treatment] / daily[control] - 1).mean())


def load_runs(root: Path) -> pl.DataFrame:
    run_dirs = find_run_dirs(root)
    if not run_dirs:
        raise AggregateError(f"no finished runs (config.json + report/summary.json) under {root}")
    return pl.DataFrame([read_run(d) for d in run_dirs], infer_schema_length=None)


def varying_keys(runs: pl.DataFrame) -> list[str]:
    """Configuration columns whose value differs between runs (the seed aside)."""
    config_columns = [c for c in runs.columns if "." in c and c != "run"]
    return [c for c in config_columns if runs.get_column(c).n_unique() > 1]


# ------------------------------------------------------------------------------ summarising


@dataclass(frozen=True)
class Rate:
    successes: int
    trials: int
    low: float
    high: float

    @property
    def value(self) -> float:
        return self.successes / self.trials if self.trials else float("nan")


def rate(flags: Sequence[bool], alpha: float = 0.05) -> Rate:
    """A proportion with its Wilson interval (statsmodels)."""
    n, k = len(flags), int(np.sum(flags))
    if n == 0:
        return Rate(0, 0, float("nan"), float("nan"))
    low, high = proportion_confint(k, n, alpha=alpha, method="wilson")
    return Rate(k, n, float(low), float(high))


def _group_row(runs: pl.DataFrame, alpha: float, paper_users: int) -> dict[str, Any]:
    lift = runs.get_column("lift").drop_nulls().to_numpy()
    true = runs.get_column("true_lift").drop_nulls().to_numpy()
    se = runs.get_column("se").drop_nulls().to_numpy()
    p = runs.get_column("p_value").drop_nulls().to_numpy()
    aa_p = runs.get_column("aa_p_value").drop_nulls().to_numpy()
    covered = runs.get_column("covers_true").drop_nulls().to_numpy().astype(bool)
    true_mean = float(true.mean()) if true.size else float("nan")
    users = float(runs.get_column("users_per_arm").mean())
    power, false_positive, coverage = rate(p < alpha), rate(aa_p < alpha), rate(covered)
    row = {
        "runs": runs.height,
        "lift_mean": _mean(lift),
        "lift_sd": _sd(lift),
        "lift_q025": _quantile(lift, 0.025),
        "lift_q975": _quantile(lift, 0.975),
        "true_lift_mean": true_mean,
        "true_lift_sd": _sd(true),
        "mean_reported_se": _mean(se),
        "users_per_arm": users,
        "power": power.value,
        "power_low": power.low,
        "power_high": power.high,
        "power_predicted": _mean([predicted_power(true_mean, s, alpha=alpha) for s in se]),
        "aa_false_positive_rate": false_positive.value,
        "aa_fp_low": false_positive.low,
        "aa_fp_high": false_positive.high,
        "coverage": coverage.value,
        "coverage_low": coverage.low,
        "coverage_high": coverage.high,
        "ab_minus_aa_mean": _mean(runs.get_column("ab_minus_aa").drop_nulls().to_numpy()),
        "served_true_lift_mean": _mean(_column(runs, "served_true_lift")),
        "served_true_lift_sd": _sd(_column(runs, "served_true_lift")),
    }
    # The planner at the paper's scale: the SE shrinks with the square root of the users.
    se_paper = float(np.median(se)) * math.sqrt(users / paper_users) if se.size else float("nan")
    row["power_at_paper_scale"] = predicted_power(true_mean, se_paper, alpha=alpha)
    return row


def _column(runs: pl.DataFrame, name: str) -> np.ndarray:
    if name not in runs.columns:
        return np.array([])
    return runs.get_column(name).drop_nulls().cast(pl.Float64).to_numpy()


def _mean(x: Sequence[float]) -> float:
    return float(np.mean(x)) if len(x) else float("nan")


def _sd(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1)) if x.size > 1 else float("nan")


def _quantile(x: np.ndarray, q: float) -> float:
    return float(np.quantile(x, q)) if x.size else float("nan")


def summarise_runs(
    runs: pl.DataFrame, *, alpha: float = 0.05, paper_users: int = 300_000
) -> tuple[pl.DataFrame, list[str]]:
    """One row per configuration (the keys that vary across runs), in sorted key order."""
    keys = varying_keys(runs)
    if not keys:
        return pl.DataFrame([{"config": "all", **_group_row(runs, alpha, paper_users)}]), keys
    rows = []
    for values, group in runs.sort(keys).group_by(keys, maintain_order=True):
        labels = dict(zip(keys, values, strict=True))
        rows.append({**labels, **_group_row(group, alpha, paper_users)})
    return pl.DataFrame(rows, infer_schema_length=None), keys


# ------------------------------------------------------------------------------ writing


def aggregate(
    root: Path, out: Path | None = None, *, alpha: float = 0.05, paper_users: int = 300_000
) -> pl.DataFrame:
    """Aggregate the runs under ``root`` into ``out`` (default ``root/aggregate``)."""
    root = Path(root)
    if not root.is_dir():
        raise AggregateError(f"input {root} is not a directory")
    runs = load_runs(root)
    summary, keys = summarise_runs(runs, alpha=alpha, paper_users=paper_users)
    out = Path(out) if out is not None else root / "aggregate"
    staging = Path(
        tempfile.mkdtemp(prefix=".aggregate-", dir=out.parent if out.parent.exists() else None)
    )
    try:
        runs.write_csv(staging / "runs.csv")
        summary.write_csv(staging / "summary.csv")
        _plots(runs, summary, keys, staging, alpha, paper_users)
        (staging / "report.md").write_text(render(summary, runs, keys, alpha, paper_users))
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), str(out))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return summary


def _pct(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{100 * x:+.2f}%"


def _share(value: float, low: float, high: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{100 * value:.0f}% [{100 * low:.0f}, {100 * high:.0f}]"


def render(
    summary: pl.DataFrame, runs: pl.DataFrame, keys: list[str], alpha: float, paper_users: int
) -> str:
    level = round(100 * (1 - alpha))
    grouping = ", ".join(f"`{k}`" for k in keys) or "nothing (one configuration)"
    lines = [
        "# Sweep: what the simulated A/B tests say",
        "",
        f"{runs.height} runs, grouped by {grouping}. Lift = the A/B week's Average daily lift "
        "of the treatment over the control (delta method).",
        "",
        "| "
        + " | ".join(
            [
                *keys,
                "runs",
                "estimated lift: mean (sd) [2.5%, 97.5%]",
                "true lift (truth panel): mean (sd)",
                "true lift (served users): mean (sd)",
                "A/B - A/A: mean",
                "power [CI]",
                "predicted power",
                f"A/A false positives [CI] (nominal {100 * alpha:.0f}%)",
                f"{level}% CI coverage [CI]",
                f"power at {paper_users:,} users/arm",
            ]
        )
        + " |",
        "|" + "---|" * (len(keys) + 10),
    ]
    for row in summary.iter_rows(named=True):
        cells = [str(row[k]) for k in keys] + [
            str(row["runs"]),
            f"{_pct(row['lift_mean'])} ({_pct(row['lift_sd'])}) "
            f"[{_pct(row['lift_q025'])}, {_pct(row['lift_q975'])}]",
            f"{_pct(row['true_lift_mean'])} ({_pct(row['true_lift_sd'])})",
            f"{_pct(row['served_true_lift_mean'])} ({_pct(row['served_true_lift_sd'])})",
            _pct(row["ab_minus_aa_mean"]),
            _share(row["power"], row["power_low"], row["power_high"]),
            f"{100 * row['power_predicted']:.0f}%"
            if math.isfinite(row["power_predicted"])
            else "n/a",
            _share(row["aa_false_positive_rate"], row["aa_fp_low"], row["aa_fp_high"]),
            _share(row["coverage"], row["coverage_low"], row["coverage_high"]),
            f"{100 * row['power_at_paper_scale']:.0f}%"
            if math.isfinite(row["power_at_paper_scale"])
            else "n/a",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    aa_p = runs.get_column("aa_p_value").drop_nulls().to_numpy()
    if aa_p.size >= 5:
        ks = scipy_stats.kstest(aa_p, "uniform")
        lines += [
            "",
            f"A/A p-values across all runs: KS test against uniform p = {ks.pvalue:.3f} "
            f"({aa_p.size} runs); see `aa_pvalues.png`.",
        ]
    lines += [
        "",
        "How to read it: *power* is the share of runs whose A/B test rejects at the chosen level; "
        "*predicted power* is what the planner expects from each run's own standard error at the "
        "mean true lift (they agree when the SE is right); *A/A false positives* uses each run's "
        "A/A week, when both arms trained the same recipe; *coverage* is the share of runs whose "
        "interval contains the true lift (from p_true). Intervals in brackets are Wilson "
        "intervals of the proportions. The power at the paper's scale scales each "
        "configuration's median SE by the square root of the users per arm.",
        "",
        "Two truths: the *truth panel* ranks every policy for the same users (the other arm's "
        "users in the shadow), free of who went where but judging each model on users it never "
        "trained on; the *served users* truth is the expected CTR of what each arm really showed "
        "its own users, which is what the test estimates but still carries the noise of the "
        "randomisation. Coverage is against the truth panel.",
        "",
        "Plots: `lift_vs_config.png` (Figure 3 analogue), `power_vs_users.png`, `aa_pvalues.png`.",
    ]
    return "\n".join(lines) + "\n"


def _plots(
    runs: pl.DataFrame,
    summary: pl.DataFrame,
    keys: list[str],
    folder: Path,
    alpha: float,
    paper_users: int,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _lift_plot(plt, summary, keys, folder / "lift_vs_config.png")
    _power_plot(plt, summary, keys, folder / "power_vs_users.png", alpha, paper_users)
    _aa_plot(plt, runs, folder / "aa_pvalues.png", alpha)


def _labels(summary: pl.DataFrame, keys: list[str]) -> list[str]:
    if not keys:
        return ["all"]
    return [
        ", ".join(f"{k.split('.')[-1]}={r[k]}" for k in keys) for r in summary.iter_rows(named=True)
    ]


def _lift_plot(plt: Any, summary: pl.DataFrame, keys: list[str], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    x = np.arange(summary.height)
    n = summary.get_column("runs").to_numpy()
    for column, sd, label, offset in (
        ("lift_mean", "lift_sd", "estimated lift", -0.08),
        ("true_lift_mean", "true_lift_sd", "true lift", 0.08),
    ):
        mean = 100 * summary.get_column(column).to_numpy()
        half = 100 * 1.96 * summary.get_column(sd).fill_null(0).to_numpy() / np.sqrt(n)
        ax.errorbar(
            x + offset, mean, yerr=half, fmt="o", capsize=4, label=f"{label} (95% CI of mean)"
        )
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(x, _labels(summary, keys), rotation=20, ha="right")
    ax.set_ylabel("CTR lift (%)")
    ax.set_title("Lift by configuration (Figure 3 analogue)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _power_plot(
    plt: Any, summary: pl.DataFrame, keys: list[str], path: Path, alpha: float, paper_users: int
) -> None:
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, row in zip(_labels(summary, keys), summary.iter_rows(named=True), strict=True):
        users, se, lift = row["users_per_arm"], row["mean_reported_se"], row["true_lift_mean"]
        if not all(math.isfinite(v) for v in (users, se, lift)):
            continue
        grid = np.geomspace(users / 10, max(users * 10, paper_users * 2), 60)
        curve = [predicted_power(lift, se * math.sqrt(users / n), alpha=alpha) for n in grid]
        line = ax.plot(grid, curve, label=f"{label}: planned")[0]
        ax.errorbar(
            [users],
            [row["power"]],
            yerr=[[row["power"] - row["power_low"]], [row["power_high"] - row["power"]]],
            fmt="o",
            color=line.get_color(),
            capsize=4,
        )
    ax.axvline(paper_users, color="grey", ls="--", lw=0.8, label="paper's scale")
    ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_xlabel("users per arm")
    ax.set_ylabel(f"power (two-sided, alpha = {alpha})")
    ax.set_title("Power at the mean true lift: planned (line) and empirical (points)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _aa_plot(plt: Any, runs: pl.DataFrame, path: Path, alpha: float) -> None:
    p = runs.get_column("aa_p_value").drop_nulls().to_numpy()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = np.linspace(0, 1, 11)
    ax.hist(p, bins=bins, edgecolor="white")
    ax.axhline(len(p) / 10, color="black", ls="--", lw=0.8, label="uniform")
    ax.axvline(alpha, color="red", lw=0.8, label=f"alpha = {alpha}")
    ax.set_xlabel("A/A week: p-value of the Average lift")
    ax.set_ylabel("runs")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------------------ the app


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="aggregate")
def _hydra_main(cfg: DictConfig) -> None:
    try:
        summary = aggregate(
            Path(cfg.input),
            Path(cfg.out) if cfg.get("out") else None,
            alpha=float(cfg.alpha),
            paper_users=int(cfg.paper_users_per_arm),
        )
    except (AggregateError, FileNotFoundError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(
        f"{PROG}: {summary.height} configuration(s) -> "
        f"{Path(cfg.out) if cfg.get('out') else Path(cfg.input) / 'aggregate'}"
    )


def main() -> None:
    precheck(PROG, CONF_DIR, "aggregate", sys.argv[1:])
    _hydra_main()


if __name__ == "__main__":
    main()
