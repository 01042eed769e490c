"""CustomDataset: images in class folders, or listed in an annotation file."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from ...errors import ConfigError, DataError
from ..builder import DATASETS
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

    def _read_ann_file(self) -> list[dict]:
        if self.data_prefix and not os.path.isdir(self.data_prefix):
            raise DataError(f'CustomDataset: data_prefix {self.data_prefix!r} (where the paths of ann_file '
                            f'{self.ann_file!r} start) is not a folder')
        try:
            with open(self.ann_file, encoding='utf-8') as fh:
                lines = fh.read().splitlines()
        except OSError as e:
            raise DataError(f'cannot read ann_file {self.ann_file!r}: {e.strerror}') from None
        entries = []
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            parts = line.strip().rsplit(None, 1)
            if len(parts) != 2:
                raise DataError(f'{self.ann_file}, line {lineno}: expected "<relative/path> <label>", '
                                f'got {line!r}')
            try:
                label = int(parts[1])
            except ValueError:
                raise DataError(f'{self.ann_file}, line {lineno}: the label {parts[1]!r} is not an integer '
                                f'(expected "<relative/path> <label>")') from None
            entries.append((lineno, parts[0], label))
        if self.CLASSES is None and entries:
            self.CLASSES = [str(i) for i in range(max(e[2] for e in entries) + 1)]
        n = len(self.CLASSES) if self.CLASSES is not None else 0
        for lineno, path, label in entries:
            if not 0 <= label < n:
                raise DataError(f'{self.ann_file}, line {lineno}: label {label} of {path!r} is outside '
                                f'0..{n - 1} ({n} classes)')
        self.ann_lines = [lineno for lineno, _, _ in entries]
        return [_info(self.data_prefix, path, label) for _, path, label in entries]
