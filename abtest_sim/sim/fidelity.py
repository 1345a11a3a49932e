"""How close a fitted world's log is to the real one: the same statistics of both logs side by
side, and whether a CTR model learned on one predicts the other.

The simulated log comes from the fitted world with the real log's number of users and days, each
request served a random slate of the real log's mean impressions per request (without logged
positions, with no position decay: the log's impressions were all examined). Statistics:
impressions per user (quantiles), the item popularity curve (share of impressions of the top
items), CTR overall and by decile of user activity, and the held-out AUC of a DeepFM trained on
the first 80% of each log's days: real on real, simulated on simulated, simulated on real. A
parametric world's user and item ids do not correspond to the log's, so the simulated-on-real
AUC measures what transfers through the other features (hour, weekday, category).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

import numpy as np
import polars as pl

from abtest_sim.sim.sample_log import simulate_log
from abtest_sim.world import WorldConfig
from abtest_sim.world.fit.log import InteractionLog

__all__ = ["compare_logs", "fidelity", "fidelity_figure", "log_frame"]

QUANTILES = (0.1, 0.5, 0.9, 0.99)
TOP_ITEMS = (0.01, 0.1, 0.5)


def log_frame(log: InteractionLog) -> pl.DataFrame:
    """The log's columns a model and the statistics read (category per impression, if any)."""
    columns = {"user": log.user, "item": log.item, "day": log.day, "hour": log.hour,
               "weekday": log.weekday, "click": log.click}  # fmt: skip
    if log.item_category is not None:
        columns["category"] = log.item_category[log.item]
    return pl.DataFrame(columns)


def fidelity(log: InteractionLog, world: WorldConfig, *, seed: int, slate: float) -> dict:
    """The real log against a log simulated from ``world`` (its population set to the log's).
    Without logged positions every impression of the log counts as examined, as in a rating log,
    so the simulation has no position decay either (the world itself keeps the default)."""
    world = replace(world, n_users=log.n_users)
    if log.position is None:
        world = replace(world, position_eta=0.0)
    size = int(min(max(round(slate), 1), world.n_candidates))
    simulated = simulate_log(world, seed=seed, days=log.n_days, slate_size=size)
    sim = simulated.select(
        user="user_id", item="item_id", day="day", hour="hour", weekday="weekday", click="click",
        category="item_category",
    ).with_columns(pl.all().cast(pl.Int64))  # fmt: skip
    real = log_frame(log)
    if "category" not in real.columns:
        sim = sim.drop("category")
    return compare_logs(real, sim, seed=seed)


def compare_logs(real: pl.DataFrame, sim: pl.DataFrame, *, seed: int) -> dict[str, Any]:
    stats = {name: _statistics(frame) for name, frame in (("real", real), ("simulated", sim))}
    return {**stats, "auc": _transfer_auc(real, sim, seed)}


def _statistics(frame: pl.DataFrame) -> dict[str, Any]:
    per_user = frame.group_by("user").agg(pl.len().alias("n"), pl.col("click").sum().alias("c"))
    n = per_user.get_column("n").to_numpy()
    popularity = np.sort(frame.group_by("item").len().get_column("len").to_numpy())[::-1]
    decile = per_user.with_columns(
        (pl.col("n").rank("ordinal") * 10 // (pl.len() + 1)).alias("decile")
    )
    by_decile = decile.group_by("decile").agg(pl.col("c").sum() / pl.col("n").sum()).sort("decile")
    return {
        "impressions": frame.height,
        "users": per_user.height,
        "ctr": float(cast(float, frame.get_column("click").mean())),
        "impressions_per_user": {str(q): float(np.quantile(n, q)) for q in QUANTILES},
        "top_items_share": {
            str(t): float(popularity[: max(1, int(t * popularity.size))].sum() / popularity.sum())
            for t in TOP_ITEMS
        },
        "ctr_by_activity_decile": by_decile.get_column("c").to_list(),
        # curves for the plot: impressions per user at 20 quantiles, cumulative item share
        "activity_curve": np.quantile(n, np.linspace(0, 1, 21)).tolist(),
        "popularity_curve": (np.cumsum(popularity) / popularity.sum())[
            np.linspace(0, popularity.size - 1, 21).astype(int)
        ].tolist(),
    }


def _transfer_auc(real: pl.DataFrame, sim: pl.DataFrame, seed: int) -> dict[str, float]:
    """DeepFM (64-32) AUCs on the last 20% of days, trained on the first 80%."""
    import reloop
    from reloop.metrics import auc

    features = [c for c in ("user", "item", "hour", "weekday", "category") if c in real.columns]

    def split(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        cut = int(cast(int, frame.get_column("day").max()) * 0.8)
        return frame.filter(pl.col("day") <= cut), frame.filter(pl.col("day") > cut)

    (real_train, real_test), (sim_train, sim_test) = split(real), split(sim)
    spec = reloop.ModelSpec("deepfm", embedding_dim=8, hidden_units=(64, 32))
    train = reloop.TrainSpec(epochs=2)

    def fitted(frame: pl.DataFrame) -> Any:
        return reloop.fit(frame, features, model=spec, train=train, seed=seed)

    def score(model: Any, test: pl.DataFrame) -> float:
        return float(auc(test["click"], reloop.predict(model, test)))

    on_real, on_sim = fitted(real_train), fitted(sim_train)
    return {"real_on_real": score(on_real, real_test), "sim_on_sim": score(on_sim, sim_test),
            "sim_on_real": score(on_sim, real_test)}  # fmt: skip


def fidelity_figure(result: dict[str, Any], path: Any) -> None:
    """Two panels, real against simulated: impressions per user by quantile, and the cumulative
    share of impressions of the items ranked by popularity."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 3.4))
    activity, popularity = figure.subplots(1, 2)
    grid = np.linspace(0, 100, 21)
    for name, style in (("real", "-"), ("simulated", "--")):
        activity.plot(grid, result[name]["activity_curve"], style, label=name)
        popularity.plot(grid, result[name]["popularity_curve"], style, label=name)
    activity.set(yscale="log", xlabel="user percentile", ylabel="impressions per user")
    popularity.set(xlabel="items, most shown first (%)", ylabel="share of impressions")
    activity.legend()
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=90, metadata={"Software": None})
