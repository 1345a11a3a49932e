"""Keyed randomness: no global RNG, no hidden stream position.

Two tools:

* ``generator(seed, day, purpose)``: a fresh ``np.random.Generator`` from a ``SeedSequence`` keyed
  by (seed, day, purpose). The world's draws for day ``d`` come from streams keyed by ``d``, so they
  do not depend on how many draws happened before, on the arms, or on a resume from a checkpoint.
* ``keyed_uniform(key, counters)``: a counter-based hash (SplitMix64 over uint64 arrays) that gives
  one uniform per counter. It is what common random numbers need: the click draw of an impression
  is a pure function of (seed, day, user, request, position), whatever else is served.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

__all__ = ["Purpose", "generator", "keyed_uniform", "pack_counters", "stream_key"]

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB


class Purpose(IntEnum):
    """Stream names: one per kind of draw, so that adding a draw never shifts another stream."""

    INIT = 1
    DRIFT = 2
    REGIME = 3
    POPULATION_SHIFT = 4
    ITEMS = 5
    REQUESTS = 6
    CANDIDATES = 7
    CLICK = 8
    EXPLORE_EPSILON = 9
    EXPLORE_PERMUTATION = 10
    EXPLORE_SWAP = 11
    SCORER = 12


def _zigzag(x: int) -> int:
    """Map a signed int to a non-negative one (SeedSequence entropy must be non-negative)."""
    return 2 * x if x >= 0 else -2 * x - 1


def generator(seed: int, day: int, purpose: Purpose, *extra: int) -> np.random.Generator:
    """A numpy Generator keyed by (seed, day, purpose, *extra)."""
    entropy = [_zigzag(int(seed)), _zigzag(int(day)), int(purpose), *map(_zigzag, extra)]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def _mix_int(z: int) -> int:
    z = (z + _GOLDEN) & _MASK
    z = ((z ^ (z >> 30)) * _M1) & _MASK
    z = ((z ^ (z >> 27)) * _M2) & _MASK
    return z ^ (z >> 31)


def stream_key(seed: int, day: int, purpose: Purpose, salt: int = 0) -> int:
    """A 64-bit key for ``keyed_uniform`` from (seed, day, purpose, salt)."""
    z = _mix_int(_zigzag(int(seed)) & _MASK)
    for part in (_zigzag(int(day)), int(purpose), _zigzag(int(salt))):
        z = _mix_int(z ^ (part & _MASK))
    return z


def pack_counters(
    user_id: np.ndarray, request_index: np.ndarray, slot: np.ndarray | int
) -> np.ndarray:
    """One uint64 counter per (user < 2**32, request_index < 2**16, slot < 2**16), broadcast."""
    user = np.asarray(user_id).astype(np.uint64) << np.uint64(32)
    request = np.asarray(request_index).astype(np.uint64) << np.uint64(16)
    return user | request | np.asarray(slot).astype(np.uint64)


def keyed_uniform(key: int, counters: np.ndarray) -> np.ndarray:
    """Uniforms in [0, 1), float64, one per counter: output number ``counter`` of a SplitMix64
    stream seeded with ``key`` (a bijection of the counter, so distinct counters never collide)."""
    z = counters.astype(np.uint64, copy=True)
    z *= np.uint64(_GOLDEN)
    z += np.uint64((key + _GOLDEN) & _MASK)
    z ^= z >> np.uint64(30)
    z *= np.uint64(_M1)
    z ^= z >> np.uint64(27)
    z *= np.uint64(_M2)
    z ^= z >> np.uint64(31)
    z >>= np.uint64(11)
    return z.astype(np.float64) * (1.0 / (1 << 53))
