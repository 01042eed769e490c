"""Registries of datasets and pipeline steps; building datasets and data loaders."""

from __future__ import annotations

import functools
import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler, SequentialSampler

from ..errors import ConfigError
from ..registry import Registry, build_from_cfg

__all__ = ['DATASETS', 'PIPELINES', 'build_dataset', 'build_dataloader', 'worker_init_fn']

DATASETS = Registry('dataset')
PIPELINES = Registry('pipeline')


def build_dataset(cfg: Mapping | Sequence[Mapping], default_args: Mapping | None = None) -> Dataset:
    """Build a dataset from ``dict(type=..., ...)``; a list of dicts gives a ConcatDataset."""
    if isinstance(cfg, (list, tuple)):
        from .datasets.dataset_wrappers import ConcatDataset

        return ConcatDataset([build_dataset(c, default_args) for c in cfg])
    return build_from_cfg(cfg, DATASETS, default_args)


def worker_init_fn(worker_id: int, rank: int = 0, seed: int | None = None) -> None:
    """Seed torch, numpy and ``random`` in a loader worker from (loader seed, rank, worker id).

    ``torch.initial_seed()`` in a worker is the loader's base seed + worker_id, and the base
    seed is drawn anew each epoch from the loader's generator: mixing it in keeps augmentations
    different across epochs even when workers are not persistent.
    """
    mixed = np.random.SeedSequence([torch.initial_seed(), rank, worker_id, 0 if seed is None else seed])
    state = int(mixed.generate_state(1, dtype=np.uint64)[0])
    torch.manual_seed(state)
    np.random.seed(state % 2**32)
    random.seed(state)


def _dist_info() -> tuple[bool, int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return True, torch.distributed.get_rank(), torch.distributed.get_world_size()
    return False, 0, 1


def _generator(seed: int | None, stream: int) -> torch.Generator | None:
    if seed is None:
        return None  # draw from torch's global RNG, which the runner seeds
    g = torch.Generator()
    g.manual_seed(int(np.random.SeedSequence([seed, stream]).generate_state(1, dtype=np.uint64)[0]) % 2**63)
    return g


def build_dataloader(dataset: Dataset, samples_per_gpu: int, workers_per_gpu: int, num_gpus: int = 1,
                     dist: bool = False, shuffle: bool = True, seed: int | None = None,
                     drop_last: bool = False, pin_memory: bool | None = None, persistent_workers: bool = True,
                     round_up: bool = True,
                     **kwargs: Any) -> DataLoader:
    """A DataLoader yielding :func:`collate` batches (uint8 images).

    Under torch.distributed (initialized, or ``dist=True``) each process loads ``samples_per_gpu``
    images per step through a DistributedSampler (call ``loader.sampler.set_epoch(epoch)`` each
    epoch); otherwise one process loads ``num_gpus * samples_per_gpu``. ``seed`` fixes the
    shuffling and the workers' augmentation RNG. ``round_up`` is accepted for mmcls configs:
    the DistributedSampler always pads the last round unless ``drop_last``. Other keyword
    arguments go to DataLoader (e.g. ``prefetch_factor``).
    """
    for name, value, low in (('samples_per_gpu', samples_per_gpu, 1), ('workers_per_gpu', workers_per_gpu, 0),
                             ('num_gpus', num_gpus, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(f'data.{name} must be an int >= {low}, got {value!r}')
    initialized, rank, world = _dist_info()
    if dist or initialized:
        sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=shuffle,
                                     seed=0 if seed is None else seed, drop_last=drop_last)
        batch_size, num_workers = samples_per_gpu, workers_per_gpu
    else:
        sampler = (RandomSampler(dataset, generator=_generator(seed, 0)) if shuffle
                   else SequentialSampler(dataset))
        batch_size, num_workers = num_gpus * samples_per_gpu, num_gpus * workers_per_gpu
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    kwargs.setdefault('collate_fn', _collate_fn())
    kwargs.setdefault('worker_init_fn', functools.partial(worker_init_fn, rank=rank, seed=seed))
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      pin_memory=pin_memory, drop_last=drop_last, generator=_generator(seed, 1 + rank),
                      persistent_workers=persistent_workers and num_workers > 0, **kwargs)


def _collate_fn():
    from .collate import collate  # imported late: collate pulls in the pipelines, which need PIPELINES

    return collate
