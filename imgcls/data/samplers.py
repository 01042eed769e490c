"""SeededSampler: the epoch's sample order, each index paired with its own augmentation seed.

Reproducible augmentation across a resume needs every sample's random state to depend on
nothing but (seed, epoch, index): not on which worker loads it, how many workers there are,
whether they persist, or what ran before. The sampler (in the main process) computes that
state as a 63-bit seed and hands it to the worker with the index; :class:`SeededDataset`
seeds the RNGs from it before running the pipeline.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler

__all__ = ['SeededSampler', 'sample_seeds']

_MASK63 = np.uint64(2 ** 63 - 1)


def _mix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a bijective 64-bit hash that spreads nearby inputs apart."""
    with np.errstate(over='ignore'):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def seed_base(seed: int, epoch: int) -> int:
    """What the sample seeds of one (seed, epoch) derive from (see :func:`seeds_from_base`)."""
    return int(np.random.SeedSequence([int(seed) % 2 ** 64, int(epoch)]).generate_state(1, dtype=np.uint64)[0])


def sample_seeds(seed: int, epoch: int, indices: np.ndarray) -> np.ndarray:
    """The augmentation seed (0 <= s < 2**63) of each dataset index, for one (seed, epoch)."""
    return seeds_from_base(seed_base(seed, epoch), indices)


def seed_from_base(base: int, index: int) -> int:
    """One :func:`seeds_from_base` value, in plain Python ints (a streaming dataset's per-sample call)."""
    mask = 2 ** 64 - 1
    x = (index * 0x9E3779B97F4A7C15 + base) & mask
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & mask
    return (x ^ (x >> 31)) & (2 ** 63 - 1)


def seeds_from_base(base: int, indices: np.ndarray) -> np.ndarray:
    """:func:`sample_seeds` from a :func:`seed_base` computed once."""
    base = np.uint64(base)
    with np.errstate(over='ignore'):
        x = np.asarray(indices, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15) + base
    return _mix(x) & _MASK63


class SeededSampler(Sampler):
    """Yields ``(index, sample_seed)`` pairs: this process's share of one epoch.

    The order is a permutation drawn from (seed, epoch) when ``shuffle``, else 0..N-1. Under
    several processes (``num_replicas``), the order is padded by wrapping around (or cut, with
    ``drop_last``) to a multiple of ``num_replicas`` and process ``rank`` takes every
    ``num_replicas``-th entry from ``rank``, as torch's DistributedSampler does.

    Call :meth:`set_epoch` before each epoch (the engine does, also after a resume); without it
    each new iteration moves on to the next epoch by itself.
    """

    def __init__(self, size: int, shuffle: bool = True, seed: int = 0, num_replicas: int = 1, rank: int = 0,
                 drop_last: bool = False):
        if not 0 <= rank < num_replicas:
            raise ValueError(f'rank {rank} is not in 0..{num_replicas - 1}')
        self.size, self.shuffle, self.seed = int(size), bool(shuffle), int(seed)
        self.num_replicas, self.rank, self.drop_last = num_replicas, rank, drop_last
        self.epoch = 0
        self.start = 0

    @property
    def num_samples(self) -> int:
        """How many pairs this process yields per epoch."""
        if self.drop_last:
            return self.size // self.num_replicas
        return math.ceil(self.size / self.num_replicas)

    def set_start(self, start: int) -> None:
        """Skip the first ``start`` entries of this process's share in the next iteration only
        (resuming in the middle of an epoch, without loading the batches already trained on)."""
        self.start = int(start)

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch``'s order and seeds for the next iteration."""
        self.epoch = int(epoch)

    def order(self, epoch: int) -> np.ndarray:
        """All processes' indices of ``epoch``, padded or cut to a multiple of ``num_replicas``."""
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(int(np.random.SeedSequence([self.seed % 2 ** 64, epoch, 1]).generate_state(1)[0]))
            order = torch.randperm(self.size, generator=g).numpy()
        else:
            order = np.arange(self.size)
        total = self.num_samples * self.num_replicas
        if total > len(order):
            order = np.resize(order, total)  # wraps around, repeating the first indices
        return order[:total]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch
        self.epoch += 1  # set_epoch overrides this; plain re-iteration still reshuffles
        mine = self.order(epoch)[self.rank::self.num_replicas][self.start:]
        self.start = 0
        return iter(zip(mine.tolist(), sample_seeds(self.seed, epoch, mine).tolist()))

    def __len__(self) -> int:
        return self.num_samples
