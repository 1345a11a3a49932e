"""Training throughput of ``reloop.fit`` against a hand-written PyTorch loop, in one run.

DeepFM, 10 categorical fields, embedding 16, MLP 400-400-400, batch 4096, 1 epoch on 400k rows.
Prints samples/s of (a) a plain PyTorch loop over pre-built tensors, (b) ``reloop.fit`` end to end
(feature map fitting and tensor building included), (c) the trainer alone on the same tensors,
and the ReLoop-loss / BCE time ratio, all with Adam as the plain loop uses; then ``reloop.fit``
with its default ``optimizer="auto"``, which picks lazy Adam for these 152k embedding rows. Each
figure is the median of ``--repeats`` runs.

    python benchmarks/train_throughput.py [--rows 400000] [--repeats 3]

Targets: fit / plain >= 0.9; ReLoop / BCE <= 1.05 (the paper reports +1.8%).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import polars as pl
import torch
import torch.nn.functional as F

import reloop
from reloop.features import FeatureMap
from reloop.models import build_model
from reloop.schema import ModelSpec, TrainSpec
from reloop.train import TrainConfig, TrainData, train

FIELDS = [f"f{i}" for i in range(10)]
OPTIONS = {"embedding_dim": 16, "hidden_units": (400, 400, 400)}
BATCH = 4096


def make_frame(rows: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    cardinalities = [100_000, 50_000, 1000, 1000, 100, 100, 50, 24, 7, 3]
    columns = {
        name: rng.integers(0, c, rows) for name, c in zip(FIELDS, cardinalities, strict=True)
    }
    frame = pl.DataFrame(columns)
    return frame.with_columns(
        click=pl.Series((rng.random(rows) < 0.05).astype(np.int8)),
        pctr=pl.Series(rng.uniform(0.01, 0.1, rows).astype(np.float32)),
    )


def plain_loop(data: TrainData, schema, seed: int = 0) -> float:
    """What a user would write by hand: permute once per epoch, slice batches, BCE, Adam."""
    torch.manual_seed(seed)
    model = build_model("deepfm", schema, **OPTIONS)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    started = time.perf_counter()
    perm = torch.randperm(len(data))
    cat, num, y = data.features.categorical[perm], data.features.numeric[perm], data.label[perm]
    for start in range(0, len(data), BATCH):
        stop = start + BATCH
        loss = F.binary_cross_entropy_with_logits(
            model(cat[start:stop], num[start:stop]), y[start:stop]
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def fit_end_to_end(frame: pl.DataFrame, loss: str, optimizer: str = "adam") -> float:
    started = time.perf_counter()
    reloop.fit(
        frame,
        FIELDS,
        model=ModelSpec("deepfm", **OPTIONS),
        train=TrainSpec(batch_size=BATCH, epochs=1, optimizer=optimizer),
        loss=loss,
        alpha=0.5,
        y_last="pctr",
    )
    return time.perf_counter() - started


def trainer_only(data: TrainData, schema, loss: str) -> float:
    torch.manual_seed(0)
    model = build_model("deepfm", schema, **OPTIONS)
    started = time.perf_counter()
    config = TrainConfig(loss, 0.5, spec=TrainSpec(batch_size=BATCH, epochs=1, optimizer="adam"))
    train(model, data, config)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    frame = make_frame(args.rows)
    fmap = FeatureMap.fit(frame, FIELDS)
    data = TrainData(
        fmap.transform(frame),
        torch.from_numpy(frame["click"].cast(pl.Float32).to_numpy().copy()),
        torch.from_numpy(frame["pctr"].to_numpy().copy()),
    )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.rows:,} rows, "
        f"DeepFM 400-400-400, batch {BATCH}, 1 epoch, median of {args.repeats}"
    )
    timings: dict[str, list[float]] = {
        k: [] for k in ("plain", "fit", "trainer", "fit_reloop", "trainer_reloop", "fit_auto")
    }
    for _ in range(args.repeats):  # interleaved so that machine noise hits all variants alike
        timings["plain"].append(plain_loop(data, fmap.schema))
        timings["fit"].append(fit_end_to_end(frame, "bce"))
        timings["trainer"].append(trainer_only(data, fmap.schema, "bce"))
        timings["fit_reloop"].append(fit_end_to_end(frame, "reloop"))
        timings["trainer_reloop"].append(trainer_only(data, fmap.schema, "reloop"))
        timings["fit_auto"].append(fit_end_to_end(frame, "bce", optimizer="auto"))
    median = {k: statistics.median(v) for k, v in timings.items()}
    for name, seconds in median.items():
        print(f"{name:>15}: {seconds:6.2f} s  {args.rows / seconds:10,.0f} samples/s")
    print(
        f"reloop.fit / plain loop (throughput ratio): {median['plain'] / median['fit']:.3f}"
        "  (target >= 0.9)"
    )
    print(f"trainer / plain loop (throughput ratio):    {median['plain'] / median['trainer']:.3f}")
    print(
        f"ReLoop / BCE time, trainer:   {median['trainer_reloop'] / median['trainer']:.3f}"
        "  (target <= 1.05)"
    )
    print(f"ReLoop / BCE time, reloop.fit: {median['fit_reloop'] / median['fit']:.3f}")


if __name__ == "__main__":
    main()
