"""BaseDataset: the mmcls 0.x dataset interface (info dicts → pipeline → sample)."""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ...errors import ConfigError, DataError
from ...evaluation import evaluate_single_label
from ..pipelines import Compose
from ..pipelines.loading import ImageReadError, check_file_client_args

__all__ = ['BaseDataset']

def _expand(path: str | None) -> str | None:
    return os.path.expanduser(path) if isinstance(path, str) and path else path


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
        skip_bad_images: what to do with a missing, empty, truncated or corrupt image file.
            False (default): raise a DataError naming the file and the sample (index, and
            annotation-file line where there is one). True: warn once, record the path in
            ``bad_images`` and return the next readable sample instead (index + 1, + 2, ...,
            with the same random augmentation state), so batches keep their size and a run
            stays reproducible. The returned sample carries the skipped paths under the key
            ``'_skipped'``; :func:`imgcls.data.collate` gathers them into ``batch['skipped']`` and
            imgcls's data loader adds them to ``dataset.bad_images`` in the main process (each
            worker process holds its own copy of the dataset, so that is where they are reported).
    """

    CLASSES: Sequence[str] | None = None

    def __init__(self, data_prefix: str | None, pipeline: Sequence = (), classes=None,
                 ann_file: str | None = None, test_mode: bool = False,
                 file_client_args: Mapping | None = None, skip_bad_images: bool = False):
        check_file_client_args(file_client_args, type(self).__name__)
        if not isinstance(skip_bad_images, bool):
            raise ConfigError(f'{type(self).__name__}: skip_bad_images must be True or False, '
                              f'got {skip_bad_images!r}')
        self.skip_bad_images = skip_bad_images
        self.bad_images: list[str] = []  # paths skipped so far (see skip_bad_images)
        self._known_bad: set[int] = set()
        self.ann_lines: list[int] | None = None  # annotation-file line of each sample, where known
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

    def describe_sample(self, idx: int) -> str:
        """``'sample 3 (meta/train.txt, line 5)'`` or ``'sample 3 (cat/x.jpg)'``, for messages."""
        if self.ann_lines is not None and self.ann_file and 0 <= idx < len(self.ann_lines):
            return f'sample {idx} ({self.ann_file}, line {self.ann_lines[idx]})'
        info = self.data_infos[idx] if 0 <= idx < len(self.data_infos) else {}
        name = (info.get('img_info') or {}).get('filename') or info.get('filename')
        return f'sample {idx}' + (f' ({name})' if name else '')

    def __getitem__(self, idx: int) -> dict:
        try:
            return self._first_readable(idx) if self.skip_bad_images else self.prepare_data(idx)
        except DataError as e:
            hint = ('. Set skip_bad_images=True in the dataset config to skip unreadable images.'
                    if isinstance(e, ImageReadError) else '')
            raise DataError(f'{type(self).__name__} {self.describe_sample(idx)}: {e}{hint}') from None

    def _first_readable(self, idx: int) -> dict:
        """Sample ``idx``, or the next readable one; every attempt starts from the same RNG state."""
        rng = torch.get_rng_state()
        skipped = []
        n = len(self)
        for step in range(n):
            j = (idx + step) % n
            if j in self._known_bad:
                skipped.append(self._path_of(j))
                continue
            if step:
                torch.set_rng_state(rng)
            try:
                sample = self.prepare_data(j)
            except ImageReadError as e:
                self._mark_bad(j, e)
                skipped.append(e.path or self._path_of(j))
                continue
            if skipped:
                sample = dict(sample)
                sample['_skipped'] = skipped
            return sample
        raise DataError(f'no image of the dataset could be read (skip_bad_images=True skipped all {n}); '
                        f'first: {self.bad_images[:1]}')

    def _path_of(self, idx: int) -> str:
        info = self.data_infos[idx]
        name = (info.get('img_info') or {}).get('filename') or info.get('filename') or f'sample {idx}'
        prefix = info.get('img_prefix')
        return os.path.join(prefix, name) if prefix else name

    def _mark_bad(self, idx: int, error: ImageReadError) -> None:
        self._known_bad.add(idx)
        path = error.path or self._path_of(idx)
        if path not in self.bad_images:
            if not self.bad_images:
                warnings.warn(f'{type(self).__name__}: skipping unreadable image(s) (skip_bad_images=True); '
                              f'first: {self.describe_sample(idx)}: {error}')
            self.bad_images.append(path)

    def evaluate(self, results, metric: str | Sequence[str] = 'accuracy',
                 metric_options: Mapping | None = None, indices: Sequence[int] | None = None,
                 logger=None) -> dict[str, float]:
        """mmcls 0.x metrics (percent) of per-image score vectors: ``metric`` any of accuracy, precision,
        recall, f1_score, support; ``metric_options`` topk (default (1, 5)), thrs, average_mode
        ('macro', 'micro', 'none'). See :func:`imgcls.evaluation.evaluate_single_label`."""
        labels = self.get_gt_labels()
        if indices is not None:
            labels = labels[np.asarray(indices, dtype=np.int64)]
        return evaluate_single_label(results, labels, metric, metric_options)

    def __repr__(self) -> str:
        n = len(self.CLASSES) if self.CLASSES is not None else 'unknown'
        return f'{type(self).__name__}(images={len(self)}, classes={n}, data_prefix={self.data_prefix!r})'
