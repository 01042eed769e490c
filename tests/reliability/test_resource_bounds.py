"""Bounded memory and time: a million-line annotation file, and untrusted data files."""

from __future__ import annotations

import os
import pickle
import time
import tracemalloc

import pytest

from imgcls.data import CustomDataset
from imgcls.data.pipelines import loading
from imgcls.errors import DataError

LINES = 1_000_000


def test_a_million_line_annotation_file_builds_in_bounded_memory_without_touching_images(tmp_path, monkeypatch):
    ann = tmp_path / 'train.txt'
    with open(ann, 'w') as fh:
        fh.write(''.join(f'img/{i:06d}.jpg {i % 1000}\n' for i in range(1, LINES + 1)))

    def no_image_access(*args, **kwargs):
        raise AssertionError('building the dataset read an image')
    monkeypatch.setattr(loading, 'read_image_file', no_image_access)
    monkeypatch.setattr(loading, 'decode_image_bytes', no_image_access)
    real_stat = os.stat

    def stat(path, *args, **kwargs):  # os.path.exists / isfile / getsize all end here
        assert '/img/' not in os.fspath(path), f'building the dataset looked at {path}'
        return real_stat(path, *args, **kwargs)
    monkeypatch.setattr(os, 'stat', stat)

    tracemalloc.start()
    start = time.perf_counter()
    try:
        dataset = CustomDataset(str(tmp_path), ann_file=str(ann), pipeline=[dict(type='LoadImageFromFile')])
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    monkeypatch.undo()
    assert len(dataset) == LINES and len(dataset.CLASSES) == 1000
    assert peak < 300 * 2 ** 20, f'peak {peak / 2 ** 20:.0f} MB'
    assert elapsed < 20, f'{elapsed:.1f} s'  # with tracemalloc on, which slows allocation down
    info = dataset.data_infos[123_455]
    assert info['img_info']['filename'] == 'img/123456.jpg' and info['gt_label'] == 123_456 % 1000
    assert dataset.data_infos[-1]['img_info']['filename'] == f'img/{LINES:06d}.jpg'
    assert dataset.get_gt_labels()[:3].tolist() == [1, 2, 3]
    assert dataset.describe_sample(9) == f'sample 9 ({ann}, line 10)'
    with pytest.raises(DataError, match='000001.jpg'):  # images are read when a sample is asked for
        dataset[0]


def test_annotation_file_errors_name_the_line(tmp_path):
    ann = tmp_path / 'a.txt'
    ann.write_bytes(b'a.jpg 0\n\nb.jpg 1\nc\xff.jpg 1\n')
    with pytest.raises(DataError, match=r'a.txt, line 4: the path is not UTF-8'):
        CustomDataset(str(tmp_path), ann_file=str(ann))
    ann.write_text('a.jpg 0\nb.jpg 99999999999\n')
    with pytest.raises(DataError, match=r'line 2: label 99999999999'):
        CustomDataset(str(tmp_path), ann_file=str(ann))
    ann.write_text('a.jpg 0\nb.jpg 7\n')
    with pytest.raises(DataError, match=r"line 2: label 7 of 'b.jpg' is outside 0..1"):
        CustomDataset(str(tmp_path), ann_file=str(ann), classes=['x', 'y'])
    ann.write_text('\ufeffa.jpg 0\r\nb c.jpg 1\r\n')  # a BOM, Windows line ends, a space in a path
    dataset = CustomDataset(str(tmp_path), ann_file=str(ann))
    assert [dataset.data_infos[i]['img_info']['filename'] for i in range(2)] == ['a.jpg', 'b c.jpg']


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


@pytest.mark.parametrize('dataset_type, folder, files', [
    ('CIFAR10', 'cifar-10-batches-py', ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4',
                                        'data_batch_5', 'test_batch', 'batches.meta']),
    ('CIFAR100', 'cifar-100-python', ['train', 'test', 'meta']),
])
def test_a_malicious_cifar_pickle_is_refused_and_nothing_runs(tmp_path, dataset_type, folder, files):
    from imgcls.data import build_dataset
    marker = tmp_path / 'PWNED'
    (tmp_path / folder).mkdir()
    for name in files:
        payload = {b'data': _Evil(marker), b'labels': [0], b'label_names': [b'x'] * 10,
                   b'fine_label_names': [b'x'] * 100, b'fine_labels': [0]}
        (tmp_path / folder / name).write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(DataError, match='system'):
        build_dataset(dict(type=dataset_type, data_prefix=str(tmp_path)))
    assert not marker.exists()


def test_a_gzip_bomb_mnist_file_is_read_no_further_than_its_header_declares(tmp_path):
    """1 MB on disk that decompresses to 1 GB: reading stops after the 47 MB the header declares."""
    import gzip
    import struct

    from imgcls.data.datasets.mnist import read_idx
    member = gzip.compress(b'\0' * 2 ** 20, compresslevel=9)  # 1 MiB of zeros in about 1 KiB
    header = gzip.compress(struct.pack('>IIII', 0x803, 60000, 28, 28))
    path = tmp_path / 'train-images-idx3-ubyte.gz'
    path.write_bytes(header + member * 1024)  # gzip members concatenated: one stream of 1 GiB
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match='holds more than that'):
            read_idx(str(path), 3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200 * 2 ** 20, f'peak {peak / 2 ** 20:.0f} MB'
    path.write_bytes(gzip.compress(b'\x00\x00\x08\x03')[:-4] + b'junk')  # a damaged deflate stream
    with pytest.raises(DataError, match='cannot read'):
        read_idx(str(path), 3)
