"""The data side of every config shipped in configs/: its pipelines build and run on a real image file, its
normalization moves to the model, and the recipes keep the augmentations they are published with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from imgcls import Config
from imgcls.data import Compose, move_normalize_to_model

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
NAMES = sorted(str(p.relative_to(CONFIGS)) for p in CONFIGS.rglob('*.py') if '_base_' not in p.parts)


@pytest.fixture(scope='module')
def image_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp('images')
    pixels = np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / 'a.png')
    return folder


def _steps(cfg, split: str) -> list[str]:
    return [s['type'] for s in cfg.data[split].get('pipeline') or cfg.data[split].get('dataset', {}).get('pipeline')]


@pytest.mark.parametrize('name', NAMES)
def test_pipelines_run_and_normalize_on_the_model(name, image_dir):
    cfg = Config.fromfile(str(CONFIGS / name))
    stripped, preproc = move_normalize_to_model(cfg)
    assert preproc is not None and 'mean' in preproc
    for split in ('train', 'test'):
        ds = stripped.data[split]
        pipeline = Compose(ds.get('pipeline') or ds['dataset']['pipeline'])
        if 'LoadImageFromFile' not in _steps(cfg, split):
            continue  # in-memory datasets (CIFAR, digits): covered by their own tests
        torch.manual_seed(0)
        out = pipeline({'img_prefix': str(image_dir), 'img_info': {'filename': 'a.png'}, 'gt_label': np.int64(0)})
        assert out['img'].dtype == torch.uint8 and out['img'].ndim == 3, (name, split)


def _train_steps(name: str) -> list[str]:
    return _steps(Config.fromfile(str(CONFIGS / name)), 'train')


@pytest.mark.parametrize('name', [n for n in NAMES if n.startswith(('swin_transformer/', 'convnext/'))])
def test_deit_style_recipes_keep_randaugment_and_erasing(name):
    steps = _train_steps(name)
    assert steps.index('RandomFlip') < steps.index('RandAugment') < steps.index('RandomErasing')


@pytest.mark.parametrize('name', [n for n in NAMES if n.startswith('regnet/')])
def test_regnet_recipes_keep_lighting_and_precise_bn(name):
    cfg = Config.fromfile(str(CONFIGS / name))
    assert 'Lighting' in _steps(cfg, 'train')
    assert [h['type'] for h in cfg.custom_hooks] == ['PreciseBNHook']
    _, preproc = move_normalize_to_model(cfg)
    assert preproc['to_rgb'] is False and 'eval_norm' not in preproc  # BGR in training and testing alike


# the ImageNet recipes (mmcls's CIFAR-10 MobileNetV3 recipe has no AutoAugment)
@pytest.mark.parametrize('name', [n for n in NAMES if n.startswith(('mobilenet_v3/', 'vision_transformer/'))
                                  and '_ft-' not in n and 'cifar' not in n])
def test_autoaugment_recipes_keep_it(name):
    assert 'AutoAugment' in _train_steps(name)
