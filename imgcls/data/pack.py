"""``imgcls data pack``: write any imgcls dataset as WebDataset tar shards or Parquet files.

The samples go in as they are stored: the original encoded bytes of file-backed datasets (a JPEG
stays the same JPEG), PNG for datasets held in memory (CIFAR, MNIST, digits), so nothing is lost
and no pipeline step runs. Beside the shards an ``index.json`` records what the streaming dataset
types need before they read a byte: the format, the sample count, the class names and each
shard's name, sample count and labels (which is what lets them share the samples out exactly between
processes and resume mid-epoch).

Everything is written into a temporary folder next to ``OUT`` that is renamed to ``OUT`` at the
end, so an interrupted pack leaves no half-written output behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import urlopen

import numpy as np
import torch
from torchvision.io import encode_png

from ..errors import ConfigError, DataError
from ..fileio import atomic_write_text
from .pack_parquet import write_parquet_shards
from .pipelines.loading import read_image_file

__all__ = ['RawSample', 'raw_samples', 'pack_dataset', 'read_index', 'write_wds_shards', 'INDEX_NAME', 'FORMATS']

INDEX_NAME = 'index.json'
FORMATS = ('wds', 'parquet')
_EXTENSIONS = {'jpeg': 'jpg', 'jpg': 'jpg', 'png': 'png', 'webp': 'webp', 'bmp': 'bmp', 'tif': 'tiff',
               'tiff': 'tiff', 'gif': 'gif', 'ppm': 'ppm', 'pgm': 'pgm'}


@dataclass
class RawSample:
    """One sample as it is stored: a key unique in the dataset, the encoded image, its extension
    (``'jpg'``, ``'png'``...), the class index and the file it came from (or a made-up name)."""

    key: str
    data: bytes
    ext: str
    label: int
    filename: str


def extension_of(data: bytes, filename: str) -> str:
    """The image format's usual extension, from the file's magic bytes (the name can lie)."""
    head = bytes(data[:12])
    if head.startswith(b'\xff\xd8\xff'):
        return 'jpg'
    if head.startswith(b'\x89PNG'):
        return 'png'
    if head[:4] == b'RIFF' and head[8:12] == b'WEBP':
        return 'webp'
    suffix = Path(filename).suffix.lower().lstrip('.')
    return _EXTENSIONS.get(suffix, suffix or 'bin')


def raw_samples(dataset) -> Iterator[RawSample]:
    """The stored samples of an imgcls dataset (a BaseDataset with ``data_infos``), in order."""
    infos = getattr(dataset, 'data_infos', None)
    if infos is None:
        raise ConfigError(f'{type(dataset).__name__} cannot be packed: only datasets with a list of samples '
                          '(folders, annotation files, CIFAR, MNIST, digits) can; wrappers such as RepeatDataset '
                          'repeat samples instead of storing them')
    width = max(6, len(str(len(infos) - 1)))
    for i, info in enumerate(infos):
        label = info.get('gt_label')
        if label is None or np.ndim(label) != 0:
            raise ConfigError(f'{type(dataset).__name__} sample {i} has no single class label (multi-label '
                              'datasets cannot be packed yet)')
        name = (info.get('img_info') or {}).get('filename') or info.get('filename') or f'{i:0{width}d}'
        if 'img' in info:  # held in memory: a (C, H, W) uint8 tensor (or an HWC array)
            img = torch.as_tensor(np.asarray(info['img']))
            if img.ndim == 3 and img.shape[0] not in (1, 3, 4) and img.shape[-1] in (1, 3, 4):
                img = img.permute(2, 0, 1)
            if img.ndim == 2:
                img = img[None]
            data, ext = encode_png(img.to(torch.uint8).contiguous()).numpy().tobytes(), 'png'
        else:
            prefix = info.get('img_prefix')
            path = os.path.join(prefix, name) if prefix else name
            data = read_image_file(path).numpy().tobytes()
            ext, name = extension_of(data, path), path
        yield RawSample(key=f'{i:0{width}d}', data=data, ext=ext, label=int(label), filename=str(name))


def write_wds_shards(samples: Iterable[RawSample], out_dir: Path, shard_size: int, prefix: str,
                     classes: Sequence[str] = ()) -> list[dict]:
    """WebDataset tar shards ``{prefix}-000000.tar`` ... with ``key.<ext>`` and ``key.cls`` (the class
    index as text); returns ``[{name, count, labels}]``."""
    from webdataset import TarWriter  # optional dependency (imgcls[wds])

    shards: list[dict] = []
    writer, count = None, 0
    for sample in samples:
        if writer is None or count == shard_size:
            if writer is not None:
                writer.close()
                shards[-1]['count'] = count
            name = f'{prefix}-{len(shards):06d}.tar'
            writer, count = TarWriter(str(out_dir / name)), 0
            shards.append({'name': name, 'count': 0, 'labels': []})
        writer.write({'__key__': sample.key, sample.ext: sample.data, 'cls': str(sample.label).encode()})
        shards[-1]['labels'].append(sample.label)
        count += 1
    if writer is not None:
        writer.close()
        shards[-1]['count'] = count
    return shards


def _writer(fmt: str) -> Callable[..., list[dict]]:
    if fmt == 'parquet':
        return write_parquet_shards
    return write_wds_shards


def pack_dataset(dataset, out: str | os.PathLike, fmt: str = 'wds', shard_size: int = 1000,
                 prefix: str = 'data', classes: Sequence[str] | None = None) -> dict:
    """Write ``dataset`` to the new folder ``out`` as shards of ``shard_size`` samples plus ``index.json``;
    returns the index. ``out`` must not exist yet (or be an empty folder)."""
    if fmt not in FORMATS:
        raise ConfigError(f'--format {fmt!r} is not one of {", ".join(FORMATS)}')
    if not isinstance(shard_size, int) or isinstance(shard_size, bool) or shard_size < 1:
        raise ConfigError(f'--shard-size must be a positive number of samples, got {shard_size!r}')
    _require(fmt)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f'{out} already exists and is not an empty folder: pack into a new folder (or delete it)')
    classes = list(classes if classes is not None else getattr(dataset, 'CLASSES', None) or [])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{out.name}.partial-', dir=out.parent))
    try:
        labels: set[int] = set()

        def noted(samples: Iterable[RawSample]) -> Iterator[RawSample]:
            for sample in samples:
                labels.add(sample.label)
                yield sample
        shards = _writer(fmt)(noted(raw_samples(dataset)), tmp, shard_size, prefix, classes)
        count = sum(s['count'] for s in shards)
        if not count:
            raise DataError(f'{type(dataset).__name__} has no samples to pack')
        if not classes:
            classes = [str(i) for i in range(max(labels) + 1)]
        index = {'format': fmt, 'count': count, 'classes': [str(c) for c in classes], 'shards': shards}
        atomic_write_text(tmp / INDEX_NAME, json.dumps(index, indent=1) + '\n')
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return index


def _require(fmt: str) -> None:
    module, extra = {'wds': ('webdataset', 'wds'), 'parquet': ('datasets', 'hf')}[fmt]
    try:
        __import__(module)
    except ImportError:
        raise ConfigError(f'--format {fmt} needs the {module!r} library: pip install "imgcls[{extra}]"') from None


def read_index(location: str, opener: Callable[[str], Any] | None = None) -> dict | None:
    """The ``index.json`` at ``location`` (a folder, the file itself, or a URL of either); None where there is
    none. A file that is there but unreadable or malformed is an error naming it."""
    if location.endswith('.json'):
        url = location
    else:
        url = location.rstrip('/') + '/' + INDEX_NAME
    try:
        if '://' in url and not url.startswith('file://'):
            try:
                with urlopen(url, timeout=60) as fh:
                    text = fh.read().decode()
            except HTTPError as e:
                if e.code == 404:
                    return None
                raise DataError(f'cannot read the shard index {url}: HTTP {e.code} {e.reason}') from None
            except URLError as e:
                raise DataError(f'cannot read the shard index {url}: {e.reason}') from None
        else:
            path = url[len('file://'):] if url.startswith('file://') else url
            if not os.path.isfile(path):
                return None
            text = Path(path).read_text()
        index = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f'the shard index {url} is not valid JSON ({e}); write it again with `imgcls data pack`') \
            from None
    if not isinstance(index, dict) or not isinstance(index.get('shards'), list) or not all(
            isinstance(s, dict) and isinstance(s.get('name'), str) and isinstance(s.get('count'), int)
            and (s.get('labels') is None or len(s['labels']) == s['count']) for s in index['shards']):
        raise DataError(f'the shard index {url} lacks a "shards" list of {{"name", "count", "labels"}} entries; '
                        'write it again with `imgcls data pack`')
    index['base'] = url.rsplit('/', 1)[0] if '/' in url else '.'
    return index
