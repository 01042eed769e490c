"""HFDataset: an image-classification table read with Hugging Face ``datasets``.

The table is opened once, memory-mapped from the ``datasets`` cache (Arrow files), so the dataset is
map-style: it has a length, any row can be read, and imgcls's loader gives it the same seeded shuffling,
exact resume and per-process sharding as a folder of images. Pickling it into a loader worker copies the
names of the cache files, not the images.

Images are never decoded by ``datasets`` (the image column is read as its stored bytes): they are decoded
as ``LoadImageFromFile`` decodes a file, so the pipelines of folder datasets apply unchanged (a leading
``LoadImageFromFile`` step is taken out and its ``color_type`` / ``to_float32`` honoured).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

import numpy as np

from ...errors import ConfigError, DataError, ImgclsError
from ...fileio import atomic_open, atomic_write_text
from ..pack import INDEX_NAME, read_index
from ..pipelines import Compose
from ..pipelines.loading import ImageReadError, check_file_client_args, read_image_file
from ..registries import DATASETS
from .base_dataset import BaseDataset
from .encoded import decoded_results, split_loading_step

__all__ = ['HFDataset']

_GLOB_CHARS = ('*', '?', '[')
_FILE_BUILDERS = {'.parquet': 'parquet', '.arrow': 'arrow'}


def _require_datasets():
    try:
        import datasets  # optional dependency (imgcls[hf])
    except ImportError:
        raise ConfigError('HFDataset needs the datasets library: pip install "imgcls[hf]"') from None
    return datasets


def _is_url(path: str) -> bool:
    return path.startswith(('http://', 'https://'))


@DATASETS.register_module()
class HFDataset(BaseDataset):
    """Images and labels of a Hugging Face ``datasets`` table.

    Args:
        path: where the table is:

            - a folder written by ``imgcls data pack ... --format parquet`` (it has an ``index.json``),
              its ``index.json``, or the http(s) URL of either: the shards named in the index are read
              (downloaded first into ``cache_dir`` for a URL, and fetched again only when the server
              says they changed), and the class names come from the index;
            - a folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``;
            - a ``.parquet`` (or ``.arrow``) file, a glob of them, or the http(s) URL of a ``.parquet``;
            - a ``datasets`` builder name such as ``'parquet'`` or ``'imagefolder'``, with ``data_files``
              or ``data_dir``; or a local folder of data files that ``datasets.load_dataset`` reads;
            - a dataset id on the Hugging Face Hub (``'user/name'``, downloaded by ``datasets``).
        split: the split to read (``datasets`` slicing such as ``'train[:10%]'`` works where
            ``load_dataset`` reads the source). A packed folder, parquet files and a saved ``Dataset``
            hold one split, called ``'train'``. None: the only split there is.
        image_key: the column of images: a ``datasets.Image`` column (read as its stored bytes, or from
            its file path where no bytes are stored), a column of encoded bytes, or of file paths.
        label_key: the column of class indices (int or ``ClassLabel``) or class names (strings, mapped
            through ``classes``, or sorted when there are none). None: no labels (inference only).
        pipeline: pipeline steps, as for folder datasets.
        classes: class names: a list, or a text file with one per line (as :class:`BaseDataset`).
            Without them: the ``ClassLabel`` names of ``label_key``, else the index's classes, else
            ``'0'``, ``'1'``, ... up to the largest label.
        name, data_files, data_dir, revision, cache_dir: passed to ``datasets.load_dataset`` (the
            builder's configuration name, its files, its folder, the Hub revision, the cache folder;
            ``cache_dir`` is also where the shards of a URL are downloaded).
        test_mode, file_client_args: as for :class:`BaseDataset`.
        skip_bad_images: as for :class:`BaseDataset`: an unreadable image raises a DataError naming the
            source, split, row and the image's stored path, or (True) is replaced by the next readable row
            and recorded in ``bad_images``.
    """

    def __init__(self, path: str | os.PathLike, split: str | None = 'train', image_key: str = 'image',
                 label_key: str | None = 'label', pipeline: Sequence = (), classes=None, name: str | None = None,
                 data_files=None, data_dir: str | None = None, revision: str | None = None,
                 cache_dir: str | None = None, test_mode: bool = False, skip_bad_images: bool = False,
                 file_client_args: Mapping | None = None):
        check_file_client_args(file_client_args, type(self).__name__)
        if not isinstance(skip_bad_images, bool):
            raise ConfigError(f'HFDataset: skip_bad_images must be True or False, got {skip_bad_images!r}')
        if not isinstance(path, (str, os.PathLike)) or not str(path):
            raise ConfigError(f'HFDataset needs path: a packed folder, a saved dataset, parquet files, a builder '
                              f'name or a Hub dataset id; got {path!r}')
        for key, value, optional in (('split', split, True), ('image_key', image_key, False),
                                     ('label_key', label_key, True), ('name', name, True),
                                     ('data_dir', data_dir, True), ('revision', revision, True),
                                     ('cache_dir', cache_dir, True)):
            if not (isinstance(value, str) and value) and not (optional and value is None):
                raise ConfigError(f'HFDataset: {key} must be a non-empty string{" or None" if optional else ""}, '
                                  f'got {value!r}')
        path = os.fspath(path)
        self.path = path if _is_url(path) else os.path.expanduser(path)
        self.split = split
        self.image_key, self.label_key = image_key, label_key
        self.name, self.data_files, self.data_dir, self.revision = name, data_files, data_dir, revision
        self.cache_dir = os.path.expanduser(cache_dir) if cache_dir else None
        self.test_mode = test_mode
        self.file_client_args = file_client_args
        self.skip_bad_images = skip_bad_images
        self.bad_images: list[str] = []  # see BaseDataset
        self._known_bad: set[int] = set()
        self.ann_lines = None
        self.ann_file = self.data_prefix = None
        self._decode, steps = split_loading_step(pipeline)
        self.pipeline = Compose(steps)
        config_classes = self.get_classes(classes)

        datasets = _require_datasets()
        table, index = self._open(datasets)
        self._split_name = self.split or (str(table.split) if table.split is not None else 'train')
        self._table = self._select(datasets, table)
        self._name_to_label: dict[str, int] | None = None
        self._labels: np.ndarray | None = None
        if not len(self._table):
            raise DataError(f'HFDataset: {self._where()} has no rows')
        self._check_no_missing_labels()
        self.CLASSES = self._pick_classes(datasets, config_classes, index)
        self._check_label_range()

    # -- opening the source --------------------------------------------------------------------

    def _where(self) -> str:
        return f'{self.path} (split {self._split_name!r})' if hasattr(self, '_split_name') else self.path

    def _open(self, datasets):
        """``(the split's Dataset, the pack index or None)``."""
        path = self.path
        if _is_url(path) or os.path.isdir(path) or os.path.basename(path) == INDEX_NAME:
            index = read_index(path)
            if index is not None:
                self._refuse_builder_args('a packed folder')
                return self._open_pack(datasets, index), index
        if _is_url(path):
            if Path(path.split('?', 1)[0]).suffix.lower() != '.parquet':
                raise ConfigError(f'HFDataset: {path} has no {INDEX_NAME}: give the URL of a folder written by '
                                  '`imgcls data pack --format parquet` (or of its index.json), or of a .parquet file')
            self._refuse_builder_args('the URL of a .parquet file')
            return self._load(datasets, 'parquet', data_files=[str(p) for p in self._fetch([path])]), None
        if os.path.isdir(path):
            cfg = datasets.config
            if os.path.isfile(os.path.join(path, cfg.DATASETDICT_JSON_FILENAME)) or os.path.isfile(
                    os.path.join(path, cfg.DATASET_STATE_JSON_FILENAME)):
                self._refuse_builder_args('a save_to_disk folder')
                return self._open_saved(datasets), None
        elif os.path.isfile(path) or any(c in path for c in _GLOB_CHARS) or Path(path).suffix in _FILE_BUILDERS:
            if not os.path.isfile(path) and not any(c in path for c in _GLOB_CHARS):
                raise DataError(f'HFDataset: the file {path} does not exist')
            builder = _FILE_BUILDERS.get(Path(path).suffix.lower())
            if builder is None:
                raise ConfigError(f'HFDataset: path {path!r} is neither a .parquet nor an .arrow file; for other '
                                  "files name their builder, e.g. path='csv' or 'imagefolder', with data_files")
            self._refuse_builder_args(f'{builder} files')
            return self._load(datasets, builder, data_files=path), None
        return self._load(datasets, path, name=self.name, data_files=self.data_files, data_dir=self.data_dir,
                          revision=self.revision), None

    def _refuse_builder_args(self, what: str) -> None:
        given = [k for k in ('name', 'data_files', 'data_dir', 'revision') if getattr(self, k) is not None]
        if given:
            raise ConfigError(f'HFDataset: path {self.path!r} is {what}: {", ".join(given)} would not be used. '
                              f'Remove {", ".join(given)}, or make path a builder name (such as "parquet") or '
                              'a Hub dataset id')

    def _open_pack(self, datasets, index: dict):
        fmt = index.get('format')
        if fmt != 'parquet':
            raise ConfigError(f'HFDataset: {self.path} holds {fmt!r} shards; HFDataset reads packs written with '
                              '`imgcls data pack --format parquet` (pack again with that format)')
        names = [s['name'] for s in index['shards']]
        if _is_url(index['base']):
            files = [str(p) for p in self._fetch([f'{index["base"]}/{n}' for n in names])]
        else:
            files = [os.path.join(index['base'], n) for n in names]
            missing = [f for f in files if not os.path.isfile(f)]
            if missing:
                raise DataError(f'HFDataset: shard {missing[0]} named in {index["base"]}/{INDEX_NAME} is missing '
                                f'({len(missing)} of {len(files)} shards); copy the whole packed folder')
        table = self._load(datasets, 'parquet', data_files=files)
        count = index.get('count')
        if self.split in (None, 'train') and isinstance(count, int) and len(table) != count:
            raise DataError(f'HFDataset: {index["base"]}/{INDEX_NAME} counts {count} samples but its shards hold '
                            f'{len(table)}; the folder is incomplete or was changed: pack it again')
        return table

    def _open_saved(self, datasets):
        try:
            loaded = datasets.load_from_disk(self.path)
        except (OSError, ValueError, KeyError) as e:
            raise DataError(f'HFDataset: cannot read the saved dataset {self.path}: {e}; save it again with '
                            'save_to_disk') from None
        if isinstance(loaded, datasets.DatasetDict):
            return self._pick_split(loaded)
        own = str(loaded.split) if loaded.split is not None else None
        if self.split not in (None, 'train', own):
            raise ConfigError(f'HFDataset: {self.path} holds one saved Dataset (split {own or "train"!r}), not '
                              f'split {self.split!r}: point path at the folder of that split, or drop split=')
        return loaded

    def _pick_split(self, splits: Mapping):
        names = list(splits)
        if self.split is None:
            if len(names) == 1:
                return splits[names[0]]
            raise ConfigError(f'HFDataset: {self.path} has the splits {names}; set split= to one of them')
        if self.split not in splits:
            raise ConfigError(f'HFDataset: {self.path} has no split {self.split!r}; its splits: {names}')
        return splits[self.split]

    def _load(self, datasets, path: str, **kwargs):
        """``datasets.load_dataset(path, split=self.split, ...)``, its errors turned into imgcls's."""
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        if self.cache_dir:
            kwargs['cache_dir'] = self.cache_dir
        what = path if path == self.path else f'{self.path} (read as {path!r})'
        try:
            if self.split is None:
                return self._pick_split(datasets.load_dataset(path, **kwargs))
            try:
                return datasets.load_dataset(path, split=self.split, **kwargs)
            except ValueError as e:
                if 'Unknown split' not in str(e):
                    raise
                names = list(datasets.load_dataset(path, **kwargs))  # prepared already: read from the cache
                hint = (' (a packed folder or parquet files hold one split, called "train": point path at the '
                        'files of the split you want)' if names == ['train'] else '')
                raise ConfigError(f'HFDataset: {what} has no split {self.split!r}; its splits: {names}{hint}') \
                    from None
        except ImgclsError:
            raise
        except FileNotFoundError as e:
            raise DataError(f'HFDataset: cannot find the dataset {what}: {e}') from None
        except (ValueError, TypeError) as e:
            raise ConfigError(f'HFDataset: datasets cannot load {what}: {e}') from None
        except (OSError, ConnectionError) as e:
            raise DataError(f'HFDataset: cannot read the dataset {what}: {e}') from None

    def _fetch(self, urls: list[str]) -> list[Path]:
        """Local copies of ``urls`` in the cache, downloaded where missing or changed on the server."""
        datasets = _require_datasets()
        root = Path(self.cache_dir or datasets.config.HF_DATASETS_CACHE) / 'imgcls_downloads'
        folder = root / hashlib.sha256(urls[0].rsplit('/', 1)[0].encode()).hexdigest()[:16]
        folder.mkdir(parents=True, exist_ok=True)
        return [_download(url, folder / url.rsplit('/', 1)[1].split('?', 1)[0]) for url in urls]

    # -- columns and classes -------------------------------------------------------------------

    def _select(self, datasets, table):
        """The image and label columns only, the image column as stored bytes (not decoded)."""
        columns = list(table.column_names)
        for key, value in (('image_key', self.image_key), ('label_key', self.label_key)):
            if value is not None and value not in columns:
                raise ConfigError(f'HFDataset: {self._where()} has no column {value!r} ({key}); its columns: '
                                  f'{columns}. Set {key}= to one of them')
        feature = table.features[self.image_key]
        if not (isinstance(feature, datasets.Image) or _is_bytes_or_path(datasets, feature)
                or (isinstance(feature, dict) and 'bytes' in feature)):
            raise ConfigError(f'HFDataset: column {self.image_key!r} (image_key) of {self._where()} holds {feature}, '
                              'not images: use a datasets.Image column, encoded image bytes or file paths')
        keep = [self.image_key] + ([self.label_key] if self.label_key is not None else [])
        table = table.select_columns(keep).with_format(None)
        if isinstance(feature, datasets.Image) and feature.decode:
            table = table.cast_column(self.image_key, datasets.Image(decode=False))
        return table

    def _pick_classes(self, datasets, config_classes, index: dict | None):
        feature = self._table.features[self.label_key] if self.label_key is not None else None
        if isinstance(feature, datasets.Value) and feature.dtype in ('string', 'large_string'):
            names = sorted({str(v) for v in self._label_column().to_pylist() if v is not None})
            classes = list(config_classes) if config_classes is not None else names
            unknown = [n for n in names if n not in classes]
            if unknown:
                raise DataError(f'HFDataset: {self._where()}: the label {unknown[0]!r} in column {self.label_key!r} '
                                f'is not one of the {len(classes)} classes given; add it to classes')
            self._name_to_label = {n: i for i, n in enumerate(classes)}
            return classes
        if feature is not None and not isinstance(feature, datasets.ClassLabel) and not (
                isinstance(feature, datasets.Value) and feature.dtype.startswith(('int', 'uint'))):
            raise ConfigError(f'HFDataset: column {self.label_key!r} (label_key) of {self._where()} holds {feature}: '
                              'expected class indices (int or ClassLabel) or class names (strings)')
        if config_classes is not None:
            return config_classes
        if isinstance(feature, datasets.ClassLabel) and feature.names:
            return list(feature.names)
        if index and index.get('classes'):
            return [str(c) for c in index['classes']]
        if feature is None:
            return None
        labels = self.get_gt_labels()
        return [str(i) for i in range(int(labels.max()) + 1)] if labels.size else []

    def _label_column(self):
        return self._table.with_format('arrow')[self.label_key]

    def _check_no_missing_labels(self) -> None:
        column = self._label_column() if self.label_key is not None else None
        if column is not None and column.null_count:
            row = int(np.flatnonzero(np.asarray(column.is_null()))[0])
            raise DataError(f'HFDataset: {self._where()}: row {row} has no label (column {self.label_key!r} is '
                            'empty there); fill it in or drop the row')

    def _check_label_range(self) -> None:
        if self.label_key is None:
            return
        labels = self.get_gt_labels()
        n = len(self.CLASSES)
        bad = np.flatnonzero((labels < 0) | (labels >= n))
        if bad.size:
            row = int(bad[0])
            raise DataError(f'HFDataset: {self._where()}: row {row} has label {int(labels[row])}, outside 0..{n - 1} '
                            f'for {n} classes; fix the label or pass all the class names in classes')

    # -- samples -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._table)

    def get_gt_labels(self) -> np.ndarray:
        """All labels, as an int64 array (read as one column, once)."""
        if self.label_key is None:
            raise ConfigError(f'HFDataset {self._where()} was built with label_key=None: it has no labels to '
                              'evaluate against')
        if self._labels is None:
            column = self._label_column()
            if self._name_to_label is not None:
                labels = np.array([self._name_to_label[str(v)] for v in column.to_pylist()], dtype=np.int64)
            else:
                labels = np.asarray(column.to_numpy(), dtype=np.int64)
            self._labels = labels
        return self._labels.copy()

    def get_cat_ids(self, idx: int) -> list[int]:
        """The category ids of image ``idx`` (used by class-balanced sampling)."""
        if self._labels is None:
            self.get_gt_labels()
        return [int(self._labels[idx])]

    def _row_name(self, idx: int, stored: str | None) -> str:
        return stored or f'{self._split_name}[{idx}]'

    def _image_bytes(self, value, idx: int) -> tuple[bytes, str]:
        """The encoded image of a row's image cell, and the name to report it by."""
        stored = None
        if isinstance(value, Mapping):
            data, stored = value.get('bytes'), value.get('path') or None
            if data is None:
                if stored is None:
                    raise ImageReadError(f'row {idx} has neither image bytes nor a path', self._row_name(idx, None))
                data = read_image_file(stored).numpy()
        elif isinstance(value, str):
            stored = value
            data = read_image_file(value).numpy()
        elif isinstance(value, (bytes, bytearray, memoryview)):
            data = value
        else:
            raise ImageReadError(f'row {idx} has no image ({self.image_key!r} is {type(value).__name__})',
                                 self._row_name(idx, None))
        if not len(data):
            raise ImageReadError(f'the image of row {idx} ({self._row_name(idx, stored)}) is empty (0 bytes)',
                                 self._row_name(idx, stored))
        return data, self._row_name(idx, stored)

    def prepare_data(self, idx: int) -> dict:
        """Decode row ``idx``'s image and run the pipeline."""
        row = self._table[int(idx)]
        data, name = self._image_bytes(row[self.image_key], idx)
        label = None
        if self.label_key is not None:
            label = row[self.label_key]
            if self._name_to_label is not None:
                label = self._name_to_label[str(label)]
        return self.pipeline(decoded_results(data, label, name, **self._decode))

    def describe_sample(self, idx: int) -> str:
        """``'row 3 of data/packed (split 'train')'``, for messages."""
        return f'row {idx} of {self._where()}'

    def _path_of(self, idx: int) -> str:
        value = self._table[int(idx)][self.image_key]
        stored = value.get('path') if isinstance(value, Mapping) else value if isinstance(value, str) else None
        return self._row_name(idx, stored)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state['_labels'] = None  # read again where needed, rather than copied into every worker
        return state

    def __repr__(self) -> str:
        n = len(self.CLASSES) if self.CLASSES is not None else 'unknown'
        return (f'{type(self).__name__}(images={len(self)}, classes={n}, path={self.path!r}, '
                f'split={self._split_name!r})')


def _is_bytes_or_path(datasets, feature) -> bool:
    """Whether a column of ``datasets`` (the imported, optional module) holds encoded bytes or file paths."""
    return isinstance(feature, datasets.Value) and feature.dtype in ('binary', 'large_binary', 'string', 'large_string')


def _download(url: str, dest: Path) -> Path:
    """``dest``, downloaded from ``url`` unless the copy there is current (the server answers 304 to the
    ETag / Last-Modified it gave); written atomically. Offline, an existing copy is used with a warning."""
    meta_path = dest.with_name(dest.name + '.http.json')
    headers = {}
    if dest.is_file() and meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            meta = {}
        if meta.get('etag'):
            headers['If-None-Match'] = meta['etag']
        if meta.get('last_modified'):
            headers['If-Modified-Since'] = meta['last_modified']
    try:
        with urlopen(Request(url, headers=headers), timeout=60) as response:
            expected = response.headers.get('Content-Length')
            with atomic_open(dest, 'wb') as fh:  # a download that breaks off leaves the old copy (or none)
                shutil.copyfileobj(response, fh, 1 << 20)
                size = fh.tell()
                if expected is not None and size != int(expected):
                    raise DataError(f'HFDataset: the download of {url} broke off ({size} of {expected} bytes); '
                                    'try again')
            atomic_write_text(meta_path, json.dumps({'etag': response.headers.get('ETag'),
                                                     'last_modified': response.headers.get('Last-Modified')}))
    except HTTPError as e:
        if e.code == 304:
            return dest
        raise DataError(f'HFDataset: cannot download {url}: HTTP {e.code} {e.reason}') from None
    except (URLError, OSError) as e:
        if dest.is_file():
            warnings.warn(f'HFDataset: cannot reach {url} ({getattr(e, "reason", e)}); using the copy downloaded '
                          f'before, {dest}')
            return dest
        raise DataError(f'HFDataset: cannot download {url}: {getattr(e, "reason", e)}') from None
    return dest
