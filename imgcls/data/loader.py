"""The data loader: per-sample seeded augmentation and bad-image reporting around torch's DataLoader."""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

from ..errors import DataError

__all__ = ['SeededDataset', 'ImgclsDataLoader']


def _seed_all(seed: int) -> None:
    # the CPU generator only: seeding CUDA here would reset the model's dropout streams
    torch.random.default_generator.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)


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
        if get_worker_info() is not None:
            _seed_all(seed)
            return self.source[index]
        states = torch.get_rng_state(), random.getstate(), np.random.get_state()
        try:
            _seed_all(seed)
            return self.source[index]
        finally:
            torch.set_rng_state(states[0])
            random.setstate(states[1])
            np.random.set_state(states[2])

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
