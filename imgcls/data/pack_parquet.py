"""``imgcls data pack --format parquet``: Parquet shards that Hugging Face ``datasets`` reads as an image table.

Each shard is written through ``datasets`` so that its schema carries the Hugging Face features: ``image`` is
an :class:`datasets.Image` column (the encoded bytes as they were stored, plus the original path; nothing is
decoded or re-encoded) and ``label`` a :class:`datasets.ClassLabel` with the class names when they are known
(plain int64 otherwise). ``datasets.load_dataset('parquet', data_files=...)``, the dataset viewer of the Hub
and imgcls's ``HFDataset`` then all see the images and the class names.

Only one shard's samples are held in memory at a time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DataError

if TYPE_CHECKING:  # pack imports this module for its parquet writer; RawSample is only an annotation here
    from .pack import RawSample

__all__ = ['write_parquet_shards', 'parquet_features']


def parquet_features(classes: Sequence[str] = ()):
    """The ``datasets.Features`` of a packed shard: ``image`` (bytes and path, not decoded) and ``label``."""
    import datasets  # optional dependency (imgcls[hf])

    label = datasets.ClassLabel(names=[str(c) for c in classes]) if classes else datasets.Value('int64')
    return datasets.Features({'image': datasets.Image(), 'label': label})


@contextlib.contextmanager
def _quiet_progress() -> Iterator[None]:
    """No progress bar per shard from ``datasets`` (a pack of many shards would print hundreds)."""
    import datasets  # optional dependency (imgcls[hf])

    was_disabled = datasets.utils.are_progress_bars_disabled()
    datasets.utils.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.utils.enable_progress_bars()


def write_parquet_shards(samples: Iterable[RawSample], out_dir: Path, shard_size: int, prefix: str,
                         classes: Sequence[str] = ()) -> list[dict]:
    """Parquet shards ``{prefix}-000000.parquet`` ... of ``shard_size`` samples with the columns ``image``
    (a ``datasets.Image``: the stored bytes and the original file name) and ``label`` (a ``ClassLabel`` of
    ``classes``, or int64 without them); returns ``[{name, count}]``."""
    import datasets  # optional dependency (imgcls[hf])
    import pyarrow as pa  # optional dependency (comes with datasets)

    features = parquet_features(classes)
    shards: list[dict] = []
    images: list[dict] = []
    labels: list[int] = []

    def flush() -> None:
        name = f'{prefix}-{len(shards):06d}.parquet'
        # an Arrow table of the features' schema, not Dataset.from_dict: encoding through the Image feature
        # drops the bytes of images whose path is a local file (it keeps the path only), and a pack must
        # hold its images
        arrow = pa.Table.from_pydict({'image': images, 'label': labels}, schema=features.arrow_schema)
        table = datasets.Dataset(datasets.table.InMemoryTable(arrow))
        with _quiet_progress():
            table.to_parquet(str(Path(out_dir) / name))
        shards.append({'name': name, 'count': len(labels)})
        images.clear()
        labels.clear()

    for sample in samples:
        if classes and not 0 <= sample.label < len(classes):
            raise DataError(f'sample {sample.key} ({sample.filename}) has label {sample.label}, outside '
                            f'0..{len(classes) - 1} for the {len(classes)} classes; fix the label or the classes')
        images.append({'bytes': bytes(sample.data), 'path': sample.filename})
        labels.append(int(sample.label))
        if len(labels) == shard_size:
            flush()
    if labels:
        flush()
    return shards
