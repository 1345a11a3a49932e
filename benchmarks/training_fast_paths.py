"""The two training fast paths of reloop, each against what it replaces, side by side in one run.

1. The embedding gradient (``reloop.models.embedding``): aten's dense CPU backward against
   ``index_add_``, on a simulator-sized table (26k rows x 16, a batch of 4096 rows of 14 fields,
   one field with 7 values so that rows repeat), with the bit-for-bit check of the result.
2. Adam's step (``reloop.train._adam``): ``foreach=False`` (torch's CPU default) against
   ``foreach=True`` on the parameters of the simulator's DeepFM 128-64, with the same check.

Medians of ``--repeats`` timings of ``--steps`` calls each, one torch thread (as a forecast's runs).

    python benchmarks/training_fast_paths.py [--repeats 5] [--steps 50]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

ROWS, DIM, BATCH, FIELDS = 26_000, 16, 4096, 14


def _median_ms(work: Callable[[], object], steps: int, repeats: int) -> float:
    work()  # warm
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(steps):
            work()
        times.append((time.perf_counter() - started) / steps)
    return 1000 * statistics.median(times)


def embedding_gradient(steps: int, repeats: int) -> tuple[float, float, bool]:
    generator = torch.Generator().manual_seed(0)
    indices = torch.randint(0, ROWS, (BATCH, FIELDS), generator=generator)
    indices[:, 3] = torch.randint(0, 7, (BATCH,), generator=generator)
    grad = torch.randn(BATCH, FIELDS, DIM, generator=generator)

    def aten() -> torch.Tensor:
        return torch.ops.aten.embedding_dense_backward(grad, indices, ROWS, -1, False)

    def index_add() -> torch.Tensor:
        table = grad.new_zeros(ROWS, DIM)
        return table.index_add_(0, indices.reshape(-1), grad.reshape(-1, DIM))

    same = torch.equal(aten(), index_add())
    return _median_ms(aten, steps, repeats), _median_ms(index_add, steps, repeats), same


def adam_step(steps: int, repeats: int) -> tuple[float, float, bool]:
    shapes = [(ROWS, DIM), (ROWS, 1), (FIELDS * DIM, 128), (128,), (128, 64), (64,), (64, 1)]
    results = {}
    timings = {}
    for foreach in (False, True):
        torch.manual_seed(0)
        params = [torch.nn.Parameter(torch.randn(shape)) for shape in shapes]
        optimizer = torch.optim.Adam(params, lr=1e-3, foreach=foreach)
        for p in params:
            p.grad = torch.randn(p.shape, generator=torch.Generator().manual_seed(1))
        timings[foreach] = _median_ms(optimizer.step, steps, repeats)
        results[foreach] = [p.detach().clone() for p in params]
    same = all(torch.equal(a, b) for a, b in zip(results[False], results[True], strict=True))
    return timings[False], timings[True], same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, median of {args.repeats} x {args.steps} calls")
    rows = (
        ("embedding gradient", "aten dense", "index_add_", embedding_gradient),
        ("Adam step", "foreach=False", "foreach=True", adam_step),
    )
    for name, old, new, measure in rows:
        before, after, same = measure(args.steps, args.repeats)
        print(
            f"{name:>18}: {old} {before:6.2f} ms, {new} {after:6.2f} ms, "
            f"speed-up {before / after:4.2f}x, bit-identical: {same}"
        )


if __name__ == "__main__":
    main()
