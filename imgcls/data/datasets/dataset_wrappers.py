"""Dataset wrappers of mmcls 0.x: RepeatDataset, ConcatDataset, ClassBalancedDataset and KFoldDataset."""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence

import numpy as np
from torch.utils.data import Dataset, IterableDataset

from ...errors import ConfigError, DataError
from ...evaluation import evaluate_single_label
from ..builder import build_dataset
from ..registries import DATASETS

__all__ = ['RepeatDataset', 'ConcatDataset', 'ClassBalancedDataset', 'KFoldDataset']


def _build(dataset, wrapper: str):
    built = build_dataset(dataset) if isinstance(dataset, (Mapping, list, tuple)) else dataset
    if isinstance(built, IterableDataset):
        raise ConfigError(f'{wrapper} cannot wrap {type(built).__name__}: a streaming dataset is read in order, not '
                          'by index. Use it directly (it reshuffles every epoch; for more passes raise the epochs)')
    return built


@DATASETS.register_module()
class RepeatDataset(Dataset):
    """``dataset`` repeated ``times`` times: fewer, longer epochs for small datasets."""

    wraps = 'dataset'  # build_dataset passes its default_args to the wrapped dataset

    def __init__(self, dataset, times: int):
        if not isinstance(times, int) or times < 1:
            raise ConfigError(f'RepeatDataset: times must be a positive int, got {times!r}')
        self.dataset = _build(dataset, 'RepeatDataset')
        self.times = times
        self.CLASSES = getattr(self.dataset, 'CLASSES', None)
        self._ori_len = len(self.dataset)
        self.bad_images: list[str] = []  # filled by imgcls's data loader (see BaseDataset.skip_bad_images)

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

    wraps = 'datasets'

    def __init__(self, datasets: Sequence, separate_eval: bool = True):
        if not isinstance(datasets, (list, tuple)) or not datasets:
            raise ConfigError(f'ConcatDataset: datasets must be a non-empty list, got {datasets!r}')
        self.datasets = [_build(d, 'ConcatDataset') for d in datasets]
        self.separate_eval = separate_eval
        self.CLASSES = getattr(self.datasets[0], 'CLASSES', None)
        self.bad_images: list[str] = []  # filled by imgcls's data loader (see BaseDataset.skip_bad_images)
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
            return evaluate_single_label(results, self.get_gt_labels(), metric, metric_options)
        out, start = {}, 0
        for k, (dataset, end) in enumerate(zip(self.datasets, self.cumulative_sizes)):
            part = dataset.evaluate(results[start:end], metric=metric, metric_options=metric_options)
            out.update({f'{k}_{key}': v for key, v in part.items()})
            start = end
        return out

    def __repr__(self) -> str:
        return f'{type(self).__name__}({len(self.datasets)} datasets, {len(self)} images)'


def repeat_factors(cat_ids: list[list[int]], oversample_thr: float) -> np.ndarray:
    """Per-image repeat factors of class-balanced sampling (LVIS, Gupta et al. 2019).

    A category c seen in a fraction f(c) of the images gets r(c) = max(1, sqrt(thr / f(c)));
    an image gets the largest r(c) of its categories (1 when it has none).
    """
    num = len(cat_ids)
    counts: dict[int, int] = {}
    for ids in cat_ids:
        for c in set(ids):
            counts[c] = counts.get(c, 0) + 1
    cat_factor = {c: max(1.0, math.sqrt(oversample_thr / (n / num))) for c, n in counts.items()}
    return np.array([max((cat_factor[c] for c in set(ids)), default=1.0) for ids in cat_ids])


@DATASETS.register_module()
class ClassBalancedDataset(Dataset):
    """Repeat images of rare classes so that each class is seen more evenly (mmcls 0.x).

    Each image is repeated ``ceil(r)`` times, with ``r`` from :func:`repeat_factors`: a class in
    fewer than ``oversample_thr`` (a fraction) of the images is oversampled. ``oversample_thr=0``
    repeats nothing. Uses ``dataset.get_cat_ids(idx)``, so multi-label datasets work too.
    """

    wraps = 'dataset'

    def __init__(self, dataset, oversample_thr: float):
        if not isinstance(oversample_thr, (int, float)) or isinstance(oversample_thr, bool) or oversample_thr < 0:
            raise ConfigError(f'ClassBalancedDataset: oversample_thr must be a number >= 0 (a fraction of the '
                              f'images, e.g. 1e-3), got {oversample_thr!r}')
        self.dataset = _build(dataset, 'ClassBalancedDataset')
        self.oversample_thr = float(oversample_thr)
        self.CLASSES = getattr(self.dataset, 'CLASSES', None)
        self.bad_images: list[str] = []
        cat_ids = [list(self.dataset.get_cat_ids(i)) for i in range(len(self.dataset))]
        self.repeat_factors = repeat_factors(cat_ids, self.oversample_thr)
        repeats = np.ceil(self.repeat_factors).astype(np.int64)
        self.repeat_indices = np.repeat(np.arange(len(self.dataset)), repeats)

    def __getitem__(self, idx: int) -> dict:
        return self.dataset[int(self.repeat_indices[idx])]

    def __len__(self) -> int:
        return len(self.repeat_indices)

    def get_cat_ids(self, idx: int) -> list[int]:
        """The category ids of image ``idx``."""
        return self.dataset.get_cat_ids(int(self.repeat_indices[idx]))

    def get_gt_labels(self) -> np.ndarray:
        """Labels of all (repeated) images."""
        return self.dataset.get_gt_labels()[self.repeat_indices]

    def evaluate(self, *args, **kwargs):
        """Not meaningful on repeats: evaluate a plain validation dataset instead."""
        raise ConfigError('ClassBalancedDataset cannot be evaluated: use a plain dataset for data.val / data.test')

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(oversample_thr={self.oversample_thr}, {len(self)} samples from '
                f'{len(self.dataset)} images)')


@DATASETS.register_module()
class KFoldDataset(Dataset):
    """One fold of k-fold cross-validation (mmcls 0.x).

    The images (shuffled by ``np.random.default_rng(seed)`` when ``seed`` is given, else in
    order) are cut into ``num_splits`` contiguous parts; part ``fold`` spans
    ``[n * fold // num_splits, n * (fold + 1) // num_splits)``. With ``test_mode=True`` the dataset
    is that part, otherwise all the others. Evaluation maps back to the wrapped dataset's labels.
    """

    wraps = 'dataset'
    own_default_args = ('test_mode',)  # build_dataset's test_mode picks the fold, not the wrapped split

    def __init__(self, dataset, fold: int = 0, num_splits: int = 5, test_mode: bool = False,
                 seed: int | None = None):
        if not isinstance(num_splits, int) or num_splits < 2:
            raise ConfigError(f'KFoldDataset: num_splits must be an int >= 2, got {num_splits!r}')
        if not isinstance(fold, int) or not 0 <= fold < num_splits:
            raise ConfigError(f'KFoldDataset: fold must be an int in 0..{num_splits - 1}, got {fold!r}')
        self.dataset = _build(dataset, 'KFoldDataset')
        self.fold, self.num_splits, self.test_mode, self.seed = fold, num_splits, test_mode, seed
        self.CLASSES = getattr(self.dataset, 'CLASSES', None)
        self.bad_images: list[str] = []
        n = len(self.dataset)
        order = np.arange(n)
        if seed is not None:
            np.random.default_rng(seed).shuffle(order)
        start, end = n * fold // num_splits, n * (fold + 1) // num_splits
        self.indices = order[start:end] if test_mode else np.concatenate([order[:start], order[end:]])
        if len(self.indices) == 0:
            raise DataError(f'KFoldDataset: fold {fold} of {num_splits} is empty for a dataset of {n} images')

    def __getitem__(self, idx: int) -> dict:
        return self.dataset[int(self.indices[idx])]

    def __len__(self) -> int:
        return len(self.indices)

    def get_cat_ids(self, idx: int) -> list[int]:
        """The category ids of image ``idx``."""
        return self.dataset.get_cat_ids(int(self.indices[idx]))

    def get_gt_labels(self) -> np.ndarray:
        """Labels of the fold's images."""
        return self.dataset.get_gt_labels()[self.indices]

    def evaluate(self, results, *args, **kwargs) -> dict:
        """Evaluate ``results`` (one per image of this fold) against the wrapped dataset's labels."""
        if kwargs.get('indices') is not None:
            raise ConfigError('KFoldDataset.evaluate does not take indices')
        kwargs['indices'] = self.indices.tolist()
        return self.dataset.evaluate(results, *args, **kwargs)

    def __repr__(self) -> str:
        part = 'test' if self.test_mode else 'train'
        return f'{type(self).__name__}(fold={self.fold}/{self.num_splits}, {part}, {len(self)} images)'
