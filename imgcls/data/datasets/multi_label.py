"""MultiLabelDataset: images with a set of labels each (and VOC-style "difficult" labels)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from ...errors import ConfigError, DataError
from ...evaluation import evaluate_multilabel
from ..registries import DATASETS
from .base_dataset import BaseDataset

__all__ = ['MultiLabelDataset']


@DATASETS.register_module()
class MultiLabelDataset(BaseDataset):
    """Images listed in an annotation file, each with any number of labels.

    Annotation file: one image per line, ``<path relative to data_prefix> <labels>``, where
    ``<labels>`` is a comma-separated list without spaces. A label is a class index or a class
    name (when ``classes`` is given); a leading ``-`` marks it *difficult* (``-0`` is a difficult
    class 0). The path and the labels are separated by the last tab on the line if there is one,
    else by the last run of spaces (so paths with spaces work with a tab). A line holding only a
    path is an image with no labels; blank lines are ignored. Example::

        JPEGImages/000005.jpg 8,-11
        JPEGImages/000007.jpg cat,dog

    ``gt_label`` is a multi-hot ``(num_classes,)`` int8 vector: 1 for a label, -1 for a difficult
    one, 0 otherwise (a difficult mention wins over a plain one). Without ``classes``, the names
    are '0', '1', ... up to the largest index. ``get_gt_labels()`` returns the ``(N, C)`` matrix.
    """

    def __init__(self, data_prefix: str | None, ann_file: str, pipeline: Sequence = (), classes=None,
                 test_mode: bool = False, file_client_args: Mapping | None = None, skip_bad_images: bool = False):
        if not ann_file:
            raise ConfigError('MultiLabelDataset needs ann_file: lines of "<relative/path> <label,label,...>"')
        super().__init__(data_prefix, pipeline, classes=classes, ann_file=ann_file, test_mode=test_mode,
                         file_client_args=file_client_args, skip_bad_images=skip_bad_images)

    # -- annotation file -----------------------------------------------------------------------

    def _read_lines(self) -> list[str]:
        try:
            with open(self.ann_file, encoding='utf-8') as fh:
                return fh.read().splitlines()
        except OSError as e:
            raise DataError(f'cannot read ann_file {self.ann_file!r}: {e.strerror}') from None

    def _parse_token(self, token: str, lineno: int) -> tuple[int | str, bool]:
        """``'-3'`` → (3, True); ``'cat'`` → ('cat', False); labels are resolved later."""
        difficult = token.startswith('-')
        body = token[1:] if difficult else token
        if not body:
            raise DataError(f'{self.ann_file}, line {lineno}: empty label in the list (write labels as '
                            '"0,3,-5" with no spaces)')
        return (int(body) if body.isdigit() else body), difficult

    def _parse_line(self, line: str, lineno: int) -> tuple[str, list]:
        text = line.strip()
        if '\t' in text:
            path, _, labels = text.rpartition('\t')
        else:
            parts = text.rsplit(None, 1)
            path, labels = (parts[0], parts[1]) if len(parts) == 2 else (parts[0], '')
        tokens = [self._parse_token(t, lineno) for t in labels.split(',')] if labels else []
        return path.strip(), tokens

    def _resolve(self, entries: list) -> None:
        """Turn names into indices and check every index against the classes."""
        names = list(self.CLASSES) if self.CLASSES is not None else None
        if names is None:
            text = [t for _, _, toks in entries for t, _ in toks if isinstance(t, str)]
            if text:
                raise DataError(f'{self.ann_file}: label {text[0]!r} is a name, but no classes were given; pass '
                                'classes=[...] (or a file of names) or use class indices')
            top = max((t for _, _, toks in entries for t, _ in toks), default=-1)
            self.CLASSES = names = [str(i) for i in range(top + 1)]
        lookup = {n: i for i, n in enumerate(names)}
        for lineno, path, tokens in entries:
            for k, (label, difficult) in enumerate(tokens):
                if isinstance(label, str):
                    if label not in lookup:
                        raise DataError(f'{self.ann_file}, line {lineno}: {label!r} (of {path!r}) is neither a '
                                        f'class index nor one of the {len(names)} class names')
                    tokens[k] = (lookup[label], difficult)
                elif not 0 <= label < len(names):
                    raise DataError(f'{self.ann_file}, line {lineno}: label {label} of {path!r} is outside '
                                    f'0..{len(names) - 1} ({len(names)} classes)')

    def load_annotations(self) -> list[dict]:
        """Parse the annotation file into info dicts with multi-hot ``gt_label`` vectors."""
        if self.data_prefix and not os.path.isdir(self.data_prefix):
            raise DataError(f'MultiLabelDataset: data_prefix {self.data_prefix!r} (where the paths of ann_file '
                            f'{self.ann_file!r} start) is not a folder')
        entries = []
        for lineno, line in enumerate(self._read_lines(), start=1):
            if line.strip():
                entries.append((lineno, *self._parse_line(line, lineno)))
        if not entries:
            raise DataError(f'MultiLabelDataset is empty: {self.ann_file!r} lists no images')
        self._resolve(entries)
        num = len(self.CLASSES)
        infos = []
        for _, path, tokens in entries:
            gt = np.zeros(num, dtype=np.int8)
            for label, difficult in tokens:
                if not difficult and gt[label] == 0:
                    gt[label] = 1
            for label, difficult in tokens:
                if difficult:
                    gt[label] = -1
            infos.append({'img_prefix': self.data_prefix, 'img_info': {'filename': path}, 'gt_label': gt})
        self.ann_lines = [lineno for lineno, _, _ in entries]
        return infos

    # -- labels and evaluation -----------------------------------------------------------------

    def get_gt_labels(self) -> np.ndarray:
        """The ``(N, num_classes)`` int8 matrix of 1 (label), 0 (absent) and -1 (difficult)."""
        return np.stack([info['gt_label'] for info in self.data_infos])

    def get_cat_ids(self, idx: int) -> list[int]:
        """The (non-difficult) labels of image ``idx``."""
        return np.flatnonzero(self.data_infos[idx]['gt_label'] == 1).tolist()

    def evaluate(self, results, metric: str | Sequence[str] = 'mAP', metric_options: Mapping | None = None,
                 indices: Sequence[int] | None = None, logger=None) -> dict[str, float]:
        """mAP and CP/CR/CF1/OP/OR/OF1 (percent) of per-image scores, as mmcls's MultiLabelDataset
        (:func:`imgcls.evaluation.evaluate_multilabel`; ``metric_options``: ``thr`` or ``k``)."""

        gt = self.get_gt_labels()
        if indices is not None:
            gt = gt[np.asarray(indices, dtype=np.int64)]
        return evaluate_multilabel(results, gt, metric, metric_options)
