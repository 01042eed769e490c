"""CUB-200-2011 (Caltech-UCSD Birds) from the text files it is distributed with, as mmcls 0.x reads it."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from ...errors import DataError
from ..registries import DATASETS
from .base_dataset import BaseDataset

__all__ = ['CUB']

NUM_CLASSES = 200


def _read_pairs(path: str, what: str) -> dict[str, str]:
    """``<image id> <value>`` lines → {id: value}; a missing file or a bad line is a DataError naming it."""
    try:
        with open(path, encoding='utf-8') as fh:
            lines = fh.read().splitlines()
    except OSError as e:
        raise DataError(f'CUB: cannot read {what} {path!r}: {e.strerror}. Extract CUB_200_2011.tgz and point '
                        f'the config at its {os.path.basename(path) or what}.') from None
    pairs = {}
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.strip().split(' ', 1)
        if len(parts) != 2:
            raise DataError(f'CUB: {path} line {lineno}: expected "<image id> <value>", got {line!r}')
        pairs[parts[0]] = parts[1].strip()
    return pairs


def _names_beside(ann_file: str) -> list[str] | None:
    """The class names of ``classes.txt`` next to ``images.txt`` ('001.Black_footed_Albatross' →
    'Black_footed_Albatross'), or None when there is no such file."""
    path = os.path.join(os.path.dirname(ann_file), 'classes.txt')
    if not os.path.isfile(path):
        return None
    pairs = _read_pairs(path, 'class names')
    names = [pairs[k].split('.', 1)[-1] for k in sorted(pairs, key=int)]
    return names if len(names) == NUM_CLASSES else None


@DATASETS.register_module()
class CUB(BaseDataset):
    """CUB-200-2011: 11,788 images of 200 bird species, 5,994 for training and 5,794 for testing.

    As mmcls 0.x: ``ann_file`` is ``images.txt`` (``<id> <path relative to data_prefix>``),
    ``image_class_labels_file`` is ``image_class_labels.txt`` (``<id> <class 1..200>``) and
    ``train_test_split_file`` is ``train_test_split.txt`` (``<id> <1: training, 0: test>``);
    ``test_mode`` picks the test images. Class names come from ``classes.txt`` beside
    ``images.txt`` (or ``classes``; '1' ... '200' without either).
    """

    def __init__(self, data_prefix: str | None, ann_file: str, image_class_labels_file: str,
                 train_test_split_file: str, pipeline: Sequence = (), classes=None, test_mode: bool = False,
                 file_client_args: Mapping | None = None, skip_bad_images: bool = False):
        self.image_class_labels_file = os.path.expanduser(image_class_labels_file)
        self.train_test_split_file = os.path.expanduser(train_test_split_file)
        if classes is None:
            classes = _names_beside(os.path.expanduser(ann_file)) or [str(i) for i in range(1, NUM_CLASSES + 1)]
        super().__init__(data_prefix, pipeline, classes=classes, ann_file=ann_file, test_mode=test_mode,
                         file_client_args=file_client_args, skip_bad_images=skip_bad_images)

    def load_annotations(self) -> list[dict]:
        """The images of this split with their labels (0-based), in the order of ``images.txt``."""
        paths = _read_pairs(self.ann_file, 'ann_file (images.txt)')
        labels = _read_pairs(self.image_class_labels_file, 'image_class_labels_file')
        splits = _read_pairs(self.train_test_split_file, 'train_test_split_file')
        if not (paths.keys() == labels.keys() == splits.keys()):
            raise DataError(f'CUB: {self.ann_file}, {self.image_class_labels_file} and '
                            f'{self.train_test_split_file} list different image ids '
                            f'({len(paths)}, {len(labels)} and {len(splits)} of them)')
        wanted = '0' if self.test_mode else '1'
        infos = []
        for image_id, path in paths.items():
            if splits[image_id] != wanted:
                continue
            try:
                label = int(labels[image_id]) - 1  # the file counts classes from 1
            except ValueError:
                raise DataError(f'CUB: {self.image_class_labels_file}: image {image_id} has label '
                                f'{labels[image_id]!r}, not a number') from None
            infos.append({'img_prefix': self.data_prefix, 'img_info': {'filename': path},
                          'gt_label': np.int64(label)})
        return infos
