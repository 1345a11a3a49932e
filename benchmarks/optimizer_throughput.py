"""Training rows/s of the simulator's DeepFM (128-64, embedding 16) on a table3-sized vocabulary
(600k users, 20k items, 14 fields) with each optimizer, and of two 1-thread trainings side by side
(what ``retrain_workers=2`` does) against one training with every thread.

    python benchmarks/optimizer_throughput.py [--rows 300000] [--users 600000]

Optimizers: dense Adam; torch's SparseAdam on the embedding tables (sparse gradients);
``reloop.optim.LazyAdam`` on them (the same update; what ``optimizer="auto"`` uses from 100k rows).
"""

from __future__ import annotations

import argparse
import multiprocessing
import time

import numpy as np
import torch

from reloop.features import FeatureTensors, FieldSchema
from reloop.models import build_model
from reloop.schema import TrainSpec
from reloop.train import TrainConfig, TrainData, _embedding_tables, _sparse_gradients, train


def make_data(rows: int, users: int, seed: int = 0) -> tuple[FieldSchema, TrainData]:
    sizes = (users + 1, 20_001, 33, 8, 25, 21) + (9,) * 8
    rng = np.random.default_rng(seed)
    categorical = np.stack([rng.integers(0, size, rows) for size in sizes], axis=1)
    label = (rng.random(rows) < 0.06).astype(np.float32)
    features = FeatureTensors(torch.from_numpy(categorical), torch.zeros(rows, 0))
    return FieldSchema(sizes), TrainData(features, torch.from_numpy(label))


def rows_per_second(optimizer: str, rows: int, users: int, threads: int) -> float:
    torch.set_num_threads(threads)
    schema, data = make_data(rows, users)
    torch.manual_seed(0)
    model = build_model("deepfm", schema, embedding_dim=16, hidden_units=(128, 64))
    if optimizer == "sparse_adam":
        return _sparse_adam_rows_per_second(model, data)
    return train(model, data, TrainConfig(spec=TrainSpec(optimizer=optimizer))).samples_per_second


def _sparse_adam_rows_per_second(model: torch.nn.Module, data: TrainData) -> float:
    """The trainer's lazy path with torch.optim.SparseAdam in place of LazyAdam."""
    tables = [table.weight for table in _embedding_tables(model)]
    dense = [p for p in model.parameters() if all(p is not t for t in tables)]
    optimizers = [torch.optim.SparseAdam(tables, lr=1e-3), torch.optim.Adam(dense, lr=1e-3)]
    started = time.perf_counter()
    with _sparse_gradients(model, True):
        for start in range(0, len(data), 4096):
            batch = data.features.categorical[start : start + 4096]
            logits = model(batch, data.features.numeric[start : start + 4096])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, data.label[start : start + 4096]
            )
            for optimizer in optimizers:
                optimizer.zero_grad(set_to_none=True)
            loss.backward()
            for optimizer in optimizers:
                optimizer.step()
    return len(data) / (time.perf_counter() - started)


def _one_thread_lazy(args: tuple[int, int]) -> float:
    return rows_per_second("lazy_adam", *args, threads=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--users", type=int, default=600_000)
    args = parser.parse_args()
    threads = torch.get_num_threads()
    print(f"DeepFM 128-64, {args.users:,} users, {args.rows:,} rows, batch 4096, {threads} threads")
    for optimizer in ("adam", "sparse_adam", "lazy_adam"):
        speed = rows_per_second(optimizer, args.rows, args.users, threads)
        print(f"  {optimizer:<12} {speed:10,.0f} rows/s")
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        speeds = pool.map(_one_thread_lazy, [(args.rows, args.users)] * 2)
    print(
        f"  two 1-thread lazy_adam trainings side by side: {sum(speeds):,.0f} rows/s in all "
        f"({speeds[0]:,.0f} + {speeds[1]:,.0f})"
    )


if __name__ == "__main__":
    main()
