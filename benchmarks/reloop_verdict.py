"""ReLoop's (and KD's) launch effect against BCE, each measured by ``abtest-sim-forecast``.

One forecast per recipe on one design (``--overrides``, default the default design with a
``--burnin``-day burn-in): ``--worlds`` independent worlds, each the planned A/B test with its
launch lineages (every user served by a lineage of the recipe trained on every user, against the
same for the control), and ``--aa`` A/As of the design. Per recipe: the launch effect's mean over
worlds with its 95% t interval and SD, the share of worlds where it is positive, and what the test
would see (the headline's mean readout and its power with the lineage SD the A/As measured). The
forecasts resume: a rerun with more worlds keeps the finished ones.

    python benchmarks/reloop_verdict.py --worlds 20 --out benchmarks/results/reloop_verdict.md
    python benchmarks/reloop_verdict.py --worlds 4 --aa 8 --out /tmp/verdict.md -- experiment=smoke
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# The recipes compared, each as overrides of the treatment arm (the control trains BCE).
RECIPES: dict[str, tuple[str, ...]] = {
    "reloop, alpha 0.1": ("arm.treatment.recipe=reloop", "arm.treatment.alpha=0.1"),
    "reloop, alpha 0.3": ("arm.treatment.recipe=reloop", "arm.treatment.alpha=0.3"),
    "reloop, alpha 0.5": ("arm.treatment.recipe=reloop", "arm.treatment.alpha=0.5"),
    "kd, alpha 0.5": ("arm.treatment.recipe=kd", "arm.treatment.alpha=0.5"),
}


def run_recipe(name: str, overrides: tuple[str, ...], args: argparse.Namespace) -> dict[str, Any]:
    """The forecast of one recipe (resumed if its folder holds one), as forecast.json's body."""
    folder = args.work / name.replace(", ", "_").replace(" ", "")
    command = [
        sys.executable, "-m", "abtest_sim.apps.forecast", *args.overrides, *overrides,
        f"forecast.worlds={args.worlds}", f"forecast.aa_runs={args.aa}",
        f"forecast.jobs={args.jobs}", f"forecast.out={folder}",
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
    return json.loads((folder / "forecast.json").read_text())


def _recipes_option(names: list[str]) -> str:
    if names == list(RECIPES):
        return ""
    return " --recipes " + " ".join(f"'{name}'" for name in names)


def _pct(value: float) -> str:
    return f"{100 * value:+.2f}%"


def render(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    design = " ".join(args.overrides) or "the default design"
    lines = [
        f"# Launch effect of each recipe against BCE ({design})",
        "",
        f"Command: `python benchmarks/reloop_verdict.py --worlds {args.worlds} --aa {args.aa}"
        f"{_recipes_option(args.recipes)}"
        f"{' -- ' + ' '.join(args.overrides) if args.overrides else ''}`: one "
        "`abtest-sim-forecast` per recipe; each world is a planned A/B test with launch "
        "lineages (every user on a lineage of the recipe trained on every user, against the "
        "same for BCE). Worlds are independent seeds; intervals are t intervals over worlds.",
        "",
        "| recipe | launch effect: mean [95% t CI] | SD over worlds | worlds positive "
        "| test readout (headline): mean | power of the planned test |",
        "|---|---|---|---|---|---|",
    ]
    for name, data in results.items():
        f = data["forecast"]
        launch, positive = f["launch"], f["launch_positive"]
        readout, power = f["readout"], f["power"]
        lines.append(
            f"| {name} | {_pct(launch['mean'])} [{_pct(launch['low'])}, {_pct(launch['high'])}] "
            f"| {100 * launch['sd']:.2f}% | {positive['successes']}/{positive['trials']} "
            f"| {_pct(readout['mean'])} | {100 * power['value']:.0f}% "
            f"[{100 * power['low']:.0f}, {100 * power['high']:.0f}] |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", type=int, default=20)
    parser.add_argument("--aa", type=int, default=8, help="A/A runs per recipe's forecast")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once")
    parser.add_argument("--work", type=Path, default=Path("multirun/reloop_verdict"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/reloop_verdict.md"))
    parser.add_argument("--recipes", nargs="+", choices=list(RECIPES), default=list(RECIPES))
    parser.add_argument("overrides", nargs="*", help="the design: abtest-sim overrides")
    args = parser.parse_args()
    results = {name: run_recipe(name, RECIPES[name], args) for name in args.recipes}
    text = render(results, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
