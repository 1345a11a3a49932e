"""Impressions per second of the simulated day, end to end.

(a) world + serving + clicks + logging with a trivial (model-free) scorer;
(b) the same with a DeepFM (or ``--model``) scorer scoring every (request, candidate) row
    (``reloop.predict``), with a profile of where the time goes;
(c) the same model as the simulator's arms serve it (``serving.ModelScorer``: request-level
    features read and embedded once per request, ``FittedModel.predict_slates``).
Run: ``python benchmarks/world_throughput.py [--users 200000] [--days 1] [--slate 10]``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl

from abtest_sim.sim import logs, serving
from abtest_sim.world import World, WorldConfig


@dataclass
class Timings:
    seconds: dict[str, float] = field(default_factory=dict)
    impressions: int = 0

    def add(self, stage: str, start: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - start
        return now

    def report(self, title: str) -> None:
        total = sum(self.seconds.values())
        print(
            f"{title}: {self.impressions:,} impressions in {total:.2f} s "
            f"= {self.impressions / total:,.0f} impressions/s"
        )
        for stage, sec in self.seconds.items():
            print(f"  {stage:<16} {sec:7.2f} s  {100 * sec / total:5.1f}%")


def simulate_days(
    world: World,
    scorer: serving.Scorer,
    days: range,
    slate: int,
    root: str,
    rows_of: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Timings:
    """The per-day work of one arm: traffic, ranking, clicks, log frame, parquet partition."""
    timings = Timings()
    explore = serving.Exploration(epsilon=0.05)
    for day in days:
        start = time.perf_counter()
        requests = world.begin_day(day)
        start = timings.add("begin_day", start)
        observation = world.observe(requests)
        rows = None if rows_of is None else rows_of(requests.user_id)
        slates = serving.rank(scorer, observation, rows, slate, exploration=explore)
        start = timings.add("rank", start)
        slates = serving.with_shown_pctr(scorer, observation, slates)  # what a log holds
        start = timings.add("score shown slates", start)
        outcome = world.oracle.click(requests, slates.items, slates.request_rows)
        start = timings.add("click", start)
        frame = logs.impression_log(
            observation, slates, outcome.click, arm="bench", model_version=0
        )
        start = timings.add("impression_log", start)
        logs.write_partition(root, "bench", day, frame)
        timings.add("write_partition", start)
        timings.impressions += outcome.n_impressions
    return timings


def trivial(config: WorldConfig, days: int, slate: int) -> None:
    start = time.perf_counter()
    world = World(config, seed=1)
    world.begin_day(0)
    print(f"world init + day 0 ({config.n_users:,} users): {time.perf_counter() - start:.2f} s")
    with tempfile.TemporaryDirectory() as root:
        timings = simulate_days(world, serving.random_scorer(0), range(1, days + 1), slate, root)
    timings.report("(a) trivial scorer")


def deepfm(
    config: WorldConfig,
    slate: int,
    scored_users: int,
    profile: bool,
    hidden: tuple[int, ...],
    backbone: str = "deepfm",
) -> None:
    try:
        import reloop
    except ImportError:
        print("(b) skipped: reloop is not importable")
        return
    world = World(config, seed=1)
    with tempfile.TemporaryDirectory() as root:
        simulate_days(world, serving.random_scorer(0), range(1), slate, root)
        frame = logs.scan(root).collect()
        train = frame.select(logs.observable_columns(frame)).head(200_000)
        start = time.perf_counter()
        model = reloop.fit(
            train,
            world.feature_columns,
            label="click",
            model=reloop.ModelSpec(backbone, hidden_units=hidden),
        )
        seconds = time.perf_counter() - start
        print(f"(b) {backbone} {hidden} fit on {train.height:,} impressions: {seconds:.2f} s")

        def scorer(candidates: pl.DataFrame) -> np.ndarray:
            return reloop.predict(model, candidates)

        def rows_of(user_id: np.ndarray) -> np.ndarray:
            return np.flatnonzero(user_id < scored_users)

        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        timings = simulate_days(world, scorer, range(1, 2), slate, root, rows_of)
        if profiler:
            profiler.disable()
        # (c) a fresh world at the same day, served by the request-level scorer
        world = World(config, seed=1)
        simulate_days(world, serving.random_scorer(0), range(1), slate, root)
        by_request = simulate_days(
            world, serving.ModelScorer(model), range(1, 2), slate, root, rows_of
        )
    timings.report(
        f"(b) {backbone} scorer, users < {scored_users:,} "
        f"({config.n_candidates} candidates scored per request, every row)"
    )
    by_request.report(f"(c) the same {backbone} as serving.ModelScorer (request-level part once)")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(12)
        print("\n".join(out.getvalue().splitlines()[:40]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--slate", type=int, default=10)
    parser.add_argument(
        "--deepfm-users",
        type=int,
        default=20_000,
        help="users served by the DeepFM arm in (b) (0 skips (b))",
    )
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument(
        "--hidden", default="400,400,400", help="MLP widths (the simulator's: 128,64)"
    )
    parser.add_argument("--model", default="deepfm", help="the backbone of (b) and (c)")
    args = parser.parse_args()
    config = replace(WorldConfig(), n_users=args.users)
    trivial(config, args.days, args.slate)
    if args.deepfm_users > 0:
        hidden = tuple(int(width) for width in args.hidden.split(","))
        deepfm(config, args.slate, args.deepfm_users, not args.no_profile, hidden, args.model)


if __name__ == "__main__":
    main()
