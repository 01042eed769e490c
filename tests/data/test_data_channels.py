"""A model built for 1-channel images fed 3-channel ones (or the reverse) is reported before the first batch,
naming the keys to change."""

import pytest

import imgcls.models  # noqa: F401  (registers the backbones, whose in_channels defaults are read)
from imgcls.data import move_normalize_to_model
from imgcls.errors import ConfigError

NORM3 = dict(type='Normalize', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
NORM1 = dict(type='Normalize', mean=[77.8], std=[96.5])


def _cfg(backbone, load=None, dataset='CustomDataset', norm=NORM3):
    pipeline = ([load] if load else []) + [norm]
    return dict(model=dict(type='ImageClassifier', backbone=backbone),
                data=dict(train=dict(type=dataset, pipeline=pipeline), test=dict(type=dataset, pipeline=pipeline)))


def test_colour_files_into_a_one_channel_model():
    cfg = _cfg(dict(type='ResNet', depth=18, in_channels=1), dict(type='LoadImageFromFile'))
    with pytest.raises(ConfigError, match=r"data.train.pipeline.0.color_type='color' gives 3-channel images but the "
                                          r'model takes 1 \(model.backbone.in_channels=1\): set '
                                          r"model.backbone.in_channels=3, or change the loading step's color_type"):
        move_normalize_to_model(cfg)


def test_grayscale_dataset_into_the_default_three_channel_model():
    # ResNet's in_channels defaults to 3; MNIST images have 1 channel and one mean value does not repeat them
    cfg = _cfg(dict(type='ResNet', depth=18), dataset='MNIST', norm=NORM1)
    with pytest.raises(ConfigError, match=r'data.train \(MNIST images\) gives 1-channel images but the model takes 3 '
                                          r'.*set model.backbone.in_channels=1'):
        move_normalize_to_model(cfg)


@pytest.mark.parametrize('backbone, load, dataset, norm', [
    (dict(type='ResNet', depth=18, in_channels=1), dict(type='LoadImageFromFile', color_type='grayscale'),
     'CustomDataset', NORM1),
    (dict(type='ResNet', depth=18), dict(type='LoadImageFromFile'), 'CustomDataset', NORM3),
    # 1-channel images with 3 mean values: the preprocessor repeats the gray channel, as before
    (dict(type='ResNet', depth=18), None, 'MNIST', NORM3),
    (dict(type='ResNet', depth=18), dict(type='LoadImageFromFile', color_type='unchanged'), 'CustomDataset', NORM3),
])
def test_matching_or_undecidable_channels_pass(backbone, load, dataset, norm):
    _, pre = move_normalize_to_model(_cfg(backbone, load, dataset, norm))
    assert pre['mean'] == norm['mean']


@pytest.mark.parametrize('backbone', ['ResNet_CIFAR', 'ResNetV1d', 'SEResNet'])
def test_an_in_channels_default_inherited_through_kwargs_is_checked(backbone):
    # these classes take in_channels through **kwargs from ResNet (default 3): the Digits images have 1
    cfg = _cfg(dict(type=backbone, depth=50), dataset='Digits', norm=NORM1)
    with pytest.raises(ConfigError, match=rf'data.train \(Digits images\) gives 1-channel images but the model takes '
                                          rf'3 \(model.backbone.in_channels=3, the default of {backbone}\): set '
                                          r'model.backbone.in_channels=1, or use a dataset whose images have 3'):
        move_normalize_to_model(cfg)
