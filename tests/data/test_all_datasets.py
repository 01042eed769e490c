"""Every dataset imgcls registers, built from small files in its real format: the contract all datasets keep.

A new dataset needs an entry in FACTORIES (a function of a temporary folder returning its config);
test_every_dataset_has_a_factory fails until it has one.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.io as sio
import torch
from PIL import Image

import imgcls.data  # noqa: F401  (registers every dataset)
from imgcls.data import DATASETS, build_dataset
from imgcls.errors import ConfigError, DataError

PIPELINE = [dict(type='Resize', size=(8, 8)), dict(type='ImageToTensor', keys=['img']),
            dict(type='ToTensor', keys=['gt_label']), dict(type='Collect', keys=['img', 'gt_label'])]
FILE_PIPELINE = [dict(type='LoadImageFromFile')] + PIPELINE


def _folder(root, classes=('cat', 'dog'), per_class=3):
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(np.full((6, 5, 3), 40 * c + i, np.uint8)).save(root / name / f'{i}.png')
    return root


def _cifar(root, name='cifar-10-batches-py', files=('data_batch_1', 'data_batch_2', 'data_batch_3',
                                                      'data_batch_4', 'data_batch_5'), key=b'labels', classes=10,
           meta=('batches.meta', b'label_names')):
    folder = root / name
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for f in files:
        entry = {b'data': rng.integers(0, 256, (2, 3072), dtype=np.uint8), key: [1, classes - 1]}
        (folder / f).write_bytes(pickle.dumps(entry, protocol=2))
    (folder / meta[0]).write_bytes(pickle.dumps({meta[1]: [f'c{i}'.encode() for i in range(classes)]}, protocol=2))
    return str(root)


def _mnist(root):
    for split, n in (('train', 4), ('t10k', 2)):
        images = np.random.default_rng(1).integers(0, 256, (n, 28, 28), dtype=np.uint8)
        (root / f'{split}-images-idx3-ubyte').write_bytes(
            bytes([0, 0, 8, 3]) + np.array([n, 28, 28], '>i4').tobytes() + images.tobytes())
        (root / f'{split}-labels-idx1-ubyte').write_bytes(
            bytes([0, 0, 8, 1]) + np.array([n], '>i4').tobytes() + np.arange(n, dtype=np.uint8).tobytes())
    return str(root)


def _multilabel(root):
    _folder(root / 'img', classes=('x',), per_class=3)
    ann = root / 'ann.txt'
    ann.write_text('x/0.png 0\nx/1.png 1,2\nx/2.png 0,-2\n')
    return dict(type='MultiLabelDataset', data_prefix=str(root / 'img'), ann_file=str(ann), classes=['a', 'b', 'c'],
                pipeline=FILE_PIPELINE)


def _cub(root):
    _folder(root / 'images', classes=('001.Albatross', '002.Auklet'), per_class=2)
    (root / 'images.txt').write_text('1 001.Albatross/0.png\n2 001.Albatross/1.png\n3 002.Auklet/0.png\n'
                                     '4 002.Auklet/1.png\n')
    (root / 'image_class_labels.txt').write_text('1 1\n2 1\n3 2\n4 2\n')
    (root / 'train_test_split.txt').write_text('1 1\n2 0\n3 1\n4 0\n')
    return dict(type='CUB', data_prefix=str(root / 'images'), ann_file=str(root / 'images.txt'),
                image_class_labels_file=str(root / 'image_class_labels.txt'),
                train_test_split_file=str(root / 'train_test_split.txt'), pipeline=FILE_PIPELINE)


def _voc(root):
    voc = root / 'VOCdevkit' / 'VOC2007'
    (voc / 'JPEGImages').mkdir(parents=True)
    (voc / 'Annotations').mkdir()
    objects = {'000001': [('dog', 0), ('person', 1)], '000002': [('cat', 1), ('cat', 0), ('unicorn', 0)]}
    for image_id, objs in objects.items():
        Image.fromarray(np.zeros((6, 5, 3), np.uint8)).save(voc / 'JPEGImages' / f'{image_id}.jpg')
        body = ''.join(f'<object><name>{n}</name><difficult>{d}</difficult></object>' for n, d in objs)
        (voc / 'Annotations' / f'{image_id}.xml').write_text(f'<annotation>{body}</annotation>')
    (root / 'test.txt').write_text('000001\n000002\n')
    return dict(type='VOC', data_prefix=str(voc), ann_file=str(root / 'test.txt'), pipeline=FILE_PIPELINE)


def _cars_mat(path, labels):
    fields = [(k, 'O') for k in ('bbox_x1', 'bbox_y1', 'bbox_x2', 'bbox_y2', 'class', 'fname')]
    records = np.zeros((1, len(labels)), dtype=fields)
    for i, label in enumerate(labels):
        box = [np.array([[v]]) for v in (0, 0, 4, 5)]
        records[0, i] = (*box, np.array([[label]], dtype=np.uint8), np.array([f'{i:05d}.png']))
    sio.savemat(str(path), {'annotations': records})


def _cars(root):
    for split, labels in (('cars_train', [1, 196]), ('cars_test', [2])):
        (root / split).mkdir(parents=True)
        for i in range(len(labels)):
            Image.fromarray(np.zeros((6, 5, 3), np.uint8)).save(root / split / f'{i:05d}.png')
    (root / 'devkit').mkdir()
    _cars_mat(root / 'devkit' / 'cars_train_annos.mat', [1, 196])
    _cars_mat(root / 'devkit' / 'cars_test_annos_withlabels.mat', [2])
    return dict(type='StanfordCars', data_prefix=str(root), pipeline=FILE_PIPELINE)


def _webdataset(root):
    from imgcls.data.pack import pack_dataset
    source = build_dataset(dict(type='CustomDataset', data_prefix=str(_folder(root / 'data')), pipeline=[]))
    pack_dataset(source, root / 'shards', 'wds', shard_size=4)
    return dict(type='WebDataset', urls=str(root / 'shards'), pipeline=FILE_PIPELINE, test_mode=True)


def _custom(root, kind='CustomDataset'):
    return dict(type=kind, data_prefix=str(_folder(root / 'data')), pipeline=FILE_PIPELINE)


def _hf(root):
    pytest.importorskip('datasets')
    from imgcls.data.datasets import CustomDataset
    from imgcls.data.pack import pack_dataset

    pack_dataset(CustomDataset(str(_folder(root / 'data'))), root / 'packed', fmt='parquet', shard_size=4)
    return dict(type='HFDataset', path=str(root / 'packed'), cache_dir=str(root / 'cache'), pipeline=FILE_PIPELINE)


FACTORIES = {
    'CustomDataset': _custom,
    'ImageNet': lambda root: _custom(root, 'ImageNet'),
    'ImageNet21k': lambda root: dict(_custom(root, 'ImageNet21k'), serialize_data=True, recursion_subdir=True),
    'CUB': _cub,
    'Digits': lambda root: dict(type='Digits', split='val', pipeline=PIPELINE),
    'CIFAR10': lambda root: dict(type='CIFAR10', data_prefix=_cifar(root), pipeline=PIPELINE),
    'CIFAR100': lambda root: dict(type='CIFAR100', pipeline=PIPELINE, data_prefix=_cifar(
        root, 'cifar-100-python', ('train',), b'fine_labels', 100, ('meta', b'fine_label_names'))),
    'MNIST': lambda root: dict(type='MNIST', data_prefix=_mnist(root), pipeline=PIPELINE),
    'FashionMNIST': lambda root: dict(type='FashionMNIST', data_prefix=_mnist(root), pipeline=PIPELINE),
    'MultiLabelDataset': _multilabel,
    'StanfordCars': _cars,
    'VOC': _voc,
    'RepeatDataset': lambda root: dict(type='RepeatDataset', times=2, dataset=_custom(root)),
    'ClassBalancedDataset': lambda root: dict(type='ClassBalancedDataset', oversample_thr=0.5, dataset=_custom(root)),
    'ConcatDataset': lambda root: dict(type='ConcatDataset', datasets=[_custom(root / 'a'), _custom(root / 'b')]),
    'KFoldDataset': lambda root: dict(type='KFoldDataset', fold=1, num_splits=3, dataset=_custom(root)),
    'WebDataset': _webdataset,
    'HFDataset': _hf,
}
NAMES = sorted(k for k in DATASETS.keys() if getattr(DATASETS.get(k), '__module__', '').startswith('imgcls.'))


def test_every_dataset_has_a_factory():
    assert sorted(set(NAMES) - set(FACTORIES)) == []


@pytest.mark.parametrize('name', sorted(FACTORIES))
def test_dataset_contract(name, tmp_path):
    ds = build_dataset(FACTORIES[name](tmp_path))
    assert type(ds).__name__ == name and repr(ds).startswith(name)
    n = len(ds)
    assert n > 0
    # a streaming dataset is read in order (test_mode: unshuffled); the others are indexed
    sample = list(ds)[n - 1] if isinstance(ds, torch.utils.data.IterableDataset) else ds[n - 1]
    assert sample['img'].dtype == torch.uint8 and sample['img'].shape[-2:] == (8, 8)
    labels = ds.get_gt_labels()
    assert len(labels) == n and all(isinstance(c, str) for c in ds.CLASSES)
    multi = labels.ndim == 2
    assert torch.equal(torch.as_tensor(sample['gt_label']), torch.as_tensor(labels[n - 1]))
    expected_ids = np.flatnonzero(labels[0] == 1).tolist() if multi else [int(labels[0])]
    assert sorted(ds.get_cat_ids(0)) == expected_ids
    assert len(pickle.loads(pickle.dumps(ds))) == n  # loader workers receive it pickled


def test_cub_split_labels_and_names(tmp_path):
    cfg = _cub(tmp_path)
    train, test = build_dataset(cfg), build_dataset(cfg, default_args=dict(test_mode=True))
    assert [i['img_info']['filename'] for i in train.data_infos] == ['001.Albatross/0.png', '002.Auklet/0.png']
    assert train.get_gt_labels().tolist() == [0, 1] and test.get_gt_labels().tolist() == [0, 1]
    assert len(train.CLASSES) == 200 and train.CLASSES[:2] == ['1', '2']  # no classes.txt beside images.txt
    names = [f'{i} {i:03d}.Bird_{i}' for i in range(1, 201)]
    (tmp_path / 'classes.txt').write_text('\n'.join(names) + '\n')
    assert build_dataset(cfg).CLASSES[:2] == ['Bird_1', 'Bird_2']
    (tmp_path / 'train_test_split.txt').write_text('1 1\n2 0\n3 1\n')
    with pytest.raises(DataError, match='list different image ids'):
        build_dataset(cfg)


def test_imagenet21k_refuses_what_mmcls_refused(tmp_path):
    cfg = FACTORIES['ImageNet21k'](tmp_path)
    with pytest.raises(ConfigError, match='recursion_subdir=False is not supported'):
        build_dataset(dict(cfg, recursion_subdir=False))
    with pytest.raises(ConfigError, match='multi_label=True is not supported'):
        build_dataset(dict(cfg, multi_label=True))


def test_stanford_cars_splits_and_labels(tmp_path):
    cfg = _cars(tmp_path)
    train, test = build_dataset(cfg), build_dataset(cfg, default_args=dict(test_mode=True))
    assert train.get_gt_labels().tolist() == [0, 195] and test.get_gt_labels().tolist() == [1]
    assert train.data_prefix.endswith('cars_train') and test.data_prefix.endswith('cars_test')
    assert len(train.CLASSES) == 196 and train.CLASSES[0] == '1'  # no devkit/cars_meta.mat


def test_stanford_cars_names_an_annotation_file_that_is_not_matlab(tmp_path):
    cfg = _cars(tmp_path)
    (tmp_path / 'ann.txt').write_text('00000.png 1\n00001.png 196\n')  # an ImageNet-style list, not the devkit's
    with pytest.raises(DataError, match=r'cannot read .*ann\.txt as a MATLAB file'):
        build_dataset(dict(cfg, ann_file=str(tmp_path / 'ann.txt')))


def test_voc_labels_difficult_as_mmcls(tmp_path):
    cfg = _voc(tmp_path)
    ds = build_dataset(cfg)
    dog, person, cat = (ds.CLASSES.index(n) for n in ('dog', 'person', 'cat'))
    gt = ds.get_gt_labels()
    assert gt[0, dog] == 1 and gt[0, person] == -1 and gt[0].sum() == 0  # dog positive, person difficult
    assert gt[1, cat] == 1 and gt[1].sum() == 1  # a plain cat wins over a difficult one; unknown names skipped
    assert build_dataset(dict(cfg, difficult_as_postive=True)).get_gt_labels()[0, person] == 1
    assert build_dataset(dict(cfg, difficult_as_postive=False)).get_gt_labels()[0, person] == 0
    with pytest.raises(ConfigError, match='VOC2007 folder'):
        build_dataset(dict(cfg, data_prefix=str(tmp_path)))


@pytest.mark.parametrize('name', sorted(FACTORIES))
def test_dataset_evaluates_perfect_scores(name, tmp_path):
    ds = build_dataset(FACTORIES[name](tmp_path))
    labels = ds.get_gt_labels()
    if labels.ndim == 2:
        scores = (labels == 1).astype(np.float32)
        with_positives = (labels == 1).any(0).mean()  # a class without any positive has AP 0 (mmcls)
        assert ds.evaluate(list(scores), metric='mAP')['mAP'] == pytest.approx(100.0 * with_positives)
        return
    scores = np.eye(len(ds.CLASSES), dtype=np.float32)[labels]
    try:
        out = ds.evaluate(list(scores), metric='accuracy', metric_options=dict(topk=(1,)))
    except ConfigError as e:  # wrappers that repeat images say so and point to a plain dataset
        assert name in str(e) and 'plain dataset' in str(e)
        return
    assert out and all(v == pytest.approx(100.0) for k, v in out.items() if 'top-1' in k)
