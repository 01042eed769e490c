"""Every pipeline step imgcls registers, run in a Compose on a small sample: the contract all steps keep.

A step registered without an entry in ARGS is built with no arguments, so a new step is tested the
moment it is registered; add an entry when it needs arguments.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import imgcls.data  # noqa: F401  (registers every step)
from imgcls.data import PIPELINES, Compose
from imgcls.data.pipelines.images import LAYOUTS
from imgcls.errors import BuildError, ConfigError

EIG = dict(eigval=[0.2175, 0.0188, 0.0045], eigvec=[[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.814],
                                                     [-0.5836, -0.6948, 0.4203]])
ARGS: dict[str, dict] = {
    'Resize': dict(size=(10, -1)), 'CenterCrop': dict(crop_size=8), 'RandomCrop': dict(size=8, padding=2),
    'RandomResizedCrop': dict(size=8), 'EfficientNetCenterCrop': dict(crop_size=8),
    'EfficientNetRandomCrop': dict(scale=8), 'Normalize': dict(mean=[1, 2, 3], std=[2, 2, 2]),
    'ImageToTensor': dict(keys=['img']), 'ToTensor': dict(keys=['gt_label']), 'Collect': dict(keys=['img', 'gt_label']),
    'Lighting': dict(EIG, alphastd=25.5), 'Pad': dict(size=(20, 24)), 'AutoAugment': dict(policies='imagenet'),
    'RandAugment': dict(policies='rand_increasing', num_policies=2, magnitude_level=9),
    'Shear': dict(magnitude=0.3, prob=1.0), 'Translate': dict(magnitude=0.3, prob=1.0),
    'Rotate': dict(angle=30, prob=1.0), 'Solarize': dict(thr=128, prob=1.0),
    'SolarizeAdd': dict(magnitude=50, prob=1.0),
    'Posterize': dict(bits=4, prob=1.0), 'Contrast': dict(magnitude=0.5, prob=1.0),
    'ColorTransform': dict(magnitude=0.5, prob=1.0), 'Brightness': dict(magnitude=0.5, prob=1.0),
    'Sharpness': dict(magnitude=0.5, prob=1.0), 'Cutout': dict(shape=4, prob=1.0),
    'AutoContrast': dict(prob=1.0), 'Invert': dict(prob=1.0), 'Equalize': dict(prob=1.0),
    'ColorJitter': dict(brightness=0.4, contrast=0.4, saturation=0.4), 'RandomGrayscale': dict(gray_prob=1.0),
    'RandomFlip': dict(flip_prob=1.0), 'RandomErasing': dict(erase_prob=1.0),
    'Transpose': dict(keys=['img'], order=(2, 0, 1)), 'ToHalf': dict(keys=['img']),
    'Albu': dict(transforms=[dict(type='HorizontalFlip', p=1.0)]),
}
NEEDS = {'Albu': 'albumentations'}
FLOAT_OUT = {'Normalize', 'ToNumpy'}  # steps whose images come out float32

NAMES = sorted(k for k in PIPELINES.keys() if getattr(PIPELINES.get(k), '__module__', '').startswith('imgcls.'))


def _sample(tmp_path) -> dict:
    pixels = np.random.default_rng(0).integers(0, 256, (16, 20, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / 'a.png')
    img = torch.from_numpy(pixels.transpose(2, 0, 1).copy())
    return {'img': img, 'gt_label': np.int64(1), 'img_prefix': str(tmp_path), 'img_info': {'filename': 'a.png'},
            'img_shape': (16, 20, 3), 'ori_shape': (16, 20, 3)}


def _build(name: str):
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    return PIPELINES.build(dict(type=name, **ARGS.get(name, {})))


def test_registry_holds_every_step_of_mmcls_0_25_configs():
    used = {'AutoAugment', 'AutoContrast', 'Brightness', 'CenterCrop', 'Collect', 'ColorJitter', 'ColorTransform',
            'Contrast', 'Cutout', 'Equalize', 'ImageToTensor', 'Invert', 'Lighting', 'LoadImageFromFile', 'Normalize',
            'Posterize', 'RandAugment', 'RandomCrop', 'RandomErasing', 'RandomFlip', 'RandomResizedCrop', 'Resize',
            'Rotate', 'Sharpness', 'Shear', 'Solarize', 'SolarizeAdd', 'ToHalf', 'ToTensor', 'Translate'}
    others = {'Albu', 'Transpose', 'ToNumpy', 'ToPIL', 'Pad', 'RandomGrayscale'}  # registered by mmcls 0.25 too
    assert (used | others) - set(NAMES) == set()


@pytest.mark.parametrize('name', NAMES)
def test_step_contract(name, tmp_path):
    step = _build(name)
    assert repr(step).startswith(name)
    assert getattr(type(step), 'img_layout', None) in LAYOUTS, f'{name} declares no img_layout'
    outputs = []
    for _ in range(2):  # the same torch seed gives the same output
        torch.manual_seed(5)
        outputs.append(Compose([dict(type=name, **ARGS.get(name, {}))])(_sample(tmp_path)))
    out = outputs[0]
    img = out['img']
    assert isinstance(img, torch.Tensor) and img.ndim == 3 and img.shape[0] == 3, name  # CHW RGB, always
    assert img.dtype == (torch.float32 if name in FLOAT_OUT else torch.uint8), name
    assert torch.equal(img, outputs[1]['img']), name


# not image transforms (or, for Albu, keyed by its keymap as in mmcls)
NOT_PER_FIELD = ('LoadImageFromFile', 'Collect', 'ToPIL', 'ToNumpy', 'Albu')


@pytest.mark.parametrize('name', [n for n in NAMES if n not in NOT_PER_FIELD])
def test_step_changes_every_image_field_alike(name, tmp_path):
    sample = _sample(tmp_path)
    sample.update(copy=sample['img'].clone(), img_fields=['img', 'copy'])
    torch.manual_seed(5)
    out = Compose([dict(type=name, **ARGS.get(name, {}))])(sample)
    assert torch.equal(out['img'], out['copy']), name


@pytest.mark.parametrize('name', NAMES)
def test_unknown_argument_names_the_step_and_the_valid_ones(name):
    if name in NEEDS:
        pytest.importorskip(NEEDS[name])
    with pytest.raises((BuildError, ConfigError, TypeError), match=name):
        PIPELINES.build(dict(type=name, **ARGS.get(name, {}), no_such_argument=1))
