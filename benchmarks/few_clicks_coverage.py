"""Coverage of the lift's interval by clicks per arm: where the report's few-clicks warning starts.

Independent synthetic A/A tests (``SyntheticCtr`` users: heavy-tailed activity, a CTR of their
own; one day, true lift 0), each arm with ``--users`` users and a CTR set so that an arm expects
k clicks. Per k, the share of tests whose 95% interval of the lift (computed as the report does,
``abtest_sim.stats.influence``) contains 0, among the tests whose lift is defined (the control
has a click): the delta interval, the interval the report shows (the delta interval, or the
log-ratio interval where the delta one reaches -100%: ``abtest_sim.stats.lift_floor``) and the
log-ratio interval everywhere, with Wilson intervals. The threshold is the smallest k from which
on the delta interval covers within 2 points of 95% (``abtest_sim.analysis.warnings.MIN_CLICKS``).

    python benchmarks/few_clicks_coverage.py   # -> results/few_clicks_coverage.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from abtest_sim.analysis.warnings import MIN_CLICKS
from abtest_sim.stats.influence import ratio_panel, relative_lift_of
from abtest_sim.stats.lift_floor import floor_interval
from abtest_sim.stats.ratio import z_critical
from abtest_sim.stats.synthetic import SyntheticCtr
from abtest_sim.sweep.validity import Rate, wilson
from reloop.atomic import write_text

CLICKS = (1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 100, 200)
MEAN_IMPRESSIONS = 4.0
NOMINAL, TOLERANCE = 0.95, 0.02
METHODS = ("delta", "reported", "log-ratio")


def _intervals(
    rng: np.random.Generator, clicks: float, users: int, replicates: int
) -> dict[str, np.ndarray]:
    """Whether the lift is defined, and where it is whether each method's interval covers 0."""
    population = SyntheticCtr(mean_impressions=MEAN_IMPRESSIONS,
                              ctr=clicks / (users * MEAN_IMPRESSIONS))  # fmt: skip
    panels, observed = [], []
    for group in ("control", "treatment"):
        c, m = (x[:, 0] for x in population.draw(rng, replicates=replicates, days=1, users=users))
        panels.append(ratio_panel(c, m, m > 0, strict=False).linearized(group))
        observed.append(c.sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        wald = relative_lift_of(*panels).wald(1 - NOMINAL)
        half = z_critical(1 - NOMINAL) * wald.se
        center, log_half = np.log1p(wald.estimate), half / (1 + wald.estimate)
        log_low, log_high = np.expm1(center - log_half), np.expm1(center + log_half)
    low, high, _ = floor_interval(wald.estimate, half, wald.ci_low, wald.ci_high)
    defined = np.isfinite(wald.estimate) & (observed[0] > 0)
    bounds = {"delta": (wald.ci_low, wald.ci_high), "reported": (low, high),
              "log-ratio": (log_low, log_high)}  # fmt: skip
    out = {name: ((lo <= 0) & (0 <= hi))[defined] for name, (lo, hi) in bounds.items()}
    out["defined"] = defined
    return out


def simulate(
    seed: int, users: int, replicates: int, chunk: int = 2_000_000
) -> dict[int, dict[str, np.ndarray]]:
    """The replicates of every k, drawn in chunks of at most ``chunk`` user-rows per arm."""
    results = {}
    for k, clicks in enumerate(CLICKS):
        rng = np.random.default_rng([seed, users, k])
        step = max(1, chunk // users)
        parts = [_intervals(rng, clicks, users, min(step, replicates - start))
                 for start in range(0, replicates, step)]  # fmt: skip
        results[clicks] = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    return results


def threshold(results: dict[int, dict[str, np.ndarray]]) -> int | None:
    """The smallest k from which on the delta interval covers within TOLERANCE of NOMINAL."""
    ok = [wilson(int(r["delta"].sum()), r["delta"].size).value >= NOMINAL - TOLERANCE
          for r in results.values()]  # fmt: skip
    bad = [k for k, fine in zip(results, ok, strict=True) if not fine]
    later = [k for k in results if not bad or k > bad[-1]]
    return later[0] if later else None


def _rate(r: Rate) -> str:
    return f"{100 * r.value:.1f} [{100 * r.low:.1f}, {100 * r.high:.1f}]"


def render_design(users: int, results: dict[int, dict[str, np.ndarray]]) -> list[str]:
    header = ["clicks per arm (expected)", "lift defined", *(f"{m} covers 0" for m in METHODS)]
    lines = [f"### {users} users per arm", "", "| " + " | ".join(header) + " |",
             "|" + "---|" * len(header)]  # fmt: skip
    for clicks, r in results.items():
        cells = [str(clicks), f"{100 * r['defined'].mean():.1f}%"]
        cells += [_rate(wilson(int(r[m].sum()), r[m].size)) for m in METHODS]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"From {threshold(results)} clicks per arm on, the delta interval covers "
              f"within {100 * TOLERANCE:.0f} points of 95%.", ""]  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[100, 500, 2000])
    parser.add_argument("--replicates", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/few_clicks_coverage.md")
    )
    args = parser.parse_args()
    started = time.perf_counter()
    designs = {users: simulate(args.seed, users, args.replicates) for users in args.users}
    lines = [
        "# Coverage of the lift's 95% interval by clicks per arm (A/A tests)", "",
        f"`python benchmarks/few_clicks_coverage.py --users {' '.join(map(str, args.users))} "
        f"--replicates {args.replicates} --seed {args.seed}` "
        f"({time.perf_counter() - started:.0f} s). {args.replicates} synthetic A/A tests per row "
        f"(one day, {MEAN_IMPRESSIONS:.0f} impressions per user on average, heavy-tailed "
        "activity, CTR heterogeneity); coverage among the tests whose lift is defined, with "
        "Wilson 95% intervals. `reported`: the delta interval, or the log-ratio interval where "
        "the delta one reaches -100% (what daily.csv and the report show).", "",
    ]  # fmt: skip
    for users, results in designs.items():
        lines += render_design(users, results)
    found = [threshold(results) for results in designs.values()]
    needed = None if None in found else max(found)
    lines += [f"Every design covers within {100 * TOLERANCE:.0f} points of 95% from {needed} "
              f"clicks per arm on; the report warns below MIN_CLICKS = {MIN_CLICKS} "
              "(abtest_sim/analysis/warnings.py).", ""]  # fmt: skip
    text = "\n".join(lines)
    write_text(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
