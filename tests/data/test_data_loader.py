"""collate, build_dataloader (workers, seeding) and move_normalize_to_model."""

import copy

import numpy as np
import pytest
import torch

from imgcls import Config
from imgcls.data import Digits, build_dataloader, collate, move_normalize_to_model
from imgcls.errors import ConfigError, DataError

PIPE = [dict(type='RandomResizedCrop', size=8, scale=(0.5, 1.0)), dict(type='RandomFlip', flip_prob=0.5),
        dict(type='ImageToTensor', keys=['img']), dict(type='ToTensor', keys=['gt_label']),
        dict(type='Collect', keys=['img', 'gt_label'])]


def _sample(h=4, w=4, label=1, name='a.png'):
    return {'img': torch.zeros(3, h, w, dtype=torch.uint8), 'gt_label': torch.tensor(label),
            'img_metas': {'filename': name, 'img_shape': (h, w, 3)}}


# -- collate -----------------------------------------------------------------------------------

def test_collate_shapes_and_types():
    batch = collate([_sample(label=1), _sample(label=3, name='b.png')])
    assert batch['img'].shape == (2, 3, 4, 4) and batch['img'].dtype == torch.uint8
    assert batch['gt_label'].tolist() == [1, 3] and batch['gt_label'].dtype == torch.int64
    assert [m['filename'] for m in batch['img_metas']] == ['a.png', 'b.png']


def test_collate_numpy_labels_vectors_and_other_values():
    samples = [{'img': np.zeros((4, 4, 3), np.uint8), 'gt_label': np.int64(2), 'score': torch.ones(2), 'id': 'x'},
               {'img': np.zeros((4, 4, 3), np.uint8), 'gt_label': np.int64(0), 'score': torch.ones(2), 'id': 'y'}]
    batch = collate(samples)
    assert batch['img'].shape == (2, 3, 4, 4) and batch['gt_label'].tolist() == [2, 0]
    assert batch['score'].shape == (2, 2) and batch['id'] == ['x', 'y']
    multi = collate([{'gt_label': np.array([0, 1, 1])}, {'gt_label': np.array([1, 0, 0])}])
    assert multi['gt_label'].dtype == torch.float32 and multi['gt_label'].shape == (2, 3)


def test_collate_size_mismatch_explains():
    with pytest.raises(DataError) as info:
        collate([_sample(4, 4), _sample(5, 4, name='big.png')])
    text = str(info.value)
    assert '(3, 4, 4)' in text and '(3, 5, 4)' in text and 'big.png' in text and 'Resize' in text


def test_collate_key_mismatch_and_empty():
    with pytest.raises(DataError, match='different keys'):
        collate([_sample(), {'img': torch.zeros(3, 4, 4, dtype=torch.uint8)}])
    with pytest.raises(DataError, match='empty'):
        collate([])


# -- build_dataloader --------------------------------------------------------------------------

@pytest.fixture(scope='module')
def digits():
    return Digits(split='val', pipeline=PIPE)


def test_loader_with_workers_yields_uint8(digits):
    loader = build_dataloader(digits, samples_per_gpu=32, workers_per_gpu=2, seed=0)
    assert loader.num_workers == 2 and loader.persistent_workers
    seen = 0
    for batch in loader:
        assert batch['img'].dtype == torch.uint8 and batch['img'].shape[1:] == (1, 8, 8)
        assert batch['gt_label'].dtype == torch.int64 and len(batch['img_metas']) == len(batch['img'])
        seen += len(batch['img'])
    assert seen == 360


def _epoch(loader):
    return [(b['img'].clone(), b['gt_label'].clone()) for b in loader]


def test_loader_seed_makes_order_and_augmentation_repeatable(digits):
    a = _epoch(build_dataloader(digits, 64, 2, seed=7, persistent_workers=False))
    b = _epoch(build_dataloader(digits, 64, 2, seed=7, persistent_workers=False))
    c = _epoch(build_dataloader(digits, 64, 2, seed=8, persistent_workers=False))
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b))
    assert not all(torch.equal(x[1], y[1]) for x, y in zip(a, c))


def test_loader_epochs_differ(digits):
    loader = build_dataloader(digits, 360, 0, seed=3)
    first, second = _epoch(loader), _epoch(loader)
    assert not torch.equal(first[0][1], second[0][1])  # reshuffled


def test_loader_unshuffled_keeps_order(digits):
    loader = build_dataloader(digits, 100, 0, shuffle=False, drop_last=True)
    labels = torch.cat([b['gt_label'] for b in loader])
    assert len(labels) == 300 and labels.tolist() == digits.get_gt_labels()[:300].tolist()
    assert not loader.persistent_workers and loader.batch_size == 100


def test_loader_dist_flag_uses_per_process_batches(digits):
    loader = build_dataloader(digits, 10, 0, dist=True, seed=1)
    assert type(loader.sampler).__name__ == 'SeededSampler' and hasattr(loader.sampler, 'set_epoch')
    assert loader.batch_size == 10
    assert build_dataloader(digits, 10, 0, num_gpus=2).batch_size == 20


def test_loader_bad_args(digits):
    with pytest.raises(ConfigError, match='samples_per_gpu'):
        build_dataloader(digits, 0, 0)
    with pytest.raises(ConfigError, match='workers_per_gpu'):
        build_dataloader(digits, 2, -1)


# -- move_normalize_to_model -------------------------------------------------------------------

NORM = dict(type='Normalize', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)


def _imagenet_cfg():
    train = [dict(type='LoadImageFromFile'), dict(type='RandomResizedCrop', size=224), dict(NORM),
             dict(type='ImageToTensor', keys=['img']), dict(type='Collect', keys=['img', 'gt_label'])]
    test = [dict(type='LoadImageFromFile'), dict(type='Resize', size=(256, -1)), dict(NORM),
            dict(type='Collect', keys=['img'])]
    return dict(train_pipeline=copy.deepcopy(train), test_pipeline=copy.deepcopy(test),
                data=dict(samples_per_gpu=2,
                          train=dict(type='RepeatDataset', times=2,
                                     dataset=dict(type='CustomDataset', data_prefix='x', pipeline=train)),
                          val=dict(type='CustomDataset', data_prefix='y', pipeline=test),
                          test=dict(type='CustomDataset', data_prefix='y', pipeline=copy.deepcopy(test))))


def test_move_normalize_imagenet_style():
    cfg = _imagenet_cfg()
    before = copy.deepcopy(cfg)
    new, pre = move_normalize_to_model(cfg)
    assert cfg == before  # input untouched
    assert pre == dict(mean=NORM['mean'], std=NORM['std'], to_rgb=True)
    for pipe in (new['train_pipeline'], new['test_pipeline'], new['data']['train']['dataset']['pipeline'],
                 new['data']['val']['pipeline'], new['data']['test']['pipeline']):
        assert all(step['type'] != 'Normalize' for step in pipe)
    assert [s['type'] for s in new['data']['val']['pipeline']] == ['LoadImageFromFile', 'Resize', 'Collect']


def test_move_normalize_cifar_style_means_rgb():
    norm = dict(type='Normalize', mean=[125.307, 122.961, 113.8575], std=[51.5865, 50.847, 51.255], to_rgb=False)
    cfg = dict(data=dict(train=dict(type='CIFAR10', pipeline=[dict(type='RandomCrop', size=32), norm]),
                         val=dict(type='CIFAR10', pipeline=[norm])))
    _, pre = move_normalize_to_model(cfg)
    assert pre['to_rgb'] is True  # mmcls kept CIFAR's RGB; imgcls images are RGB already
    caffe = dict(NORM, to_rgb=False)
    _, pre = move_normalize_to_model(dict(data=dict(train=dict(pipeline=[dict(type='LoadImageFromFile'), caffe]))))
    assert pre['to_rgb'] is False  # the model wanted BGR


def test_move_normalize_per_split():
    """A test pipeline normalizing differently from training gets its own normalization, not an error."""
    cfg = _imagenet_cfg()
    cfg['data']['val']['pipeline'][2] = cfg['data']['test']['pipeline'][2] = dict(NORM, mean=[0, 0, 0])
    _, pre = move_normalize_to_model(cfg)
    assert pre == dict(mean=NORM['mean'], std=NORM['std'], to_rgb=True,
                       eval_norm=dict(mean=[0.0, 0.0, 0.0], std=NORM['std'], to_rgb=True))
    cfg = _imagenet_cfg()  # a split without Normalize fed its model raw values, BGR as mmcv loaded them
    cfg['data']['val']['pipeline'] = cfg['data']['test']['pipeline'] = [dict(type='LoadImageFromFile')]
    _, pre = move_normalize_to_model(cfg)
    assert pre['eval_norm'] == dict(mean=None, std=None, to_rgb=False)


def test_move_normalize_equal_in_effect_gives_one_preprocessor():
    """RegNet: Lighting(to_rgb=True) reverses mmcls's BGR, Normalize(to_rgb=True) reverses it back; the test
    pipeline's Normalize(to_rgb=False) leaves BGR: both splits feed BGR, so one normalization."""
    bgr = dict(type='Normalize', mean=[103.53, 116.28, 123.675], std=[57.375, 57.12, 58.395])
    light = dict(type='Lighting', eigval=[0.2175, 0.0188, 0.0045], eigvec=[[1, 0, 0], [0, 1, 0], [0, 0, 1]],
                 alphastd=25.5, to_rgb=True)
    train = [dict(type='LoadImageFromFile'), light, dict(bgr, to_rgb=True)]
    test = [dict(type='LoadImageFromFile'), dict(bgr, to_rgb=False)]
    cfg = dict(data=dict(train=dict(type='ImageNet', pipeline=train), val=dict(type='ImageNet', pipeline=test),
                         test=dict(type='ImageNet', pipeline=test)))
    _, pre = move_normalize_to_model(cfg)
    assert pre == dict(mean=bgr['mean'], std=bgr['std'], to_rgb=False)


def test_move_normalize_differs_within_a_split():
    norm = dict(NORM, mean=[0, 0, 0])
    cfg = dict(data=dict(train=[dict(type='CustomDataset', pipeline=[NORM]),
                                dict(type='CustomDataset', pipeline=[norm])]))
    with pytest.raises(ConfigError, match=r'data.train normalize differently: data.train.0.pipeline.0 gives .* but '
                                          r'data.train.1.pipeline.0'):
        move_normalize_to_model(cfg)


def test_move_normalize_val_differing_from_test_warns():
    cfg = _imagenet_cfg()
    cfg['data']['val']['pipeline'][2] = dict(NORM, mean=[0, 0, 0])
    with pytest.warns(UserWarning, match=r'data.val.pipeline.2 normalizes differently from data.test.pipeline.2'):
        _, pre = move_normalize_to_model(cfg)
    assert 'eval_norm' not in pre  # test equals train


def test_preprocessor_eval_norm_used_outside_training():
    from imgcls.models.data_preprocessor import build_data_preprocessor

    pre = build_data_preprocessor(dict(mean=[10.0, 20.0, 30.0], std=[2.0, 2.0, 2.0], to_rgb=True,
                                       eval_norm=dict(mean=None, std=None, to_rgb=False)))
    img = torch.tensor([50, 60, 70], dtype=torch.uint8).view(1, 3, 1, 1)
    train, _ = pre(img, training=True)
    assert train.flatten().tolist() == [20.0, 20.0, 20.0]  # (50-10)/2, (60-20)/2, (70-30)/2
    test, _ = pre(img, training=False)
    assert test.flatten().tolist() == [70.0, 60.0, 50.0]  # raw values, BGR
    assert pre(img, training=False, normalization='train')[0].flatten().tolist() == [20.0, 20.0, 20.0]
    assert pre(img, training=True, normalization='eval')[0].flatten().tolist() == [70.0, 60.0, 50.0]
    with pytest.raises(ConfigError, match='data_preprocessor.eval_norm must be a dict with keys mean, std, to_rgb'):
        build_data_preprocessor(dict(mean=[1.0], std=[1.0], eval_norm=dict(mean=[1.0], sdt=[1.0])))


def test_move_normalize_absent_and_config_object():
    cfg = dict(data=dict(train=dict(type='Digits', pipeline=[dict(type='Resize', size=16)])))
    new, pre = move_normalize_to_model(cfg)
    assert pre is None and new == cfg and new is not cfg
    config = Config(_imagenet_cfg())
    new, pre = move_normalize_to_model(config)
    assert pre['to_rgb'] is True and len(config.data.val.pipeline) == 4 and len(new.data.val.pipeline) == 3


def test_preprocessor_reproduces_pipeline_normalize(tmp_path):
    """Normalizing the uint8 batch with the moved params equals Normalize inside the pipeline."""
    from imgcls.data.pipelines import Normalize

    img = torch.randint(0, 256, (3, 4, 4), dtype=torch.uint8)
    expected = Normalize(**{k: v for k, v in NORM.items() if k != 'type'})(
        {'img': img, 'mmcls_channel_order': 'bgr'})['img']
    _, pre = move_normalize_to_model(_imagenet_cfg())
    x = img.float()
    if not pre['to_rgb']:
        x = x.flip(0)
    mean, std = torch.tensor(pre['mean']).view(3, 1, 1), torch.tensor(pre['std']).view(3, 1, 1)
    assert torch.allclose((x - mean) / std, expected)
