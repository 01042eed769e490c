"""The data loader: per-sample seeded augmentation and bad-image reporting around torch's DataLoader,
and build_dataloader, which sets it up from a config's ``data`` settings."""

from __future__ import annotations

import functools
import os
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

from ..errors import ConfigError, DataError
from .collate import collate
from .samplers import SeededSampler

__all__ = ['SeededDataset', 'ImgclsDataLoader', 'build_dataloader', 'worker_init_fn', 'cpu_count']


def _seed_all(seed: int) -> None:
    # the CPU generator only: seeding CUDA here would reset the model's dropout streams
    torch.random.default_generator.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)


def run_seeded(seed: int, fn, *args):
    """``fn(*args)`` with torch's CPU RNG, ``random`` and ``numpy.random`` seeded from ``seed``. In a loader
    worker the RNGs are simply seeded; in the main process their states are put back afterwards, so the
    training loop's own random streams do not depend on the data."""
    if get_worker_info() is not None:
        _seed_all(seed)
        return fn(*args)
    states = torch.get_rng_state(), random.getstate(), np.random.get_state()
    try:
        _seed_all(seed)
        return fn(*args)
    finally:
        torch.set_rng_state(states[0])
        random.setstate(states[1])
        np.random.set_state(states[2])


class SeededDataset(Dataset):
    """``source[index]`` run with torch's CPU RNG, ``random`` and ``numpy.random`` seeded from a sample seed.

    Indexed by the ``(index, sample_seed)`` pairs of :class:`imgcls.data.samplers.SeededSampler`
    (a plain index works too, unseeded). In a worker process the RNGs are simply seeded; in the
    main process (``workers_per_gpu=0``) their states are put back afterwards, so the training
    loop's own random streams do not depend on the data. Any other attribute is the source
    dataset's (``loader.dataset.CLASSES``, ``.evaluate``, ``.bad_images`` ...).
    """

    def __init__(self, source: Dataset):
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, item):
        if not isinstance(item, tuple):
            return self.source[item]
        index, seed = item
        return run_seeded(seed, self.source.__getitem__, index)

    def __getattr__(self, name: str):
        if name.startswith('__') or name == 'source':  # not set yet (e.g. while unpickling)
            raise AttributeError(name)
        return getattr(self.source, name)

    def __repr__(self) -> str:
        return f'SeededDataset({self.source!r})'


def _worker_message(error: Exception) -> str:
    """The original message of an error re-raised from a worker, without the worker's traceback."""
    text = str(error.args[0]) if error.args else str(error)
    if not text.startswith('Caught '):
        return text
    cls = type(error)
    for marker in (f'{cls.__module__}.{cls.__qualname__}: ', f'{cls.__name__}: ', 'Error: '):
        if marker in text:
            return text.rsplit(marker, 1)[1].strip()
    return text


class ImgclsDataLoader(DataLoader):
    """A DataLoader that turns worker errors into one-paragraph DataErrors and collects skipped images.

    Batches whose samples replaced unreadable images carry their paths in ``batch['skipped']``
    (see :func:`imgcls.data.collate`); this loader, in the main process, removes that key, adds
    the paths to ``dataset.bad_images`` (each path once) and counts every skip in ``num_skipped``.
    """

    num_skipped = 0

    def __len__(self) -> int:
        # a streaming dataset knows how many batches it hands this process (torch would guess from its length)
        counter = getattr(self.dataset, 'num_batches', None)
        if isinstance(self.dataset, IterableDataset) and callable(counter):
            return counter()
        return super().__len__()

    def __iter__(self) -> Iterator:
        iterator = super().__iter__()
        while True:
            try:
                batch = next(iterator)
            except StopIteration:
                return
            except DataError as e:
                raise type(e)(_worker_message(e)) from None
            if isinstance(batch, dict) and 'skipped' in batch:
                self._record(batch.pop('skipped'))
            yield batch

    def _record(self, paths: list[str]) -> None:
        self.num_skipped += len(paths)
        found = getattr(self.dataset, 'bad_images', None)
        if isinstance(found, list):
            found.extend(p for p in dict.fromkeys(paths) if p not in found)


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
    if isinstance(dataset, IterableDataset):
        # a streaming dataset orders and shares out its samples itself (from the seed, epoch and rank)
        if 'sampler' in kwargs or 'batch_sampler' in kwargs:
            raise ConfigError(f'{type(dataset).__name__} streams its samples in its own order: drop the sampler '
                              'from the data loader settings')
        if hasattr(dataset, 'configure_loader'):
            dataset.configure_loader(batch_size=batch_size, drop_last=drop_last, rank=rank, world=world, seed=seed,
                                     num_workers=num_workers, shuffle=shuffle)
        kwargs.setdefault('collate_fn', collate)
        kwargs.setdefault('worker_init_fn', functools.partial(worker_init_fn, rank=rank, seed=seed))
        return ImgclsDataLoader(dataset, batch_size=batch_size, drop_last=drop_last, num_workers=num_workers,
                                pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
                                persistent_workers=persistent_workers and num_workers > 0, **kwargs)
    if 'sampler' in kwargs or 'batch_sampler' in kwargs:
        sampler = kwargs.pop('sampler', None)
    else:
        sampler = SeededSampler(len(dataset), shuffle=shuffle, seed=seed, num_replicas=world, rank=rank,
                                drop_last=drop_last)
        dataset = SeededDataset(dataset)
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    kwargs.setdefault('collate_fn', collate)
    kwargs.setdefault('worker_init_fn', functools.partial(worker_init_fn, rank=rank, seed=seed))
    if 'batch_sampler' in kwargs:
        batch_args = {}
    else:
        batch_args = dict(batch_size=batch_size, drop_last=drop_last, sampler=sampler)
    return ImgclsDataLoader(dataset, num_workers=num_workers, pin_memory=pin_memory,
                            generator=_generator(seed, 1 + rank),
                            persistent_workers=persistent_workers and num_workers > 0, **batch_args, **kwargs)

