"""Digits: scikit-learn's bundled 8x8 handwritten digits, a real dataset that needs no download."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ...errors import ConfigError
from ..registries import DATASETS
from .base_dataset import BaseDataset

__all__ = ['Digits']

_SPLITS = ('train', 'val', 'test', 'all')


@DATASETS.register_module()
class Digits(BaseDataset):
    """The 1,797 8x8 grayscale digits of ``sklearn.datasets.load_digits`` (UCI optdigits test set).

    Pixels (0..16) are scaled to uint8 by ``round(v * 255 / 16)`` and kept in memory as a
    ``(N, 1, 8, 8)`` tensor; samples carry ``img`` already, so the pipeline has no loading step.
    The split is fixed and stratified: ``train_test_split(range(1797), test_size=val_fraction,
    stratify=labels, random_state=seed)``, each part in the original order. With the defaults,
    'train' has 1,437 images and 'val' 360; 'test' is the same as 'val'; 'all' is all 1,797.

    Args:
        data_prefix: unused (the data ships with scikit-learn); kept for config symmetry.
        pipeline: pipeline steps, e.g. ``[dict(type='Resize', size=32), ...]``.
        split: 'train', 'val' (alias 'test') or 'all'.
        classes: optional names for the 10 classes (default '0' ... '9').
        val_fraction: the fraction of each class held out for 'val'.
        seed: the random_state of the split.
    """

    CHANNELS = 1  # the image channels every sample has (checked against the model before training)

    CLASSES = tuple(str(i) for i in range(10))

    def __init__(self, data_prefix: str | None = None, pipeline: Sequence = (), split: str = 'train',
                 test_mode: bool = False, classes=None, val_fraction: float = 0.2, seed: int = 0):
        if split not in _SPLITS:
            raise ConfigError(f'Digits: split={split!r} is not one of {list(_SPLITS)}')
        if not isinstance(val_fraction, float) or not 0 < val_fraction < 1:
            raise ConfigError(f'Digits: val_fraction must be a float in (0, 1), got {val_fraction!r}')
        self.split = 'val' if split == 'test' else split
        self.val_fraction, self.seed = val_fraction, seed
        names = self.get_classes(classes)
        if len(names) != 10:
            raise ConfigError(f'Digits has 10 classes but classes names {len(names)}: {list(names)}')
        super().__init__(data_prefix, pipeline, classes=classes, test_mode=test_mode)

    def _split_indices(self, labels: np.ndarray) -> np.ndarray:
        if self.split == 'all':
            return np.arange(len(labels))
        from sklearn.model_selection import train_test_split  # scikit-learn takes ~0.3 s to import: only on use

        train, val = train_test_split(np.arange(len(labels)), test_size=self.val_fraction, stratify=labels,
                                      random_state=self.seed)
        return np.sort(train if self.split == 'train' else val)

    def load_annotations(self) -> list[dict]:
        """Load the bundled arrays and build one info dict per image of the split."""
        from sklearn.datasets import load_digits  # scikit-learn takes ~0.3 s to import: only on use

        digits = load_digits()
        labels = digits.target.astype(np.int64)
        idx = self._split_indices(labels)
        pixels = np.round(digits.images[idx] * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
        self.images = torch.from_numpy(pixels).unsqueeze(1).contiguous()  # (N, 1, 8, 8)
        shape = (8, 8, 1)
        infos = []
        for i, label in enumerate(labels[idx]):
            name = f'digits/{self.split}/{i:05d}'
            infos.append({'img': self.images[i], 'gt_label': np.int64(label), 'filename': name,
                          'ori_filename': name, 'img_shape': shape, 'ori_shape': shape})
        return infos
