"""ClassBalancedDataset, KFoldDataset and build_dataset's default_args through wrappers."""

import math

import numpy as np
import pytest

from imgcls.data import build_dataset
from imgcls.data.datasets import ClassBalancedDataset, CustomDataset, KFoldDataset, MultiLabelDataset
from imgcls.data.datasets.dataset_wrappers import repeat_factors
from imgcls.errors import ConfigError


def _labelled(tmp_path, labels, name='ann.txt'):
    ann = tmp_path / name
    ann.write_text(''.join(f'img{i}.png {y}\n' for i, y in enumerate(labels)))
    return CustomDataset(str(tmp_path), ann_file=str(ann), classes=['a', 'b', 'c'])


def test_repeat_factors_by_hand():
    # class 0 in 8 of 10 images, class 1 in 2, class 2 in 1; thr = 0.5
    cat_ids = [[0]] * 7 + [[0, 1]] + [[1]] + [[2]]
    r = repeat_factors(cat_ids, 0.5)
    f1, f2 = math.sqrt(0.5 / 0.2), math.sqrt(0.5 / 0.1)  # 1.58, 2.24; class 0: max(1, sqrt(0.5/0.8)) = 1
    assert r.tolist() == pytest.approx([1.0] * 7 + [f1, f1, f2])
    assert repeat_factors([[0], []], 0.5).tolist() == [1.0, 1.0]  # f(0) = thr; no categories: kept once


def test_class_balanced_dataset(tmp_path):
    ds = _labelled(tmp_path, [0] * 7 + [1, 1, 2])
    cb = ClassBalancedDataset(ds, oversample_thr=0.5)
    # class 1 (f = 0.2): ceil(1.58) = 2 copies each; class 2 (f = 0.1): ceil(2.24) = 3 copies
    assert len(cb) == 7 + 2 * 2 + 3
    assert cb.repeat_indices.tolist() == list(range(7)) + [7, 7, 8, 8, 9, 9, 9]
    assert np.bincount(cb.get_gt_labels()).tolist() == [7, 4, 3]
    assert cb.get_cat_ids(len(cb) - 1) == [2] and cb.CLASSES == ['a', 'b', 'c']
    assert len(ClassBalancedDataset(ds, oversample_thr=0)) == 10
    with pytest.raises(ConfigError, match='oversample_thr'):
        ClassBalancedDataset(ds, oversample_thr=-1)
    with pytest.raises(ConfigError, match='cannot be evaluated'):
        cb.evaluate(np.zeros((len(cb), 3)))


def test_class_balanced_multi_label(tmp_path):
    ann = tmp_path / 'ml.txt'
    ann.write_text('a.jpg 0\nb.jpg 0\nc.jpg 0\nd.jpg 0,1\n')
    cb = ClassBalancedDataset(MultiLabelDataset(str(tmp_path), str(ann)), oversample_thr=0.5)
    # class 1 in 1/4 images: sqrt(0.5/0.25) = 1.41 -> image d twice
    assert cb.repeat_indices.tolist() == [0, 1, 2, 3, 3]


def test_kfold_splits_cover_everything_once(tmp_path):
    ds = _labelled(tmp_path, [0, 1, 2] * 4 + [0])  # 13 images
    tests = []
    for fold in range(5):
        train = KFoldDataset(ds, fold=fold, num_splits=5, seed=3)
        test = KFoldDataset(ds, fold=fold, num_splits=5, seed=3, test_mode=True)
        assert len(train) + len(test) == 13 and not set(train.indices) & set(test.indices)
        tests.extend(test.indices.tolist())
    assert sorted(tests) == list(range(13))
    plain = KFoldDataset(ds, fold=1, num_splits=5, test_mode=True)  # no seed: contiguous, in order
    assert plain.indices.tolist() == [2, 3, 4, 5][:len(plain)] and len(plain) == 13 * 2 // 5 - 13 // 5
    assert plain.get_gt_labels().tolist() == ds.get_gt_labels()[plain.indices].tolist()


def test_kfold_evaluate_uses_the_fold_labels(tmp_path):
    ds = _labelled(tmp_path, [0, 1, 2, 0, 1])
    fold = KFoldDataset(ds, fold=0, num_splits=5, test_mode=True)  # image 0, label 0
    assert fold.evaluate(np.array([[0.9, 0.1, 0.0]]), metric_options={'topk': (1,)}) == {'accuracy_top-1': 100.0}
    with pytest.raises(ConfigError, match='fold must be'):
        KFoldDataset(ds, fold=5, num_splits=5)


def test_build_dataset_passes_test_mode_through_wrappers(tmp_path):
    (tmp_path / 'ann.txt').write_text('x.png 0\ny.png 1\n')
    inner = dict(type='CustomDataset', data_prefix=str(tmp_path), ann_file=str(tmp_path / 'ann.txt'))
    rep = build_dataset(dict(type='RepeatDataset', times=2, dataset=inner), default_args={'test_mode': True})
    assert rep.dataset.test_mode is True and len(rep) == 4
    cb = build_dataset(dict(type='ClassBalancedDataset', oversample_thr=0.1, dataset=inner), {'test_mode': True})
    assert cb.dataset.test_mode is True
    cat = build_dataset(dict(type='ConcatDataset', datasets=[inner, inner]), {'test_mode': True})
    assert all(d.test_mode for d in cat.datasets)
    kf = build_dataset(dict(type='KFoldDataset', dataset=inner, num_splits=2), {'test_mode': True})
    assert kf.test_mode is True and kf.dataset.test_mode is False  # the fold is held out, not the split
    kf = build_dataset(dict(type='KFoldDataset', dataset=inner, num_splits=2, test_mode=False), {'test_mode': True})
    assert kf.test_mode is False
