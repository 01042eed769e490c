"""CIFAR-10 and CIFAR-100 from the official "python version" pickle batches."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ...errors import ConfigError, DataError
from ..registries import DATASETS
from ._safe_pickle import safe_pickle_load
from .base_dataset import BaseDataset

__all__ = ['CIFAR10', 'CIFAR100']


def _get(entry: Mapping, key: str, path: str):
    """``entry[key]``, whether the pickle's keys are bytes (Python 2 files) or str."""
    for k in (key.encode(), key):
        if k in entry:
            return entry[k]
    raise DataError(f'{path} has no {key!r} entry (keys: {sorted(map(str, entry))[:8]}); is it a CIFAR file?')


def _text(value) -> str:
    return value.decode('utf-8') if isinstance(value, bytes) else str(value)


@DATASETS.register_module()
class CIFAR10(BaseDataset):
    """CIFAR-10: 50,000 training and 10,000 test 32x32 colour images in 10 classes.

    Reads ``data_prefix/cifar-10-batches-py/`` as extracted from ``cifar-10-python.tar.gz``
    (https://www.cs.toronto.edu/~kriz/cifar.html): ``data_batch_1`` ... ``data_batch_5`` for
    training, ``test_batch`` when ``test_mode=True``, and ``batches.meta`` for the class names.
    The pickles are loaded without running any code they might name (only numpy arrays are
    rebuilt). Images are kept in memory as one uint8 ``(N, 3, 32, 32)`` RGB tensor; samples carry
    ``img`` already, so the pipeline has no loading step. ``ann_file`` is not used.
    """

    CHANNELS = 3  # the image channels every sample has (checked against the model before training)

    base_folder = 'cifar-10-batches-py'
    archive = 'cifar-10-python.tar.gz'
    train_list = ('data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5')
    test_list = ('test_batch',)
    meta_file, names_key, labels_key = 'batches.meta', 'label_names', 'labels'
    num_classes = 10

    def __init__(self, data_prefix: str, pipeline: Sequence = (), classes=None, ann_file: str | None = None,
                 test_mode: bool = False, file_client_args: Mapping | None = None):
        if not data_prefix:
            raise ConfigError(f'{type(self).__name__} needs data_prefix: the folder that holds {self.base_folder}/')
        super().__init__(data_prefix, pipeline, classes=classes, ann_file=ann_file, test_mode=test_mode,
                         file_client_args=file_client_args)

    def _path(self, name: str) -> str:
        return os.path.join(self.data_prefix, self.base_folder, name)

    def _check_files(self, names: Sequence[str]) -> None:
        missing = [n for n in names if not os.path.isfile(self._path(n))]
        if missing:
            folder = os.path.join(self.data_prefix, self.base_folder)
            raise DataError(
                f'{type(self).__name__}: missing {", ".join(self._path(n) for n in missing)}. Extract '
                f'{self.archive} (the "python version" from https://www.cs.toronto.edu/~kriz/cifar.html) into '
                f'{self.data_prefix} so that {folder}/ holds {", ".join(self.train_list + self.test_list)} and '
                f'{self.meta_file}. imgcls does not download datasets.')

    def _load_names(self) -> list[str]:
        meta = safe_pickle_load(self._path(self.meta_file))
        if not isinstance(meta, Mapping):
            raise DataError(f'{self._path(self.meta_file)} does not hold a dict; is it a CIFAR meta file?')
        names = [_text(n) for n in _get(meta, self.names_key, self._path(self.meta_file))]
        if len(names) != self.num_classes:
            raise DataError(f'{self._path(self.meta_file)} names {len(names)} classes, expected {self.num_classes}')
        return names

    def _load_batch(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        path = self._path(name)
        entry = safe_pickle_load(path)
        if not isinstance(entry, Mapping):
            raise DataError(f'{path} does not hold a dict; is it a CIFAR batch?')
        data = np.asarray(_get(entry, 'data', path))
        labels = np.asarray(_get(entry, self.labels_key, path), dtype=np.int64)
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise DataError(f'{path}: data must be a uint8 array of shape (N, 3072), got {data.dtype} '
                            f'{data.shape}')
        if labels.shape != (len(data),):
            raise DataError(f'{path}: {len(labels)} labels for {len(data)} images')
        bad = np.flatnonzero((labels < 0) | (labels >= self.num_classes))
        if bad.size:
            raise DataError(f'{path}: image {int(bad[0])} has label {int(labels[bad[0]])}, outside '
                            f'0..{self.num_classes - 1}')
        return data, labels

    def load_annotations(self) -> list[dict]:
        """Load the split's batches into memory and build one info dict per image."""
        batches = self.test_list if self.test_mode else self.train_list
        self._check_files(tuple(batches) + (self.meta_file,))
        names = self._load_names()
        if self.CLASSES is None:
            self.CLASSES = names
        elif len(self.CLASSES) != self.num_classes:
            raise ConfigError(f'{type(self).__name__} has {self.num_classes} classes but classes names '
                              f'{len(self.CLASSES)}')
        parts = [self._load_batch(b) for b in batches]
        # each row is the R, G and B planes of a 32x32 image, row-major: already CHW
        self.images = torch.from_numpy(np.concatenate([d for d, _ in parts]).reshape(-1, 3, 32, 32))
        labels = np.concatenate([y for _, y in parts])
        infos, shape = [], (32, 32, 3)
        for batch, (data, _) in zip(batches, parts):
            start = len(infos)
            for k in range(len(data)):
                name = f'{self.base_folder}/{batch}/{k:05d}'
                infos.append({'img': self.images[start + k], 'gt_label': labels[start + k], 'filename': name,
                              'ori_filename': name, 'img_shape': shape, 'ori_shape': shape})
        return infos


@DATASETS.register_module()
class CIFAR100(CIFAR10):
    """CIFAR-100: like :class:`CIFAR10` with 100 classes (the "fine" labels), read from
    ``data_prefix/cifar-100-python/`` (``train``, ``test`` and ``meta``)."""

    base_folder = 'cifar-100-python'
    archive = 'cifar-100-python.tar.gz'
    train_list = ('train',)
    test_list = ('test',)
    meta_file, names_key, labels_key = 'meta', 'fine_label_names', 'fine_labels'
    num_classes = 100
