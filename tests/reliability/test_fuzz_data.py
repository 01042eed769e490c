"""Property-based fuzzing of annotation files and image bytes: a sample or a DataError, nothing else."""

from __future__ import annotations

import io
import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from imgcls.data import CustomDataset
from imgcls.data.pipelines.loading import LoadImageFromFile
from imgcls.errors import ImgclsError

CAMPAIGN = int(os.environ.get('IMGCLS_FUZZ_EXAMPLES', '0'))  # see test_fuzz_config.py
FUZZ = settings(max_examples=CAMPAIGN or 100, deadline=5000, derandomize=not CAMPAIGN, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- annotation files ---------------------------------------------------------------------------------------

line_parts = st.one_of(
    st.sampled_from(['img/000001.jpg 3', 'a.png 0', 'dir with space/x.jpg 1', 'x.jpg\t2', '  y.jpg   1  ',
                     'z.jpg -1', 'z.jpg 99999999999999999999', 'z.jpg 1e3', 'z.jpg ٣', 'onlypath', '0', '',
                     '# comment 1', 'x.jpg 1 2', 'x.jpg 0x1', 'x.jpg +1', 'x.jpg ' + '9' * 5000, 'x.jpg 123456789']),
    st.text(max_size=40))
ann_texts = st.lists(line_parts, max_size=12).map('\n'.join)
ann_bytes = st.one_of(ann_texts.map(lambda t: t.encode('utf-8', 'surrogatepass')),
                      st.binary(max_size=200),
                      st.tuples(ann_texts, st.binary(max_size=8)).map(lambda p: p[0].encode('utf-8', 'replace') + p[1]))
classes_arg = st.one_of(st.none(), st.just(['a', 'b', 'c', 'd']), st.just([str(i) for i in range(10)]))


@FUZZ
@given(ann_bytes, classes_arg, st.sampled_from(['\n', '\r\n', '\r']))
def test_any_annotation_file_builds_or_raises_data_error(data, classes, newline):
    with tempfile.TemporaryDirectory() as tmp:
        ann = Path(tmp) / 'ann.txt'
        ann.write_bytes(data.replace(b'\n', newline.encode()))
        try:
            dataset = CustomDataset(tmp, ann_file=str(ann), classes=classes)
        except ImgclsError as e:
            assert str(e).strip()
            event(f'refused: {type(e).__name__}')
            return
        event('built')
        labels = dataset.get_gt_labels()
        assert len(labels) == len(dataset) > 0
        assert labels.min() >= 0 and labels.max() < len(dataset.CLASSES)
        info = dataset.data_infos[len(dataset) - 1]
        assert isinstance(info['img_info']['filename'], str)
        assert dataset.describe_sample(0).startswith('sample 0')


# -- image bytes --------------------------------------------------------------------------------------------


def _encoded(fmt: str, mode: str = 'RGB', size=(7, 5)) -> bytes:
    buf = io.BytesIO()
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), np.uint8)).convert(mode)
    img.save(buf, format=fmt)
    return buf.getvalue()


VALID = [_encoded('JPEG'), _encoded('PNG'), _encoded('PNG', 'P'), _encoded('PNG', 'LA'), _encoded('GIF'),
         _encoded('BMP'), _encoded('WEBP'), _encoded('TIFF'), _encoded('PPM'), _encoded('JPEG', 'L'),
         _encoded('PNG', 'I;16'), _encoded('JPEG', 'CMYK')]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack('>I', len(body)) + kind + body + struct.pack('>I', zlib.crc32(kind + body) & 0xFFFFFFFF)


@st.composite
def huge_png(draw):
    """A PNG whose (checksummed, valid) header claims a huge image, followed by garbage or nothing."""
    width, height = draw(st.integers(1, 2 ** 31 - 1)), draw(st.integers(1, 2 ** 31 - 1))
    depth, color = draw(st.sampled_from([(8, 2), (8, 6), (16, 2), (1, 0), (8, 3)]))
    ihdr = _png_chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, depth, color, 0, 0, 0))
    body = draw(st.binary(max_size=64))
    idat = _png_chunk(b'IDAT', zlib.compress(body)) if draw(st.booleans()) else body
    return b'\x89PNG\r\n\x1a\n' + ihdr + idat + _png_chunk(b'IEND', b'')


@st.composite
def damaged_image(draw):
    data = draw(st.sampled_from(VALID))
    how = draw(st.sampled_from(['truncate', 'garbage_tail', 'flip', 'header_only']))
    if how == 'truncate':
        return data[:draw(st.integers(1, len(data) - 1))]
    if how == 'garbage_tail':
        cut = draw(st.integers(4, len(data)))
        return data[:cut] + draw(st.binary(min_size=1, max_size=100))
    if how == 'flip':
        bad = bytearray(data)
        for i in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=8)):
            bad[i] ^= draw(st.integers(1, 255))
        return bytes(bad)
    return data[:draw(st.integers(2, 32))] + draw(st.binary(max_size=32))


image_bytes = st.one_of(st.binary(max_size=300), damaged_image(), huge_png(), st.sampled_from(VALID))
PIPE = [dict(type='LoadImageFromFile'), dict(type='Resize', size=(8, 8)), dict(type='ImageToTensor', keys=['img']),
        dict(type='Collect', keys=['img', 'gt_label'])]


@FUZZ
@given(image_bytes, st.sampled_from(['color', 'grayscale', 'unchanged']))
def test_any_image_bytes_load_or_raise_data_error(data, color_type):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / 'img.jpg'
        path.write_bytes(data)
        try:
            results = LoadImageFromFile(color_type=color_type)({'img_info': {'filename': str(path)},
                                                                'img_prefix': None})
        except ImgclsError as e:
            assert str(e).strip() and 'img.jpg' in str(e)
            event('refused')
            return
        event('decoded')
        img = results['img']
        assert img.ndim == 3 and img.dtype.is_floating_point is False and min(img.shape) > 0


@FUZZ
@given(st.lists(image_bytes, min_size=1, max_size=3))
def test_any_image_bytes_through_the_dataset(images):
    with tempfile.TemporaryDirectory() as tmp:
        lines = []
        for i, data in enumerate(images):
            (Path(tmp) / f'{i}.png').write_bytes(data)
            lines.append(f'{i}.png {i % 2}')
        (Path(tmp) / 'ann.txt').write_text('\n'.join(lines))
        dataset = CustomDataset(tmp, ann_file=str(Path(tmp) / 'ann.txt'), pipeline=PIPE, classes=['a', 'b'])
        for i in range(len(dataset)):
            try:
                sample = dataset[i]
            except ImgclsError as e:
                assert f'{i}.png' in str(e) and 'line' in str(e)
                continue
            assert tuple(sample['img'].shape[1:]) == (8, 8)


@FUZZ
@given(ann_bytes)
def test_the_vectorised_annotation_reader_agrees_with_the_line_by_line_one(data):
    from imgcls.data.datasets import _ann_table

    def read(fast: bool):
        real = _ann_table._Reader.fast
        if not fast:
            _ann_table._Reader.fast = lambda self, block: False
        try:
            table = _ann_table.read_annotation_file(str(ann), None)
            return [table.path(i) for i in range(len(table))], table.labels.tolist(), table.linenos.tolist()
        except ImgclsError as e:
            return str(e)
        finally:
            _ann_table._Reader.fast = real

    with tempfile.TemporaryDirectory() as tmp:
        ann = Path(tmp) / 'ann.txt'
        ann.write_bytes(data)
        assert read(fast=True) == read(fast=False)
