"""Geometric transforms, Normalize, formatting steps and Compose."""

import numpy as np
import pytest
import torch

from imgcls.data import Compose
from imgcls.data.pipelines import (
    CenterCrop,
    Collect,
    ImageToTensor,
    Normalize,
    RandomCrop,
    RandomFlip,
    RandomResizedCrop,
    Resize,
    ToTensor,
)
from imgcls.errors import ConfigError, DataError


def _results(h=20, w=30, c=3):
    img = torch.arange(c * h * w, dtype=torch.int64).remainder(251).to(torch.uint8).reshape(c, h, w)
    return {'img': img, 'img_shape': (h, w, c), 'ori_shape': (h, w, c), 'filename': 'x.png'}


# -- Resize ------------------------------------------------------------------------------------

@pytest.mark.parametrize('size, side, expected', [
    (16, 'short', (16, 16)),  # an int is an exact square, as mmcls
    ((12, 8), 'short', (12, 8)),
    ((10, -1), 'short', (10, 15)),
    ((10, -1), 'long', (6, 10)),  # int(10 * 20 / 30) = 6
    ((10, -1), 'height', (10, 15)),
    ((10, -1), 'width', (6, 10)),
    ((40, -1), 'short', (40, 60)),  # upscaling
])
def test_resize_sizes(size, side, expected):
    r = Resize(size, adaptive_side=side)(_results(20, 30))
    assert tuple(r['img'].shape) == (3, *expected) and r['img'].dtype == torch.uint8
    assert r['img_shape'] == (*expected, 3) and r['ori_shape'][:2] != expected


def test_resize_keeps_image_already_at_size():
    res = _results(10, 30)
    img = res['img']
    assert Resize((10, -1))(res)['img'] is img


@pytest.mark.parametrize('interp', ['nearest', 'bilinear', 'bicubic', 'area', 'lanczos'])
def test_resize_interpolations(interp):
    r = Resize((8, 12), interpolation=interp)(_results())
    assert r['img'].shape == (3, 8, 12) and r['img'].dtype == torch.uint8


def test_resize_constant_image_stays_constant():
    res = {'img': torch.full((3, 40, 40), 77, dtype=torch.uint8)}
    assert torch.all(Resize((13, 7))(res)['img'] == 77)


@pytest.mark.parametrize('kwargs', [dict(size=0), dict(size=(10, 0)), dict(size=(1, 2, 3)),
                                    dict(size=8, interpolation='cubic'), dict(size=8, adaptive_side='x'),
                                    dict(size=8, backend='opencv')])
def test_resize_bad_args(kwargs):
    with pytest.raises(ConfigError):
        Resize(**kwargs)


def test_numpy_hwc_input_is_accepted():
    arr = np.zeros((20, 30, 3), dtype=np.uint8)
    r = Resize((10, 15))({'img': arr})
    assert r['img'].shape == (3, 10, 15) and isinstance(r['img'], torch.Tensor)


# -- crops -------------------------------------------------------------------------------------

def test_center_crop_content():
    res = _results(20, 30)
    full = res['img']
    r = CenterCrop((10, 12))(res)
    top, left = round((20 - 10) / 2), round((30 - 12) / 2)
    assert torch.equal(r['img'], full[:, top:top + 10, left:left + 12])
    assert r['img_shape'] == (10, 12, 3)


def test_center_crop_larger_than_image_clamps_as_mmcls():
    img = torch.arange(12, dtype=torch.uint8).view(1, 3, 4)
    r = CenterCrop(8)({'img': img})
    assert torch.equal(r['img'], img)  # no padding: each side keeps the whole image
    r = CenterCrop((2, 8))({'img': img})  # y1 = round(0.5) = 0 (Python rounds half to even)
    assert r['img'].tolist() == [[[0, 1, 2, 3], [4, 5, 6, 7]]] and r['img_shape'] == (2, 4, 1)


def test_center_crop_efficientnet_style():
    r = CenterCrop(16, efficientnet_style=True, crop_padding=16)(_results(40, 60))
    assert r['img'].shape == (3, 16, 16)
    with pytest.raises(ConfigError):
        CenterCrop((16, 16), efficientnet_style=True)


def test_random_crop_padding_and_seed():
    step = RandomCrop(20, padding=4)
    torch.manual_seed(0)
    a = step(_results(20, 20))['img']
    torch.manual_seed(0)
    b = step(_results(20, 20))['img']
    assert a.shape == (3, 20, 20) and torch.equal(a, b)
    outs = {step(_results(20, 20))['img'].sum().item() for _ in range(20)}
    assert len(outs) > 1  # the window moves


def test_random_crop_pad_val_and_modes():
    r = RandomCrop(6, padding=(3, 3), pad_val=(9, 8, 7))({'img': torch.zeros(3, 1, 1, dtype=torch.uint8)})
    assert r['img'].shape == (3, 6, 6)
    for mode in ('edge', 'reflect', 'symmetric'):
        assert RandomCrop(8, padding=2, padding_mode=mode)(_results(8, 8))['img'].shape == (3, 8, 8)


def test_random_crop_pad_if_needed_and_too_small():
    assert RandomCrop((10, 12), pad_if_needed=True)(_results(4, 5))['img'].shape == (3, 10, 12)
    with pytest.raises(DataError, match='pad_if_needed'):
        RandomCrop(10)(_results(4, 5))
    with pytest.raises(ConfigError, match='padding'):
        RandomCrop(4, padding=(1, 2, 3))


def test_random_resized_crop_shape_and_seed():
    step = RandomResizedCrop(8)
    torch.manual_seed(3)
    a = step(_results(40, 50))
    torch.manual_seed(3)
    b = step(_results(40, 50))
    assert a['img'].shape == (3, 8, 8) and a['img'].dtype == torch.uint8 and a['img_shape'] == (8, 8, 3)
    assert torch.equal(a['img'], b['img'])


def test_random_resized_crop_params_within_bounds():
    step = RandomResizedCrop(8, scale=(0.5, 1.0))
    torch.manual_seed(0)
    for _ in range(50):
        top, left, h, w = step.get_params(30, 40)
        assert 0 <= top and top + h <= 30 and 0 <= left and left + w <= 40
        assert h * w >= 0.5 * 30 * 40 * 0.95


def test_random_resized_crop_fallback_is_centre_crop():
    step = RandomResizedCrop(8, max_attempts=0)  # straight to the fallback
    assert step.get_params(10, 40) == (0, (40 - 13) // 2, 10, 13)  # width limited by ratio 4/3
    assert step.get_params(30, 30) == (0, 0, 30, 30)


def test_random_resized_crop_bad_args():
    with pytest.raises(ConfigError, match='scale'):
        RandomResizedCrop(8, scale=(1.0, 0.5))
    with pytest.raises(ConfigError, match='efficientnet_style'):
        RandomResizedCrop((8, 8), efficientnet_style=True)


def test_random_resized_crop_efficientnet_style():
    torch.manual_seed(0)
    step = RandomResizedCrop(8, efficientnet_style=True, crop_padding=8)
    for _ in range(20):
        top, left, ch, cw = step.get_params(40, 60)
        assert 0 <= top and top + ch <= 40 and 0 <= left and left + cw <= 60
        assert ch * cw >= 0.08 * 40 * 60 and 3 / 4 - 0.1 <= cw / ch <= 4 / 3 + 0.1
    # no crop can satisfy the ranges: the padded centre crop, 8 / (8 + 8) of the short side
    step = RandomResizedCrop(8, efficientnet_style=True, crop_padding=8, scale=(0.99, 1.0), ratio=(3.0, 3.0))
    assert step.get_params(40, 40) == (10, 10, 20, 20)
    assert RandomResizedCrop(8, efficientnet_style=True)(_results(40, 60))['img'].shape[-2:] == (8, 8)


# -- flip --------------------------------------------------------------------------------------

def test_random_flip_always_and_never():
    res = _results()
    img = res['img']
    r = RandomFlip(flip_prob=1.0)(dict(res))
    assert torch.equal(r['img'], img.flip(-1)) and r['flip'] is True and r['flip_direction'] == 'horizontal'
    r = RandomFlip(flip_prob=1.0, direction='vertical')(dict(res))
    assert torch.equal(r['img'], img.flip(-2))
    r = RandomFlip(flip_prob=0.0)(dict(res))
    assert r['img'] is img and r['flip'] is False


def test_random_flip_rate_and_seed():
    step = RandomFlip(0.5)
    torch.manual_seed(1)
    flips = [step(_results(2, 2))['flip'] for _ in range(400)]
    torch.manual_seed(1)
    assert flips == [step(_results(2, 2))['flip'] for _ in range(400)]
    assert 150 < sum(flips) < 250
    with pytest.raises(ConfigError):
        RandomFlip(1.5)
    with pytest.raises(ConfigError):
        RandomFlip(direction='diagonal')


# -- Normalize ---------------------------------------------------------------------------------

def test_normalize_values_rgb_source():
    img = torch.tensor([10, 20, 30], dtype=torch.uint8).view(3, 1, 1).expand(3, 2, 2)
    r = Normalize(mean=[1, 2, 3], std=[1, 2, 3], to_rgb=False)({'img': img})  # CIFAR-style: stays RGB
    assert r['img'].dtype == torch.float32
    assert r['img'][:, 0, 0].tolist() == [9.0, 9.0, 9.0]
    assert r['img_norm_cfg']['to_rgb'] is False and r['img_norm_cfg']['mean'].tolist() == [1, 2, 3]


def test_normalize_to_rgb_follows_mmcls_meaning():
    img = torch.tensor([10, 20, 30], dtype=torch.uint8).view(3, 1, 1)
    loaded = {'img': img, 'mmcls_channel_order': 'bgr'}  # as LoadImageFromFile leaves it
    assert Normalize([0] * 3, [1] * 3, to_rgb=True)(dict(loaded))['img'].flatten().tolist() == [10, 20, 30]
    assert Normalize([0] * 3, [1] * 3, to_rgb=False)(dict(loaded))['img'].flatten().tolist() == [30, 20, 10]
    assert Normalize([0] * 3, [1] * 3, to_rgb=True)({'img': img})['img'].flatten().tolist() == [30, 20, 10]


def test_normalize_single_channel_and_errors():
    r = Normalize(mean=[33.46], std=[78.87])({'img': torch.zeros(1, 2, 2, dtype=torch.uint8)})
    assert torch.allclose(r['img'], torch.full((1, 2, 2), -33.46 / 78.87))
    with pytest.raises(DataError, match='channels'):
        Normalize([1, 2], [1, 2])({'img': torch.zeros(3, 2, 2, dtype=torch.uint8)})
    with pytest.raises(ConfigError):
        Normalize([1, 2, 3], [1, 2])
    with pytest.raises(ConfigError):
        Normalize([1], [0])


# -- formatting --------------------------------------------------------------------------------

def test_image_to_tensor_from_numpy_and_tensor():
    arr = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    r = ImageToTensor(['img'])({'img': arr})
    assert r['img'].shape == (3, 2, 4) and r['img'][1, 0, 1].item() == arr[0, 1, 1]
    assert ImageToTensor(['img'])({'img': np.zeros((2, 4), np.uint8)})['img'].shape == (1, 2, 4)
    t = torch.zeros(3, 2, 2, dtype=torch.uint8)
    assert ImageToTensor(['img'])({'img': t})['img'] is t
    with pytest.raises(DataError, match="'img'"):
        ImageToTensor(['img'])({'label': 1})


def test_to_tensor():
    r = ToTensor(['gt_label', 'v', 'n'])({'gt_label': np.int64(3), 'v': [1.0, 2.0], 'n': 5})
    assert r['gt_label'].dtype == torch.int64 and r['gt_label'].shape == () and r['gt_label'].item() == 3
    assert r['v'].tolist() == [1.0, 2.0] and r['n'].item() == 5
    with pytest.raises(DataError, match='ToTensor'):
        ToTensor(['x'])({'x': object()})


def test_collect():
    res = _results()
    res.update(gt_label=torch.tensor(1), flip=True, extra='dropped')
    out = Collect(['img', 'gt_label'])(res)
    assert set(out) == {'img', 'gt_label', 'img_metas'}
    assert out['img_metas'] == {'filename': 'x.png', 'img_shape': (20, 30, 3), 'ori_shape': (20, 30, 3),
                                'flip': True}
    with pytest.raises(DataError, match='gt_label'):
        Collect(['img', 'gt_label'])({'img': res['img']})


# -- Compose -----------------------------------------------------------------------------------

def test_compose_dicts_and_callables():
    def tag(results):
        results['tagged'] = True
        return results

    pipe = Compose([dict(type='Resize', size=(8, 8)), tag, dict(type='mmcls.RandomFlip', flip_prob=0.0)])
    out = pipe(_results())
    assert out['img'].shape == (3, 8, 8) and out['tagged'] and out['flip'] is False
    text = repr(pipe)
    assert 'Resize' in text and 'RandomFlip' in text and len(pipe) == 3


def test_compose_refuses_none_and_bad_steps():
    with pytest.raises(DataError, match='returned None'):
        Compose([lambda r: None])(_results())
    with pytest.raises(ConfigError, match='step 1'):
        Compose([dict(type='Resize', size=8), 42])
    with pytest.raises(ConfigError, match='list'):
        Compose(dict(type='Resize', size=8))


def test_unknown_step_is_explained():
    with pytest.raises(Exception, match='RandomFlip'):
        Compose([dict(type='RandomFlp')])
