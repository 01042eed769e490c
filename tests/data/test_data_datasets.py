"""CustomDataset (folders and annotation files), Digits, evaluate and the wrappers."""

import numpy as np
import pytest
import torch
from PIL import Image

from imgcls.data import ConcatDataset, CustomDataset, Digits, RepeatDataset, build_dataset
from imgcls.errors import ConfigError, DataError

LOAD = [dict(type='LoadImageFromFile'), dict(type='Resize', size=(4, 4)),
        dict(type='ImageToTensor', keys=['img']), dict(type='ToTensor', keys=['gt_label']),
        dict(type='Collect', keys=['img', 'gt_label'])]


def _img(path, value=0, size=(6, 5)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), value, np.uint8)).save(path)


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / 'data'
    _img(root / 'dog' / 'b.png', 20)
    _img(root / 'dog' / 'a.jpg', 10)
    _img(root / 'dog' / 'sub' / 'c.PNG', 30)
    _img(root / 'cat' / 'x.bmp', 40)
    (root / 'cat' / 'readme.txt').write_text('not an image')
    (root / '.cache').mkdir()
    _img(root / 'top_level.png')  # not in a class folder: ignored
    return root


# -- folder layout ----------------------------------------------------------------------------

def test_folder_layout(folder):
    ds = CustomDataset(str(folder), pipeline=LOAD)
    assert ds.CLASSES == ['cat', 'dog'] and ds.class_to_idx == {'cat': 0, 'dog': 1}
    names = [info['img_info']['filename'] for info in ds.data_infos]
    assert names == ['cat/x.bmp', 'dog/a.jpg', 'dog/b.png', 'dog/sub/c.PNG']
    assert ds.get_gt_labels().tolist() == [0, 1, 1, 1] and ds.get_gt_labels().dtype == np.int64
    assert ds.get_cat_ids(2) == [1] and len(ds) == 4
    sample = ds[1]
    assert sample['img'].shape == (3, 4, 4) and sample['img'].dtype == torch.uint8
    assert sample['gt_label'].item() == 1 and sample['img_metas']['ori_filename'] == 'dog/a.jpg'
    assert int(sample['img'][0, 0, 0]) in range(5, 16)  # the JPEG of value 10
    assert isinstance(ds.data_infos[0]['gt_label'], np.int64)


def test_getitem_does_not_change_infos(folder):
    ds = CustomDataset(str(folder), pipeline=LOAD)
    before = repr(ds.data_infos[0])
    ds[0]
    assert repr(ds.data_infos[0]) == before


def test_folder_with_given_classes(folder):
    ds = CustomDataset(str(folder), classes=['dog', 'cat', 'bird'])
    assert ds.get_gt_labels().tolist() == [1, 0, 0, 0]


def test_folder_with_display_names(folder):
    # no folder is named after a class, same count: sorted folders map to classes in order (mmcls)
    ds = CustomDataset(str(folder), classes=['Felis catus', 'Canis familiaris'])
    assert ds.get_gt_labels().tolist() == [0, 1, 1, 1]


def test_folder_not_in_classes(folder):
    with pytest.raises(DataError, match="'dog'.*not one of"):
        CustomDataset(str(folder), classes=['cat', 'bird'])


def test_classes_from_file(folder, tmp_path):
    names = tmp_path / 'classes.txt'
    names.write_text('cat\n\ndog\n')
    assert CustomDataset(str(folder), classes=str(names)).CLASSES == ['cat', 'dog']
    with pytest.raises(DataError, match='missing.txt'):
        CustomDataset(str(folder), classes=str(tmp_path / 'missing.txt'))
    with pytest.raises(ConfigError, match='duplicated'):
        CustomDataset(str(folder), classes=['cat', 'cat'])


def test_extensions_filter(folder):
    with pytest.warns(UserWarning, match=r"without images.*\['cat'\]"):
        ds = CustomDataset(str(folder), extensions=('.png',))
    assert [i['img_info']['filename'] for i in ds.data_infos] == ['dog/b.png', 'dog/sub/c.PNG']


def test_empty_folder_dataset(tmp_path):
    (tmp_path / 'a').mkdir()
    with pytest.raises(DataError, match='no images'):
        CustomDataset(str(tmp_path))
    with pytest.raises(DataError, match='no class sub-folders'):
        CustomDataset(str(tmp_path / 'a'))
    with pytest.raises(DataError, match='not a folder'):
        CustomDataset(str(tmp_path / 'nowhere'))


# -- annotation file ---------------------------------------------------------------------------

def test_ann_file(folder, tmp_path):
    ann = tmp_path / 'train.txt'
    ann.write_text('dog/a.jpg 1\n\n   \ncat/x.bmp 0\ndog/with space.png 1\n')
    _img(folder / 'dog' / 'with space.png')
    ds = CustomDataset(str(folder), ann_file=str(ann), classes=['cat', 'dog'], pipeline=LOAD)
    assert [i['img_info']['filename'] for i in ds.data_infos] == ['dog/a.jpg', 'cat/x.bmp', 'dog/with space.png']
    assert ds.get_gt_labels().tolist() == [1, 0, 1]
    assert ds[2]['img'].shape == (3, 4, 4)


def test_ann_file_without_classes_names_them_by_index(folder, tmp_path):
    ann = tmp_path / 'a.txt'
    ann.write_text('dog/a.jpg 2\ncat/x.bmp 0\n')
    assert CustomDataset(str(folder), ann_file=str(ann)).CLASSES == ['0', '1', '2']


@pytest.mark.parametrize('text, match', [
    ('dog/a.jpg 1\ncat/x.bmp 0\njust_a_path.jpg\n', r'train.txt, line 3: expected'),
    ('dog/a.jpg one\n', r'line 1: the label .one. is not an integer'),
    ('dog/a.jpg 1\n\ncat/x.bmp 5\n', r'line 3: label 5 of .cat/x.bmp. is outside 0..1'),
    ('dog/a.jpg -1\n', r'line 1: label -1'),
    ('\n\n', r'empty.*train.txt'),
])
def test_ann_file_errors(folder, tmp_path, text, match):
    ann = tmp_path / 'train.txt'
    ann.write_text(text)
    with pytest.raises(DataError, match=match):
        CustomDataset(str(folder), ann_file=str(ann), classes=['cat', 'dog'])


def test_missing_ann_file(tmp_path):
    with pytest.raises(DataError, match='nope.txt'):
        CustomDataset(str(tmp_path), ann_file=str(tmp_path / 'nope.txt'))


def test_missing_image_reported_at_load(tmp_path):
    ann = tmp_path / 'a.txt'
    ann.write_text('ghost.png 0\n')
    ds = CustomDataset(str(tmp_path), ann_file=str(ann), classes=['a'], pipeline=LOAD)  # cheap: no checks
    with pytest.raises(DataError, match='ghost.png'):
        ds[0]


# -- Digits ------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def digits():
    return {s: Digits(split=s) for s in ('train', 'val', 'all')}


def test_digits_sizes_and_classes(digits):
    assert (len(digits['train']), len(digits['val']), len(digits['all'])) == (1437, 360, 1797)
    assert digits['train'].CLASSES == tuple('0123456789')
    assert len(Digits(split='test')) == 360


def test_digits_split_is_stratified_and_disjoint(digits):
    per_class_all = np.bincount(digits['all'].get_gt_labels(), minlength=10)
    per_class_val = np.bincount(digits['val'].get_gt_labels(), minlength=10)
    assert np.all(np.abs(per_class_val - 0.2 * per_class_all) <= 1)
    train = {bytes(t.numpy()) + bytes([int(y)]) for t, y in zip(digits['train'].images,
                                                                  digits['train'].get_gt_labels())}
    assert len(train) > 1400  # mostly distinct images


def test_digits_deterministic_and_seeded(digits):
    again = Digits(split='val')
    assert torch.equal(again.images, digits['val'].images)
    other = Digits(split='val', seed=1)
    assert not torch.equal(other.images, digits['val'].images)


def test_digits_pixels(digits):
    from sklearn.datasets import load_digits

    ds = digits['all']
    assert ds.images.shape == (1797, 1, 8, 8) and ds.images.dtype == torch.uint8
    assert int(ds.images.min()) == 0 and int(ds.images.max()) == 255
    raw = load_digits().images[5]
    assert ds.images[5, 0].tolist() == [[round(v * 255 / 16) for v in row] for row in raw]


def test_digits_sample_through_pipeline(digits):
    ds = Digits(split='train', pipeline=[dict(type='Resize', size=16), dict(type='ToTensor', keys=['gt_label']),
                                         dict(type='Collect', keys=['img', 'gt_label'])])
    s = ds[12]
    assert s['img'].shape == (1, 16, 16) and s['img'].dtype == torch.uint8
    assert s['img_metas']['filename'] == 'digits/train/00012' and s['img_metas']['img_shape'] == (16, 16, 1)
    assert s['gt_label'].dtype == torch.int64


def test_digits_bad_args():
    with pytest.raises(ConfigError, match='split'):
        Digits(split='training')
    with pytest.raises(ConfigError, match='val_fraction'):
        Digits(val_fraction=1.5)
    with pytest.raises(ConfigError, match='10 classes'):
        Digits(classes=['a', 'b'])


# -- evaluate ----------------------------------------------------------------------------------

def _toy(tmp_path, labels):
    ann = tmp_path / 'ann.txt'
    ann.write_text(''.join(f'img{i}.png {y}\n' for i, y in enumerate(labels)))
    return CustomDataset(str(tmp_path), ann_file=str(ann), classes=[str(i) for i in range(6)])


def test_evaluate_accuracy_by_hand(tmp_path):
    ds = _toy(tmp_path, [0, 1, 2, 3])
    scores = np.array([[.9, .1, 0, 0, 0, 0],     # top-1 right
                       [.5, .3, .2, 0, 0, 0],    # right at rank 2
                       [.6, .2, .1, .05, .03, .02],  # label 2 at rank 3
                       [.4, .3, .1, .08, .07, .05]])  # label 3 at rank 4
    out = ds.evaluate(list(scores))
    assert out == pytest.approx({'accuracy_top-1': 25.0, 'accuracy_top-5': 100.0})
    assert ds.evaluate(scores, metric_options={'topk': (1, 2, 3)}) == pytest.approx(
        {'accuracy_top-1': 25.0, 'accuracy_top-2': 50.0, 'accuracy_top-3': 75.0})
    assert ds.evaluate(torch.tensor(scores), metric_options={'topk': 1}) == pytest.approx({'accuracy': 25.0})
    assert ds.evaluate(scores[[0, 1]], indices=[0, 1], metric='accuracy') == pytest.approx(
        {'accuracy_top-1': 50.0, 'accuracy_top-5': 100.0})


def test_evaluate_topk_clamped_and_errors(tmp_path):
    ds = _toy(tmp_path, [0, 1])
    scores = np.array([[0.1, 0.9, 0.0], [0.2, 0.3, 0.5]])  # 3 classes only: top-5 is left out
    assert ds.evaluate(scores) == pytest.approx({'accuracy_top-1': 0.0})
    with pytest.raises(ConfigError, match='mAP'):
        ds.evaluate(scores, metric='mAP')
    with pytest.raises(DataError, match='1 results for 2 images'):
        ds.evaluate(scores[:1])


# -- wrappers and build_dataset ----------------------------------------------------------------

def test_build_dataset_and_wrappers(folder):
    cfg = dict(type='RepeatDataset', times=3, dataset=dict(type='CustomDataset', data_prefix=str(folder)))
    rep = build_dataset(cfg)
    assert isinstance(rep, RepeatDataset) and len(rep) == 12 and rep.CLASSES == ['cat', 'dog']
    assert rep.get_cat_ids(5) == [1]
    both = build_dataset([dict(type='CustomDataset', data_prefix=str(folder)), dict(type='Digits', split='val')])
    assert isinstance(both, ConcatDataset) and len(both) == 4 + 360
    assert both.get_cat_ids(4) == [int(Digits(split='val').get_gt_labels()[0])]
    results = np.eye(10)[both.get_gt_labels()]
    out = both.evaluate(results, metric_options={'topk': (1,)})
    assert out == pytest.approx({'0_accuracy_top-1': 100.0, '1_accuracy_top-1': 100.0})


def test_build_errors_name_the_key(folder):
    with pytest.raises(Exception, match='data_prefx'):
        build_dataset(dict(type='CustomDataset', data_prefx=str(folder)))
    with pytest.raises(Exception, match='Resize'):
        build_dataset(dict(type='Digits', pipeline=[dict(type='Resize', size=-3)]))
