"""CustomDataset: images in class folders, or listed in an annotation file."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from ...errors import ConfigError, DataError
from ..registries import DATASETS
from ._ann_table import AnnotationTable, read_annotation_file
from .base_dataset import BaseDataset

__all__ = ['CustomDataset']

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp')


def _info(prefix: str | None, filename: str, label: int) -> dict:
    return {'img_prefix': prefix, 'img_info': {'filename': filename}, 'gt_label': np.int64(label)}


@DATASETS.register_module()
class CustomDataset(BaseDataset):
    """Images of a folder tree or an annotation file.

    Without ``ann_file``, ``data_prefix`` holds one sub-folder per class (class names are the
    sorted folder names unless ``classes`` is given) and every file with one of ``extensions``
    below it, searched recursively and sorted, is a sample. Hidden folders are skipped.
    With ``classes`` given, each folder maps to the class of the same name; when no folder
    name is a class name, folders map to ``classes`` in sorted order (mmcls behaviour, for
    human-readable names over folders such as ``n01440764``).

    With ``ann_file``, each non-blank line is ``relative/path label`` (path relative to
    ``data_prefix``; the label an int index into ``classes``). Without ``classes``, the
    names are '0', '1', ... up to the largest label.

    ``skip_bad_images``: see :class:`BaseDataset` (unreadable files raise a DataError naming the
    file and the annotation-file line, or are skipped and listed in ``bad_images``).
    """

    def __init__(self, data_prefix: str | None, pipeline: Sequence = (), classes=None,
                 ann_file: str | None = None, extensions: Sequence[str] = IMG_EXTENSIONS,
                 test_mode: bool = False, file_client_args: Mapping | None = None,
                 skip_bad_images: bool = False):
        if isinstance(extensions, str):
            extensions = (extensions,)
        self.extensions = tuple(e.lower() if e.startswith('.') else '.' + e.lower() for e in extensions)
        super().__init__(data_prefix, pipeline, classes=classes, ann_file=ann_file, test_mode=test_mode,
                         file_client_args=file_client_args, skip_bad_images=skip_bad_images)

    def load_annotations(self) -> list[dict]:
        """Scan the class folders, or parse the annotation file."""
        if self.ann_file:
            return self._read_ann_file()
        if not self.data_prefix:
            raise ConfigError('CustomDataset needs data_prefix (a folder with one sub-folder per class) '
                              'or ann_file (lines of "path label")')
        return self._scan_folders()

    # -- folder layout -------------------------------------------------------------------------

    def _class_folders(self) -> list[str]:
        root = self.data_prefix
        if not os.path.isdir(root):
            raise DataError(f'CustomDataset: data_prefix {root!r} is not a folder')
        folders = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith('.'))
        if not folders:
            raise DataError(f'CustomDataset: {root!r} has no class sub-folders; expected '
                            f'{root}/<class name>/<image>, or pass ann_file')
        return folders

    def _folder_labels(self, folders: list[str]) -> dict[str, int]:
        """Map each class folder to a label, checking it against ``CLASSES`` when given."""
        if self.CLASSES is None:
            self.CLASSES = folders
            return {f: i for i, f in enumerate(folders)}
        names = list(self.CLASSES)
        known = [f for f in folders if f in names]
        if not known and len(folders) == len(names):
            return {f: i for i, f in enumerate(folders)}
        unknown = [f for f in folders if f not in names]
        if unknown:
            shown = f'{names[:10]}{" ..." if len(names) > 10 else ""}'
            raise DataError(f'CustomDataset: class folder {unknown[0]!r} in {self.data_prefix!r} is not one '
                            f'of the {len(names)} classes given ({shown}); add it to classes or remove '
                            'the folder')
        return {f: names.index(f) for f in folders}

    def _scan_folders(self) -> list[dict]:
        folders = self._class_folders()
        labels = self._folder_labels(folders)
        infos, empty = [], []
        for folder in folders:
            files = self._files_under(folder)
            if not files:
                empty.append(folder)
            infos.extend(_info(self.data_prefix, f, labels[folder]) for f in files)
        if not infos:
            raise DataError(f'CustomDataset: found no images in the class folders of {self.data_prefix!r} '
                            f'(extensions: {", ".join(self.extensions)})')
        if empty:
            warnings.warn(f'CustomDataset: class folders without images in {self.data_prefix!r}: {empty}')
        return infos

    def _files_under(self, folder: str) -> list[str]:
        """Image files below ``data_prefix/folder``, as sorted '/'-joined paths relative to data_prefix."""
        found = []
        top = os.path.join(self.data_prefix, folder)
        for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith('.'))
            rel = os.path.relpath(dirpath, self.data_prefix).replace(os.sep, '/')
            found.extend(f'{rel}/{name}' for name in filenames if name.lower().endswith(self.extensions))
        return sorted(found)

    # -- annotation file -----------------------------------------------------------------------

    def get_gt_labels(self) -> np.ndarray:
        """All ground-truth labels, as an int64 array."""
        if isinstance(self.data_infos, AnnotationTable):
            return self.data_infos.labels.copy()
        return super().get_gt_labels()

    def get_cat_ids(self, idx: int) -> list[int]:
        """The category ids of image ``idx`` (used by class-balanced sampling)."""
        if isinstance(self.data_infos, AnnotationTable):
            return [int(self.data_infos.labels[idx])]
        return super().get_cat_ids(idx)

    def _read_ann_file(self) -> AnnotationTable:
        if self.data_prefix and not os.path.isdir(self.data_prefix):
            raise DataError(f'CustomDataset: data_prefix {self.data_prefix!r} (where the paths of ann_file '
                            f'{self.ann_file!r} start) is not a folder')
        table = read_annotation_file(self.ann_file, self.data_prefix)  # compact arrays, not a dict per line
        self.ann_lines = table.linenos
        self._check_ann_labels(table)
        return table

    def _check_ann_labels(self, table: AnnotationTable) -> None:
        """Name the classes '0', '1', ... when not given, and check every label against them."""
        labels = table.labels
        if self.CLASSES is None and len(labels):
            self.CLASSES = [str(i) for i in range(int(labels.max()) + 1)]
        n = len(self.CLASSES) if self.CLASSES is not None else 0
        bad = np.flatnonzero(labels >= n)
        if bad.size:
            i = int(bad[0])
            raise DataError(f'{self.ann_file}, line {self.ann_lines[i]}: label {labels[i]} of {table.path(i)!r} is '
                            f'outside 0..{n - 1} ({n} classes)')
