"""MNIST and Fashion-MNIST from their IDX files (gzipped or not)."""

from __future__ import annotations

import gzip
import math
import os
import zlib
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ...errors import ConfigError, DataError
from ..registries import DATASETS
from .base_dataset import BaseDataset

__all__ = ['MNIST', 'FashionMNIST', 'read_idx']

_IDX_UBYTE = 0x08  # the only element type MNIST-style files use
_MAX_IDX_BYTES = 2 ** 33  # 8 GiB: far beyond any MNIST-style dataset


def _find(prefix: str, name: str) -> str | None:
    for candidate in (name, name + '.gz'):
        path = os.path.join(prefix, candidate)
        if os.path.isfile(path):
            return path
    return None


def read_idx(path: str, ndim: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes with ``ndim`` dimensions (``.gz`` files are decompressed).

    The header is two zero bytes, the element type (0x08 = ubyte), the number of dimensions, then
    each dimension as a big-endian int32: magic 2051 (0x00000803) for images, 2049 for labels.
    """
    opener = gzip.open if path.endswith('.gz') else open
    header = 4 + 4 * ndim
    try:
        with opener(path, 'rb') as fh:
            data = fh.read(header)
            if len(data) == header and int.from_bytes(data[:4], 'big') == 0x800 | ndim:
                # read what the header declares (+1 to notice more), never more: a small .gz can decompress to GBs
                declared = math.prod(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], 'big') for i in range(ndim))
                data += fh.read(min(declared, _MAX_IDX_BYTES) + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f'cannot read {path}: {e}') from None
    magic = 0x800 | ndim
    if len(data) < 4 or int.from_bytes(data[:4], 'big') != magic:
        head = int.from_bytes(data[:4], 'big') if len(data) >= 4 else None
        raise DataError(f'{path} is not an IDX file of {ndim}-D unsigned bytes: its magic number is {head}, '
                        f'expected {magic}')
    if len(data) < header:
        raise DataError(f'{path} is truncated: the header needs {header} bytes, the file has {len(data)}')
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], 'big') for i in range(ndim))
    size = int(np.prod(dims))
    if len(data) - header != size:
        holds = 'more than that' if len(data) - header > size else len(data) - header
        raise DataError(f'{path}: the header declares {dims} = {size} bytes of data but the file holds '
                        f'{holds}; the file is truncated or corrupt')
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


@DATASETS.register_module()
class MNIST(BaseDataset):
    """MNIST: 60,000 training and 10,000 test 28x28 grayscale digits.

    Reads from ``data_prefix``: ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte``
    (``t10k-images-idx3-ubyte`` / ``t10k-labels-idx1-ubyte`` when ``test_mode=True``), each
    plain or gzipped (``.gz``). Images stay in memory as a uint8 ``(N, 1, 28, 28)`` tensor;
    samples carry ``img``, so the pipeline has no loading step. ``ann_file`` is not used.
    """

    CHANNELS = 1  # the image channels every sample has (checked against the model before training)

    CLASSES = ('0 - zero', '1 - one', '2 - two', '3 - three', '4 - four', '5 - five', '6 - six', '7 - seven',
               '8 - eight', '9 - nine')
    source = 'http://yann.lecun.com/exdb/mnist/'

    def __init__(self, data_prefix: str, pipeline: Sequence = (), classes=None, ann_file: str | None = None,
                 test_mode: bool = False, file_client_args: Mapping | None = None):
        if not data_prefix:
            raise ConfigError(f'{type(self).__name__} needs data_prefix: the folder with the IDX files')
        if classes is not None and len(self.get_classes(classes)) != 10:
            raise ConfigError(f'{type(self).__name__} has 10 classes but classes names '
                              f'{len(self.get_classes(classes))}')
        super().__init__(data_prefix, pipeline, classes=classes, ann_file=ann_file, test_mode=test_mode,
                         file_client_args=file_client_args)

    def _files(self) -> tuple[str, str]:
        split = 't10k' if self.test_mode else 'train'
        names = (f'{split}-images-idx3-ubyte', f'{split}-labels-idx1-ubyte')
        found = [_find(self.data_prefix, n) for n in names]
        missing = [n for n, f in zip(names, found) if f is None]
        if missing:
            raise DataError(
                f'{type(self).__name__}: {", ".join(os.path.join(self.data_prefix, n) for n in missing)} not found '
                f'(plain or .gz). Put the four IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, '
                f't10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (gzipped or not, as published at '
                f'{self.source}) in {self.data_prefix}. imgcls does not download datasets.')
        return found[0], found[1]

    def load_annotations(self) -> list[dict]:
        """Read the split's IDX files into memory and build one info dict per image."""
        image_file, label_file = self._files()
        images, labels = read_idx(image_file, 3), read_idx(label_file, 1).astype(np.int64)
        if len(images) != len(labels):
            raise DataError(f'{image_file} has {len(images)} images but {label_file} has {len(labels)} labels')
        bad = np.flatnonzero(labels > 9)
        if bad.size:
            raise DataError(f'{label_file}: image {int(bad[0])} has label {int(labels[bad[0]])}, outside 0..9')
        self.images = torch.from_numpy(images.copy()).unsqueeze(1)  # (N, 1, H, W), writable
        shape = (images.shape[1], images.shape[2], 1)
        split = os.path.basename(image_file).split('-')[0]
        infos = []
        for i in range(len(labels)):
            name = f'{split}/{i:05d}'
            infos.append({'img': self.images[i], 'gt_label': labels[i], 'filename': name, 'ori_filename': name,
                          'img_shape': shape, 'ori_shape': shape})
        return infos


@DATASETS.register_module()
class FashionMNIST(MNIST):
    """Fashion-MNIST: 28x28 grayscale images of 10 kinds of clothing, in MNIST's file format and names."""

    CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag',
               'Ankle boot')
    source = 'https://github.com/zalandoresearch/fashion-mnist'
