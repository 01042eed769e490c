"""Stanford Cars (196 car models) from its devkit's MATLAB annotation files, as mmcls 0.x reads it."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from ...errors import DataError
from ..registries import DATASETS
from .base_dataset import BaseDataset

__all__ = ['StanfordCars']

NUM_CLASSES = 196


def _loadmat(path: str) -> dict:
    try:
        import scipy.io  # treated as optional: only StanfordCars reads MATLAB files
    except ImportError:
        raise DataError('StanfordCars reads MATLAB files with scipy: pip install scipy') from None
    try:
        return scipy.io.loadmat(path)
    except Exception as e:  # scipy raises OSError, ValueError, IndexError... on what is not a MATLAB file
        raise DataError(f'StanfordCars: cannot read {path} as a MATLAB file ({type(e).__name__}: {e}). Extract '
                        'the dataset and its devkit (cars_train, cars_test, devkit/) into data_prefix.') from None


@DATASETS.register_module()
class StanfordCars(BaseDataset):
    """Stanford Cars: 8,144 training and 8,041 test images of 196 car models.

    As mmcls 0.x: ``data_prefix`` holds ``cars_train/``, ``cars_test/`` and ``devkit/``; the
    annotations are ``devkit/cars_train_annos.mat`` (training) or
    ``devkit/cars_test_annos_withlabels.mat`` (``test_mode=True``) unless ``ann_file`` names one.
    Class names come from ``devkit/cars_meta.mat`` (or ``classes``; '1' ... '196' without either).
    """

    def __init__(self, data_prefix: str, test_mode: bool = False, ann_file: str | None = None,
                 pipeline: Sequence = (), classes=None, file_client_args: Mapping | None = None,
                 skip_bad_images: bool = False):
        root = os.path.expanduser(data_prefix)
        if ann_file is None:
            name = 'cars_test_annos_withlabels.mat' if test_mode else 'cars_train_annos.mat'
            ann_file = os.path.join(root, 'devkit', name)
        if classes is None:
            classes = self._names(os.path.join(root, 'devkit', 'cars_meta.mat'))
        super().__init__(os.path.join(root, 'cars_test' if test_mode else 'cars_train'), pipeline, classes=classes,
                         ann_file=ann_file, test_mode=test_mode, file_client_args=file_client_args,
                         skip_bad_images=skip_bad_images)

    @staticmethod
    def _names(meta: str) -> list[str]:
        if not os.path.isfile(meta):
            return [str(i) for i in range(1, NUM_CLASSES + 1)]
        names = [str(np.asarray(n).ravel()[0]) for n in np.asarray(_loadmat(meta)['class_names']).ravel()]
        return names if len(names) == NUM_CLASSES else [str(i) for i in range(1, NUM_CLASSES + 1)]

    def load_annotations(self) -> list[dict]:
        """One info per record of the annotation file: fields (x1, y1, x2, y2, class 1..196, file name)."""
        records = _loadmat(self.ann_file).get('annotations')
        if records is None:
            raise DataError(f'StanfordCars: {self.ann_file} has no "annotations" array')
        infos = []
        for record in np.asarray(records).ravel():
            label, fname = int(np.asarray(record[4]).ravel()[0]) - 1, str(np.asarray(record[5]).ravel()[0])
            infos.append({'img_prefix': self.data_prefix, 'img_info': {'filename': fname},
                          'gt_label': np.int64(label)})
        return infos
