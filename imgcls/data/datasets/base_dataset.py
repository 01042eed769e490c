"""BaseDataset: the mmcls 0.x dataset interface (info dicts → pipeline → sample)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ...errors import ConfigError, DataError
from ..pipelines import Compose
from ..pipelines.loading import check_file_client_args

__all__ = ['BaseDataset', 'evaluate_classification']

_METRICS = ('accuracy',)


def _expand(path: str | None) -> str | None:
    return os.path.expanduser(path) if isinstance(path, str) and path else path


def _stack_scores(results) -> np.ndarray:
    """A list of per-image score vectors (arrays or tensors), or an (N, K) array → (N, K) float array."""
    if isinstance(results, torch.Tensor):
        return results.detach().float().cpu().numpy()
    rows = [r.detach().float().cpu().numpy() if isinstance(r, torch.Tensor) else np.asarray(r)
            for r in results]
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    try:
        scores = np.stack(rows).astype(np.float32)
    except ValueError:
        shapes = sorted({np.shape(r) for r in rows})[:2]
        raise DataError(f'evaluate: per-image scores must all have the same length, '
                        f'got shapes {shapes}') from None
    if scores.ndim != 2:
        raise DataError(f'evaluate: expected one score vector per image, got shape {scores.shape}')
    return scores


def _topk_accuracy(scores: np.ndarray, labels: np.ndarray, topk: Sequence[int]) -> list[float]:
    """Top-k accuracy (percent) for each k; k above the number of classes counts as all classes."""
    num_classes = scores.shape[1]
    maxk = min(max(topk), num_classes)
    pred = torch.from_numpy(scores).topk(maxk, dim=1).indices.numpy()
    hit = pred == labels[:, None]
    return [float(hit[:, :min(k, num_classes)].any(axis=1).mean() * 100) for k in topk]


def evaluate_classification(results, gt_labels: np.ndarray, metric: str | Sequence[str] = 'accuracy',
                            metric_options: Mapping | None = None) -> dict[str, float]:
    """Single-label metrics from per-image scores; keys as mmcls (``accuracy_top-1``, ...)."""
    metrics = [metric] if isinstance(metric, str) else list(metric)
    unknown = [m for m in metrics if m not in _METRICS]
    if unknown:
        raise ConfigError(f'evaluate: metric {unknown[0]!r} is not supported; choose from {list(_METRICS)}')
    options = dict(metric_options or {})
    topk = options.pop('topk', (1, 5))
    if options.get('thrs') is not None:
        raise ConfigError('evaluate: metric_options thrs is not supported yet; remove it')
    ks = (topk,) if isinstance(topk, int) else tuple(topk)
    if not ks or not all(isinstance(k, int) and k > 0 for k in ks):
        raise ConfigError(f'evaluate: metric_options topk must be a positive int or a tuple of them, '
                          f'got {topk!r}')
    scores = _stack_scores(results)
    gt_labels = np.asarray(gt_labels)
    if len(scores) != len(gt_labels):
        raise DataError(f'evaluate: got {len(scores)} results for {len(gt_labels)} images in the dataset')
    if len(scores) == 0:
        raise DataError('evaluate: no results to evaluate')
    acc = _topk_accuracy(scores, gt_labels.astype(np.int64), ks)
    if isinstance(topk, int):
        return {'accuracy': acc[0]}
    return {f'accuracy_top-{k}': a for k, a in zip(ks, acc)}


class BaseDataset(Dataset):
    """A list of info dicts (``load_annotations``) run through a pipeline on ``__getitem__``.

    Args:
        data_prefix: the folder that image paths are relative to.
        pipeline: a list of pipeline step dicts (or callables).
        classes: class names: None (the class attribute ``CLASSES``), a list/tuple,
            or the path of a text file with one name per line.
        ann_file: an annotation file, where the dataset type uses one.
        test_mode: built for testing (kept for mmcls compatibility).
        file_client_args: mmcv storage backend; only ``dict(backend='disk')`` is supported.
    """

    CLASSES: Sequence[str] | None = None

    def __init__(self, data_prefix: str | None, pipeline: Sequence = (), classes=None,
                 ann_file: str | None = None, test_mode: bool = False,
                 file_client_args: Mapping | None = None):
        check_file_client_args(file_client_args, type(self).__name__)
        self.data_prefix = _expand(data_prefix)
        self.ann_file = _expand(ann_file)
        self.test_mode = test_mode
        self.file_client_args = file_client_args
        self.pipeline = Compose(pipeline)
        self.CLASSES = self.get_classes(classes)
        self.data_infos = self.load_annotations()
        self._check_infos()

    def load_annotations(self) -> list[dict]:
        """Return one info dict per image (no image is read here)."""
        raise NotImplementedError(f'{type(self).__name__} must implement load_annotations()')

    def _check_infos(self) -> None:
        if not self.data_infos:
            where = ', '.join(f'{k}={v!r}' for k, v in (('data_prefix', self.data_prefix),
                                                          ('ann_file', self.ann_file)) if v)
            raise DataError(f'{type(self).__name__} is empty: no images found ({where or "no source given"})')
        if self.CLASSES is None:
            return
        labels = self.get_gt_labels()
        if labels.ndim != 1:
            return  # multi-label vectors are checked by their dataset
        bad = np.flatnonzero((labels < 0) | (labels >= len(self.CLASSES)))
        if bad.size:
            i = int(bad[0])
            info = self.data_infos[i]
            name = info.get('img_info', {}).get('filename') or info.get('filename')
            raise DataError(f'{type(self).__name__}: image {i} ({name}) has label {int(labels[i])}, outside '
                            f'0..{len(self.CLASSES) - 1} for {len(self.CLASSES)} classes')

    @classmethod
    def get_classes(cls, classes=None) -> Sequence[str] | None:
        """Class names from None (``cls.CLASSES``), a list/tuple, or a text file with one per line."""
        if classes is None:
            return cls.CLASSES
        if isinstance(classes, str):
            path = os.path.expanduser(classes)
            try:
                with open(path, encoding='utf-8') as fh:
                    names = [line.strip() for line in fh if line.strip()]
            except OSError as e:
                raise DataError(f'cannot read the class-names file classes={classes!r}: '
                                f'{e.strerror}') from None
            if not names:
                raise DataError(f'the class-names file {classes!r} is empty')
        elif isinstance(classes, (list, tuple)):
            names = classes
        else:
            raise ConfigError(f'classes must be None, a list of names or a file path, got {classes!r}')
        if not all(isinstance(n, str) for n in names):
            raise ConfigError(f'classes must be strings, got {list(names)!r}')
        dup = sorted(n for n, count in Counter(names).items() if count > 1)
        if dup:
            raise ConfigError(f'classes contains duplicated names: {dup}')
        return names

    @property
    def class_to_idx(self) -> dict[str, int]:
        """Class name → label index."""
        return {name: i for i, name in enumerate(self.CLASSES or ())}

    def get_gt_labels(self) -> np.ndarray:
        """All ground-truth labels, as an int64 array."""
        return np.array([info['gt_label'] for info in self.data_infos], dtype=np.int64)

    def get_cat_ids(self, idx: int) -> list[int]:
        """The category ids of image ``idx`` (used by class-balanced sampling)."""
        return [int(self.data_infos[idx]['gt_label'])]

    def prepare_data(self, idx: int) -> dict:
        """Run the pipeline on a copy of image ``idx``'s info."""
        # a shallow copy plus nested dicts: steps replace values, they never edit arrays in place
        info = {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.data_infos[idx].items()}
        return self.pipeline(info)

    def __len__(self) -> int:
        return len(self.data_infos)

    def __getitem__(self, idx: int) -> dict:
        return self.prepare_data(idx)

    def evaluate(self, results, metric: str | Sequence[str] = 'accuracy',
                 metric_options: Mapping | None = None, indices: Sequence[int] | None = None,
                 logger=None) -> dict[str, float]:
        """Top-k accuracy (percent) of per-image score vectors; ``metric_options['topk']``, default (1, 5)."""
        labels = self.get_gt_labels()
        if indices is not None:
            labels = labels[np.asarray(indices, dtype=np.int64)]
        return evaluate_classification(results, labels, metric, metric_options)

    def __repr__(self) -> str:
        n = len(self.CLASSES) if self.CLASSES is not None else 'unknown'
        return f'{type(self).__name__}(images={len(self)}, classes={n}, data_prefix={self.data_prefix!r})'
