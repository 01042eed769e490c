"""Dataset wrappers of mmcls 0.x: RepeatDataset and ConcatDataset."""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence

import numpy as np
from torch.utils.data import Dataset

from ...errors import ConfigError
from ..builder import DATASETS
from .base_dataset import evaluate_classification

__all__ = ['RepeatDataset', 'ConcatDataset']


def _build(dataset):
    from ..builder import build_dataset  # imported late: builder imports this package's registry

    return build_dataset(dataset) if isinstance(dataset, (Mapping, list, tuple)) else dataset


@DATASETS.register_module()
class RepeatDataset(Dataset):
    """``dataset`` repeated ``times`` times: fewer, longer epochs for small datasets."""

    def __init__(self, dataset, times: int):
        if not isinstance(times, int) or times < 1:
            raise ConfigError(f'RepeatDataset: times must be a positive int, got {times!r}')
        self.dataset = _build(dataset)
        self.times = times
        self.CLASSES = getattr(self.dataset, 'CLASSES', None)
        self._ori_len = len(self.dataset)

    def __getitem__(self, idx: int) -> dict:
        return self.dataset[idx % self._ori_len]

    def __len__(self) -> int:
        return self.times * self._ori_len

    def get_cat_ids(self, idx: int) -> list[int]:
        """The category ids of image ``idx``."""
        return self.dataset.get_cat_ids(idx % self._ori_len)

    def get_gt_labels(self) -> np.ndarray:
        """Labels of all (repeated) images."""
        return np.tile(self.dataset.get_gt_labels(), self.times)

    def evaluate(self, *args, **kwargs):
        """Not meaningful on repeats: evaluate a plain validation dataset instead."""
        raise ConfigError('RepeatDataset cannot be evaluated: use a plain dataset for data.val / data.test')

    def __repr__(self) -> str:
        return f'{type(self).__name__}(times={self.times}, dataset={self.dataset!r})'


@DATASETS.register_module()
class ConcatDataset(Dataset):
    """Several datasets one after another; ``separate_eval`` reports metrics per dataset."""

    def __init__(self, datasets: Sequence, separate_eval: bool = True):
        if not isinstance(datasets, (list, tuple)) or not datasets:
            raise ConfigError(f'ConcatDataset: datasets must be a non-empty list, got {datasets!r}')
        self.datasets = [_build(d) for d in datasets]
        self.separate_eval = separate_eval
        self.CLASSES = getattr(self.datasets[0], 'CLASSES', None)
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def _locate(self, idx: int) -> tuple[int, int]:
        if idx < 0:
            idx += len(self)
        if not 0 <= idx < len(self):
            raise IndexError(f'index {idx} out of range for ConcatDataset of length {len(self)}')
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        return d, idx - (self.cumulative_sizes[d - 1] if d else 0)

    def __getitem__(self, idx: int) -> dict:
        d, i = self._locate(idx)
        return self.datasets[d][i]

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def get_cat_ids(self, idx: int) -> list[int]:
        """The category ids of image ``idx``."""
        d, i = self._locate(idx)
        return self.datasets[d].get_cat_ids(i)

    def get_gt_labels(self) -> np.ndarray:
        """Labels of all images, in order."""
        return np.concatenate([d.get_gt_labels() for d in self.datasets])

    def evaluate(self, results, metric='accuracy', metric_options=None, indices=None, logger=None) -> dict:
        """Metrics per dataset (keys prefixed ``'0_'``, ``'1_'``, ...) or over all images."""
        if indices is not None:
            raise ConfigError('ConcatDataset.evaluate does not take indices')
        if not self.separate_eval:
            return evaluate_classification(results, self.get_gt_labels(), metric, metric_options)
        out, start = {}, 0
        for k, (dataset, end) in enumerate(zip(self.datasets, self.cumulative_sizes)):
            part = dataset.evaluate(results[start:end], metric=metric, metric_options=metric_options)
            out.update({f'{k}_{key}': v for key, v in part.items()})
            start = end
        return out

    def __repr__(self) -> str:
        return f'{type(self).__name__}({len(self.datasets)} datasets, {len(self)} images)'
