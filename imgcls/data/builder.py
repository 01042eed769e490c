"""Registries of datasets and pipeline steps; building datasets and data loaders."""

from __future__ import annotations

import functools
import os
import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..errors import ConfigError
from ..registry import Registry, build_from_cfg

__all__ = ['DATASETS', 'PIPELINES', 'build_dataset', 'build_dataloader', 'worker_init_fn', 'cpu_count']

DATASETS = Registry('dataset')
PIPELINES = Registry('pipeline')


def build_dataset(cfg: Mapping | Sequence[Mapping], default_args: Mapping | None = None) -> Dataset:
    """Build a dataset from ``dict(type=..., ...)``; a list of dicts gives a ConcatDataset.

    ``default_args`` (e.g. ``test_mode=True`` for evaluation) reach the datasets inside the
    wrappers (RepeatDataset, ClassBalancedDataset, ConcatDataset); a KFoldDataset takes
    ``test_mode`` itself (it picks the held-out fold) and passes the rest on.
    """
    if isinstance(cfg, (list, tuple)):
        from .datasets.dataset_wrappers import ConcatDataset

        return ConcatDataset([build_dataset(c, default_args) for c in cfg])
    key, inner_args, own_args = _wrapper_parts(cfg, default_args)
    if key is None:
        return build_from_cfg(cfg, DATASETS, default_args)
    cfg = dict(cfg)
    inner = cfg[key]
    if key == 'datasets' and isinstance(inner, (list, tuple)):
        cfg[key] = [build_dataset(c, inner_args) if isinstance(c, Mapping) else c for c in inner]
    elif isinstance(inner, (Mapping, list, tuple)):
        cfg[key] = build_dataset(inner, inner_args)
    return build_from_cfg(cfg, DATASETS, own_args)


def _wrapper_parts(cfg, default_args: Mapping | None) -> tuple[str | None, dict | None, dict | None]:
    """For a wrapper config: the key of its wrapped dataset(s), their default args and its own."""
    cls = DATASETS.get(cfg.get('type')) if isinstance(cfg, Mapping) else None
    key = getattr(cls, 'wraps', None)
    if key is None or key not in cfg:
        return None, None, None
    inner = dict(default_args or {})
    own = {k: inner.pop(k) for k in getattr(cls, 'own_default_args', ()) if k in inner}
    return key, inner or None, own or None


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


def cpu_count() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def build_dataloader(dataset: Dataset, samples_per_gpu: int, workers_per_gpu: int, num_gpus: int = 1,
                     dist: bool = False, shuffle: bool = True, seed: int | None = None,
                     drop_last: bool = False, pin_memory: bool | None = None, persistent_workers: bool = True,
                     round_up: bool = True,
                     **kwargs: Any) -> DataLoader:
    """A DataLoader yielding :func:`collate` batches (uint8 images).

    Order and augmentation depend only on ``seed``, the epoch and the sample index: a
    :class:`SeededSampler` pairs each index with its own seed, and the loader's
    ``loader.dataset`` (a :class:`SeededDataset` forwarding every attribute to ``dataset``) seeds
    torch / numpy / random from it before running the pipeline. So any number of workers,
    persistent or not, gives the same batches, and a run resumed at epoch E (after
    ``loader.sampler.set_epoch(E)``, which the engine calls every epoch) repeats epoch E exactly.
    Without ``seed`` one is drawn from torch's global RNG (which the runner seeds); 0 under
    torch.distributed, where every process must draw the same order.

    Under torch.distributed (initialized, or ``dist=True``) each process loads ``samples_per_gpu``
    images per step from its share of the epoch (padded by wrapping around unless ``drop_last``);
    otherwise one process loads ``num_gpus * samples_per_gpu``. Workers are capped at the CPU
    cores available (shared among torchrun's processes on the machine); memory is pinned when
    CUDA is available. ``round_up`` is accepted for mmcls configs. Other keyword arguments go to
    DataLoader (e.g. ``prefetch_factor``); passing your own ``sampler`` or ``batch_sampler`` turns
    the per-sample seeding off.
    """
    from .loader import ImgclsDataLoader, SeededDataset
    from .samplers import SeededSampler

    for name, value, low in (('samples_per_gpu', samples_per_gpu, 1), ('workers_per_gpu', workers_per_gpu, 0),
                             ('num_gpus', num_gpus, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(f'data.{name} must be an int >= {low}, got {value!r}')
    initialized, rank, world = _dist_info()
    if dist or initialized:
        batch_size, num_workers = samples_per_gpu, workers_per_gpu
    else:
        rank, world = 0, 1
        batch_size, num_workers = num_gpus * samples_per_gpu, num_gpus * workers_per_gpu
    # more workers than cores only adds switching; torchrun's processes on one machine share its cores
    local_procs = max(1, int(os.environ.get('LOCAL_WORLD_SIZE', '1'))) if world > 1 else 1
    num_workers = min(num_workers, max(1, cpu_count() // local_procs))
    if seed is None:  # every process must shuffle alike, and their global RNGs are seeded apart
        seed = 0 if world > 1 else int(torch.randint(0, 2 ** 62, ()).item())
    if 'sampler' in kwargs or 'batch_sampler' in kwargs:
        sampler = kwargs.pop('sampler', None)
    else:
        sampler = SeededSampler(len(dataset), shuffle=shuffle, seed=seed, num_replicas=world, rank=rank,
                                drop_last=drop_last)
        dataset = SeededDataset(dataset)
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    kwargs.setdefault('collate_fn', _collate_fn())
    kwargs.setdefault('worker_init_fn', functools.partial(worker_init_fn, rank=rank, seed=seed))
    if 'batch_sampler' in kwargs:
        batch_args = {}
    else:
        batch_args = dict(batch_size=batch_size, drop_last=drop_last, sampler=sampler)
    return ImgclsDataLoader(dataset, num_workers=num_workers, pin_memory=pin_memory,
                            generator=_generator(seed, 1 + rank),
                            persistent_workers=persistent_workers and num_workers > 0, **batch_args, **kwargs)


def _collate_fn():
    from .collate import collate  # imported late: collate pulls in the pipelines, which need PIPELINES

    return collate
