"""CIFAR, MNIST, ImageNet and MultiLabelDataset read from small files in their real formats."""

import gzip
import os
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from imgcls.data import build_dataset
from imgcls.data.datasets import CIFAR10, CIFAR100, MNIST, FashionMNIST, ImageNet, MultiLabelDataset
from imgcls.errors import ConfigError, DataError

GRAB = [dict(type='ToTensor', keys=['gt_label']), dict(type='Collect', keys=['img', 'gt_label'])]


# -- CIFAR -------------------------------------------------------------------------------------

def _cifar_batch(path, rng, n, num_classes, labels_key, bytes_keys=True, protocol=2):
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, num_classes, n)]
    entry = {'batch_label': 'x', labels_key: labels, 'data': data, 'filenames': [f'f{i}.png' for i in range(n)]}
    if bytes_keys:  # the official files were written by Python 2: str keys come back as bytes
        entry = {k.encode(): (v.encode() if isinstance(v, str) else v) for k, v in entry.items()}
    with open(path, 'wb') as fh:
        pickle.dump(entry, fh, protocol=protocol)
    return data, labels


@pytest.fixture
def cifar10(tmp_path):
    folder = tmp_path / 'cifar-10-batches-py'
    folder.mkdir()
    rng = np.random.default_rng(0)
    parts = [_cifar_batch(folder / f'data_batch_{i}', rng, 3, 10, 'labels') for i in range(1, 6)]
    test = _cifar_batch(folder / 'test_batch', rng, 4, 10, 'labels', bytes_keys=False, protocol=4)
    names = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']
    with open(folder / 'batches.meta', 'wb') as fh:
        pickle.dump({b'label_names': [n.encode() for n in names], b'num_vis': 3072}, fh, protocol=2)
    return tmp_path, parts, test, names


def test_cifar10_train_and_test(cifar10):
    root, parts, test, names = cifar10
    ds = CIFAR10(str(root), pipeline=GRAB)
    assert len(ds) == 15 and ds.CLASSES == names
    assert ds.get_gt_labels().tolist() == [y for _, labels in parts for y in labels]
    sample = ds[4]  # batch 2, image 1
    expected = torch.from_numpy(parts[1][0][1].reshape(3, 32, 32))
    assert sample['img'].dtype == torch.uint8 and torch.equal(sample['img'], expected)
    assert sample['img_metas']['filename'] == 'cifar-10-batches-py/data_batch_2/00001'
    assert int(sample['gt_label']) == parts[1][1][1]
    # a red pixel: plane 0 is R (the official layout is R, G, B planes of 1024 bytes each)
    assert int(sample['img'][0, 0, 0]) == int(parts[1][0][1][0])
    t = build_dataset(dict(type='CIFAR10', data_prefix=str(root)), default_args={'test_mode': True})
    assert len(t) == 4 and t.get_gt_labels().tolist() == test[1]


def test_cifar100(tmp_path):
    folder = tmp_path / 'cifar-100-python'
    folder.mkdir()
    rng = np.random.default_rng(1)
    _cifar_batch(folder / 'train', rng, 5, 100, 'fine_labels')
    data, labels = _cifar_batch(folder / 'test', rng, 2, 100, 'fine_labels')
    with open(folder / 'meta', 'wb') as fh:
        pickle.dump({b'fine_label_names': [f'c{i}'.encode() for i in range(100)],
                     b'coarse_label_names': [b'x'] * 20}, fh, protocol=2)
    ds = CIFAR100(str(tmp_path), test_mode=True)
    assert len(ds) == 2 and len(ds.CLASSES) == 100 and ds.CLASSES[7] == 'c7'
    assert ds.get_gt_labels().tolist() == labels
    assert torch.equal(ds.images[1], torch.from_numpy(data[1].reshape(3, 32, 32)))


def test_cifar_missing_files_say_where(tmp_path):
    with pytest.raises(DataError) as info:
        CIFAR10(str(tmp_path))
    text = str(info.value)
    assert os.path.join(str(tmp_path), 'cifar-10-batches-py', 'data_batch_1') in text
    assert 'cifar-10-python.tar.gz' in text and 'batches.meta' in text and 'does not download' in text


class _Evil:
    def __reduce__(self):
        return (os.system, ('touch HACKED',))


def test_cifar_malicious_pickle_is_refused(cifar10, monkeypatch):
    root, *_ = cifar10
    monkeypatch.chdir(root)
    with open(root / 'cifar-10-batches-py' / 'data_batch_3', 'wb') as fh:
        pickle.dump({b'data': _Evil(), b'labels': [0]}, fh, protocol=2)
    with pytest.raises(DataError, match=r'data_batch_3.*not a plain data pickle.*system'):
        CIFAR10(str(root))
    assert not (root / 'HACKED').exists()


def test_cifar_garbled_files(cifar10):
    root, *_ = cifar10
    path = root / 'cifar-10-batches-py' / 'data_batch_2'
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match='data_batch_2.*truncated'):
        CIFAR10(str(root))
    with open(path, 'wb') as fh:
        pickle.dump({b'data': np.zeros((2, 10), np.uint8), b'labels': [0, 1]}, fh, protocol=2)
    with pytest.raises(DataError, match=r'data_batch_2: data must be a uint8 array of shape \(N, 3072\)'):
        CIFAR10(str(root))


# -- MNIST -------------------------------------------------------------------------------------

def _idx(path, array, gz):
    header = bytes([0, 0, 0x08, array.ndim]) + b''.join(d.to_bytes(4, 'big') for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(str(path) + '.gz', 'wb') as fh:
            fh.write(payload)
    else:
        path.write_bytes(payload)


def _mnist_files(root, gz, n_train=5, n_test=3):
    rng = np.random.default_rng(2)
    out = {}
    for split, n in (('train', n_train), ('t10k', n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        _idx(root / f'{split}-images-idx3-ubyte', images, gz)
        _idx(root / f'{split}-labels-idx1-ubyte', labels, gz)
        out[split] = images, labels
    return out


@pytest.mark.parametrize('gz', [False, True])
def test_mnist_idx_files(tmp_path, gz):
    arrays = _mnist_files(tmp_path, gz)
    ds = MNIST(str(tmp_path), pipeline=GRAB)
    assert len(ds) == 5 and ds.CLASSES[3] == '3 - three'
    assert ds.get_gt_labels().tolist() == arrays['train'][1].tolist()
    s = ds[2]
    assert s['img'].shape == (1, 28, 28) and s['img'].dtype == torch.uint8
    assert np.array_equal(s['img'][0].numpy(), arrays['train'][0][2])
    test = FashionMNIST(str(tmp_path), test_mode=True)
    assert len(test) == 3 and test.CLASSES[9] == 'Ankle boot'
    assert test.get_gt_labels().tolist() == arrays['t10k'][1].tolist()


def test_mnist_errors(tmp_path):
    with pytest.raises(DataError, match=r'train-images-idx3-ubyte.*not found.*t10k-labels-idx1-ubyte'):
        MNIST(str(tmp_path))
    _mnist_files(tmp_path, gz=False)
    path = tmp_path / 'train-images-idx3-ubyte'
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.raises(DataError, match='train-images-idx3-ubyte.*truncated'):
        MNIST(str(tmp_path))
    path.write_bytes(bytes([0, 0, 8, 1]) + data[4:])  # the magic of a labels file
    with pytest.raises(DataError, match='magic number is 2049, expected 2051'):
        MNIST(str(tmp_path))
    _idx(tmp_path / 'train-images-idx3-ubyte', np.zeros((4, 28, 28), np.uint8), False)
    with pytest.raises(DataError, match='4 images but .* 5 labels'):
        MNIST(str(tmp_path))


# -- ImageNet ----------------------------------------------------------------------------------

def _jpeg(path, value=100):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((6, 8, 3), value, np.uint8)).save(path)


def test_imagenet_folder_and_ann_file(tmp_path):
    for wnid in ('n02', 'n01'):
        for k in range(2):
            _jpeg(tmp_path / 'train' / wnid / f'{wnid}_{k}.JPEG')
    ds = ImageNet(str(tmp_path / 'train'), pipeline=[dict(type='LoadImageFromFile')] + GRAB)
    assert ds.CLASSES == ['n01', 'n02'] and ds.get_gt_labels().tolist() == [0, 0, 1, 1]
    assert ds[3]['img'].shape == (3, 6, 8)
    names = tmp_path / 'classes.txt'
    names.write_text('tench\ngoldfish\n')
    assert ImageNet(str(tmp_path / 'train'), classes=str(names)).CLASSES == ['tench', 'goldfish']
    _jpeg(tmp_path / 'val' / 'ILSVRC2012_val_00000001.JPEG')
    ann = tmp_path / 'meta' / 'val.txt'
    ann.parent.mkdir()
    ann.write_text('ILSVRC2012_val_00000001.JPEG 1\n')
    val = ImageNet(str(tmp_path / 'val'), ann_file=str(ann))
    assert val.get_gt_labels().tolist() == [1] and val.CLASSES == ['0', '1']


def test_imagenet_missing_says_what_to_put_where(tmp_path):
    with pytest.raises(DataError, match=r"'data/imagenet/train' is not a folder.*n01440764/n01440764_10026.JPEG"):
        ImageNet('data/imagenet/train')
    with pytest.raises(DataError, match=r"ann_file '.*val.txt' does not exist.*ILSVRC2012_val_00000001.JPEG 65"):
        ImageNet(str(tmp_path), ann_file=str(tmp_path / 'meta' / 'val.txt'))


# -- MultiLabelDataset -------------------------------------------------------------------------

def test_multi_label_ann_file(tmp_path):
    ann = tmp_path / 'train.txt'
    ann.write_text('a.jpg 0,2\n\nb.jpg -0,1,1\nsub dir/c.jpg\t2,-3\nd.jpg\n')
    ds = MultiLabelDataset(str(tmp_path), str(ann))
    gt = ds.get_gt_labels()
    assert ds.CLASSES == ['0', '1', '2', '3'] and gt.dtype == np.int8
    assert gt.tolist() == [[1, 0, 1, 0], [-1, 1, 0, 0], [0, 0, 1, -1], [0, 0, 0, 0]]
    assert [i['img_info']['filename'] for i in ds.data_infos] == ['a.jpg', 'b.jpg', 'sub dir/c.jpg', 'd.jpg']
    assert ds.get_cat_ids(1) == [1] and ds.get_cat_ids(3) == []
    assert ds.describe_sample(2) == f'sample 2 ({ann}, line 4)'


def test_multi_label_names_and_sample(tmp_path):
    _jpeg(tmp_path / 'x.png')
    ann = tmp_path / 'ann.txt'
    ann.write_text('x.png cat,-dog\n')
    pipe = [dict(type='LoadImageFromFile')] + GRAB
    ds = MultiLabelDataset(str(tmp_path), str(ann), pipeline=pipe, classes=['dog', 'cat', 'bird'])
    sample = ds[0]
    assert sample['gt_label'].tolist() == [-1, 1, 0]
    from imgcls.data import collate
    batch = collate([sample, ds[0]])
    assert batch['gt_label'].dtype == torch.float32 and batch['gt_label'].shape == (2, 3)


@pytest.mark.parametrize('text, kwargs, match', [
    ('a.jpg 0,4\n', dict(classes=['a', 'b']), r'line 1: label 4 of .a.jpg. is outside 0..1'),
    ('a.jpg 0\nb.jpg 1,,2\n', {}, r'line 2: empty label'),
    ('a.jpg cat\n', {}, r"label 'cat' is a name, but no classes"),
    ('a.jpg 0\nb.jpg fish\n', dict(classes=['cat']), r"line 2: 'fish' .* neither a class index nor one of"),
    ('\n\n', {}, r'lists no images'),
])
def test_multi_label_errors(tmp_path, text, kwargs, match):
    ann = tmp_path / 'ann.txt'
    ann.write_text(text)
    with pytest.raises(DataError, match=match):
        MultiLabelDataset(str(tmp_path), str(ann), **kwargs)


def test_multi_label_evaluate(tmp_path):
    ann = tmp_path / 'ann.txt'
    ann.write_text('a.jpg 0\nb.jpg 1\nc.jpg 0,-1\n')
    ds = MultiLabelDataset(str(tmp_path), str(ann))
    scores = [np.array([0.9, 0.2]), np.array([0.8, 0.7]), np.array([0.3, 0.9])]
    # class 0: positives a (0.9), c (0.3) among a, b (0.8), c -> AP = (1/1 + 2/3) / 2; class 1: b only (c is
    # difficult) -> AP 1
    out = ds.evaluate(scores, metric=['mAP', 'OP'])
    assert out['mAP'] == pytest.approx(100 * ((1 + 2 / 3) / 2 + 1) / 2)
    # thr 0.5: a0, b0, b1, c1 predicted; a0 and b1 right; c1 is difficult, a negative here as in mmcls
    assert out['OP'] == pytest.approx(100 * 2 / 4)
    assert ds.evaluate(scores[:1], indices=[0], metric='CR') == {'CR': pytest.approx(50.0)}
    with pytest.raises(ConfigError, match="accuracy"):
        ds.evaluate(scores, metric='accuracy')
