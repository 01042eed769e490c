"""Colour steps, RandomErasing, Pad, the AutoAugment / RandAugment operations and policies."""

import pytest
import torch

from imgcls.data import PIPELINES
from imgcls.data.pipelines import (
    AutoAugment,
    ColorJitter,
    Cutout,
    Lighting,
    Pad,
    Posterize,
    RandAugment,
    RandomErasing,
    RandomGrayscale,
    Rotate,
    Shear,
    Solarize,
    SolarizeAdd,
    Translate,
)
from imgcls.errors import ConfigError, DataError

EIGVAL = [55.4625, 4.7940, 1.1475]
EIGVEC = [[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]]


def _img(h=12, w=16, c=3, seed=0):
    return torch.randint(0, 256, (c, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def _run(step, img, **extra):
    return step({'img': img, **extra})['img']


# -- colour ------------------------------------------------------------------------------------

def test_color_jitter_ranges_and_identity():
    img = torch.full((3, 4, 4), 100, dtype=torch.uint8)
    assert torch.equal(_run(ColorJitter(0, 0, 0), img), img)
    seen = {int(_run(ColorJitter(brightness=0.5, contrast=0, saturation=0), img)[0, 0, 0]) for _ in range(40)}
    assert min(seen) >= 50 and max(seen) <= 150 and len(seen) > 5
    out = _run(ColorJitter(0.4, 0.4, 0.4, hue=0.1), _img())
    assert out.dtype == torch.uint8 and out.shape == (3, 12, 16)
    with pytest.raises(ConfigError, match='hue'):
        ColorJitter(0.1, 0.1, 0.1, hue=0.7)
    with pytest.raises(ConfigError, match='brightness'):
        ColorJitter(-1, 0, 0)
    with pytest.raises(DataError, match='3-channel'):
        _run(ColorJitter(0, 0, 0.3), _img(c=1))


def test_lighting_by_hand():
    img = torch.full((3, 2, 2), 100, dtype=torch.uint8)
    assert torch.equal(_run(Lighting(EIGVAL, EIGVEC, alphastd=0.0), img), img)
    torch.manual_seed(5)
    alpha = torch.randn(3, dtype=torch.float64) * 0.5
    alter = torch.tensor(EIGVEC, dtype=torch.float64) @ (alpha * torch.tensor(EIGVAL, dtype=torch.float64))
    torch.manual_seed(5)
    out = _run(Lighting(EIGVAL, EIGVEC, alphastd=0.5), img, mmcls_channel_order='bgr')  # from a file, to_rgb
    expected = (100 + alter).round().clamp(0, 255).to(torch.uint8)
    assert out.dtype == torch.uint8 and out[:, 0, 0].tolist() == expected.tolist()
    torch.manual_seed(5)
    out = _run(Lighting(EIGVAL, EIGVEC, alphastd=0.5), img)  # in-memory RGB and to_rgb=True: mmcls saw BGR
    assert out[:, 0, 0].tolist() == expected.flip(0).tolist()
    with pytest.raises(ConfigError, match=r'eigvec must be numbers of shape \(3, 3\)'):
        Lighting(EIGVAL, EIGVEC[:2])
    with pytest.raises(DataError, match='3-channel'):
        _run(Lighting(EIGVAL, EIGVEC), _img(c=1))


def test_random_grayscale():
    img = _img()
    gray = _run(RandomGrayscale(gray_prob=1.0), img)
    assert gray.shape == (3, 12, 16) and torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])
    luma = (0.299 * img[0].float() + 0.587 * img[1].float() + 0.114 * img[2].float())
    assert (gray[0].float() - luma).abs().max() < 1.01  # torchvision truncates
    assert torch.equal(_run(RandomGrayscale(gray_prob=0.0), img), img)
    one = _img(c=1)
    assert torch.equal(_run(RandomGrayscale(gray_prob=1.0), one), one)


# -- RandomErasing and Pad ---------------------------------------------------------------------

def test_random_erasing_const_area():
    img = torch.zeros(3, 40, 50, dtype=torch.uint8)
    step = RandomErasing(erase_prob=1.0, min_area_ratio=0.1, max_area_ratio=0.3, fill_color=(128, 64, 32))
    for _ in range(20):
        out = _run(step, img)
        erased = out[0] == 128
        assert torch.equal(erased, out[1] == 64) and torch.equal(erased, out[2] == 32)
        frac = erased.float().mean().item()
        assert 0.07 <= frac <= 0.36  # the ratio range, up to rounding of the sides
    assert torch.equal(_run(RandomErasing(erase_prob=0.0), img), img)


def test_random_erasing_rand_modes():
    img = torch.zeros(3, 40, 50, dtype=torch.uint8)
    torch.manual_seed(0)
    out = _run(RandomErasing(1.0, 0.3, 0.3, mode='rand', fill_std=(10, 10, 10), fill_color=(100, 100, 100)), img)
    patch = out[out > 0].float()
    assert 80 < patch.mean() < 120 and patch.std() > 3
    out = _run(RandomErasing(1.0, 0.3, 0.3, mode='rand'), img)  # uniform 0..255
    assert out.max() > 200
    for kwargs in (dict(mode='noise'), dict(erase_prob=2), dict(min_area_ratio=0.5, max_area_ratio=0.1),
                   dict(aspect_range=(2, 1))):
        with pytest.raises(ConfigError):
            RandomErasing(**kwargs)


def test_pad():
    img = torch.full((3, 4, 6), 9, dtype=torch.uint8)
    out = _run(Pad(size=(5, 8), pad_val=1), img)
    assert out.shape == (3, 5, 8) and torch.equal(out[:, :4, :6], img)
    assert int(out[:, 4:, :].sum()) == 3 * 8 and int(out[:, :, 6:].sum()) == 3 * 5 * 2
    assert _run(Pad(pad_to_square=True), img).shape == (3, 6, 6)
    with pytest.raises(ConfigError, match='exactly one'):
        Pad()
    with pytest.raises(DataError, match='larger than the pad size'):
        _run(Pad(size=3), img)


# -- AutoAugment operations --------------------------------------------------------------------

def _dot(h=21, w=21, y=4, x=6):
    img = torch.zeros(1, h, w, dtype=torch.uint8)
    img[0, y, x] = 255
    return img


def _where(img):
    return [tuple(p) for p in (img[0] > 127).nonzero().tolist()]


def test_shear_translate_rotate_geometry():
    always = dict(prob=1.0, random_negative_prob=0.0, pad_val=0)
    assert _where(_run(Shear(0.5, interpolation='nearest', **always), _dot(y=10, x=2))) == [(10, 7)]  # x += m*y
    assert _where(_run(Shear(0.5, direction='vertical', interpolation='nearest', **always), _dot(y=2, x=10))) == \
        [(7, 10)]
    assert _where(_run(Translate(0.25, **always), _dot(w=20, x=3))) == [(4, 8)]  # 0.25 * 20 = 5 pixels right
    assert _where(_run(Rotate(90, **always), _dot(y=2, x=10))) == [(10, 18)]  # clockwise: top → right
    assert _where(_run(Rotate(90, prob=1.0, random_negative_prob=1.0, pad_val=0), _dot(y=2, x=10))) == [(10, 2)]
    filled = _run(Translate(0.5, prob=1.0, random_negative_prob=0.0, pad_val=77), torch.zeros(3, 4, 4,
                                                                                                dtype=torch.uint8))
    assert filled[:, :, :2].eq(77).all() and filled[:, :, 2:].eq(0).all()


def test_pixel_operations():
    img = torch.tensor([[[0, 100, 128, 200, 255]]], dtype=torch.uint8)
    assert _run(Solarize(thr=128, prob=1.0), img).tolist() == [[[0, 100, 127, 55, 0]]]
    assert _run(Solarize(thr=256, prob=1.0), img).tolist() == img.tolist()  # mmcls's level-0 threshold
    assert _run(SolarizeAdd(magnitude=60, prob=1.0), img).tolist() == [[[60, 160, 128, 200, 255]]]
    assert _run(Posterize(bits=2.3, prob=1.0), img).tolist() == [[[0, 96, 128, 192, 224]]]  # ceil(2.3) = 3 bits
    assert _run(PIPELINES.build(dict(type='Invert', prob=1.0)), img).tolist() == [[[255, 155, 127, 55, 0]]]
    bright = PIPELINES.build(dict(type='Brightness', magnitude=0.3, prob=1.0, random_negative_prob=0.0))
    assert _run(bright, torch.full((3, 2, 2), 100, dtype=torch.uint8)).unique().tolist() == [130]
    assert _run(Solarize(thr=0, prob=0.0), img).tolist() == img.tolist()


def test_cutout():
    img = torch.zeros(3, 10, 10, dtype=torch.uint8)
    for _ in range(10):
        out = _run(Cutout(shape=4, pad_val=(1, 2, 3), prob=1.0), img)
        box = (out[0] == 1).nonzero()
        assert 1 <= len(box) <= 16 and out[1][out[0] == 1].eq(2).all()
        top, left = box.min(0).values.tolist()
        assert box.max(0).values.tolist() == [min(9, top + 3), min(9, left + 3)]


@pytest.mark.parametrize('name', ['AutoContrast', 'Equalize', 'Contrast', 'ColorTransform', 'Sharpness'])
def test_enhance_operations_keep_uint8(name):
    args = {} if name in ('AutoContrast', 'Equalize') else dict(magnitude=0.5)
    out = _run(PIPELINES.build(dict(type=name, prob=1.0, **args)), _img())
    assert out.dtype == torch.uint8 and out.shape == (3, 12, 16)


# -- policies ----------------------------------------------------------------------------------

MMCLS_STYLE = [
    [dict(type='Posterize', bits=4, prob=0.4), dict(type='Rotate', angle=30., prob=0.6)],
    [dict(type='Solarize', thr=256 / 9 * 4, prob=0.6), dict(type='AutoContrast', prob=0.6)],
    [dict(type='Equalize', prob=0.8), dict(type='Shear', magnitude=0.3 / 9 * 5, prob=0.6, direction='vertical')],
    [dict(type='ColorTransform', magnitude=0.1, prob=0.6), dict(type='Sharpness', magnitude=0.1 / 9 * 7, prob=0.8)],
    [dict(type='Translate', magnitude=0.1, prob=0.5), dict(type='Cutout', shape=4, prob=0.5)],
]


def test_auto_augment_mmcls_policies():
    step = AutoAugment(MMCLS_STYLE, hparams=dict(pad_val=7))
    assert [op.pad_val for op in step._sub_policies[0] if hasattr(op, 'pad_val')] == [7.0]
    for seed in range(8):
        torch.manual_seed(seed)
        out = _run(step, _img())
        assert out.dtype == torch.uint8 and out.shape == (3, 12, 16)
    invert_all = AutoAugment([[dict(type='Solarize', thr=0, prob=1.0)]])
    assert torch.equal(_run(invert_all, _img()), 255 - _img())


def test_auto_augment_torchvision_policy_and_errors():
    assert _run(AutoAugment('imagenet'), _img()).shape == (3, 12, 16)
    with pytest.raises(ConfigError, match='imagenet'):
        AutoAugment('imagenette')
    with pytest.raises(ConfigError, match='sub-policy 0'):
        AutoAugment([dict(type='Invert')])
    with pytest.raises(ConfigError, match='Rotat'):
        AutoAugment([[dict(type='Rotat', angle=3)]])
    with pytest.raises(ConfigError, match="unexpected keyword argument 'angel'"):
        AutoAugment([[dict(type='Rotate', angel=3)]])


def test_rand_augment_magnitude_mapping():
    policy = [dict(type='Brightness', magnitude_key='magnitude', magnitude_range=(0, 0.9), prob=1.0,
                   random_negative_prob=0.0)]
    step = RandAugment(policy, num_policies=1, magnitude_level=10, total_level=30)
    flat = torch.full((3, 2, 2), 100, dtype=torch.uint8)
    assert _run(step, flat).unique().tolist() == [130]  # 10/30 * 0.9 = 0.3 → factor 1.3
    noisy = RandAugment(policy, num_policies=2, magnitude_level=10, magnitude_std='inf', total_level=30)
    values = {int(_run(noisy, flat)[0, 0, 0]) for _ in range(30)}
    assert len(values) > 3 and min(values) >= 100 and max(values) <= 169  # level uniform in [0, 10], twice


def test_rand_augment_named_policies_and_errors():
    for policies in ('rand_increasing', 'torchvision'):
        step = RandAugment(policies, num_policies=2, magnitude_level=9)
        for seed in range(6):
            torch.manual_seed(seed)
            assert _run(step, _img()).shape == (3, 12, 16)
    with pytest.raises(ConfigError, match='both magnitude_key and magnitude_range'):
        RandAugment([dict(type='Rotate', magnitude_key='angle')], 1, 5)
    with pytest.raises(ConfigError, match='num_policies'):
        RandAugment('rand_increasing', 0, 5)
    with pytest.raises(ConfigError, match='magnitude_level'):
        RandAugment('rand_increasing', 2, 31)
    with pytest.raises(ConfigError, match='magnitude_std'):
        RandAugment('torchvision', 2, 9, magnitude_std=0.5)


def test_random_steps_follow_the_torch_seed():
    steps = [ColorJitter(0.4, 0.4, 0.4, 0.1), Lighting(EIGVAL, EIGVEC), RandomErasing(1.0), Rotate(20, prob=0.5),
             RandAugment('rand_increasing', 2, 9, magnitude_std=0.5), AutoAugment(MMCLS_STYLE)]
    for step in steps:
        torch.manual_seed(11)
        a = _run(step, _img())
        torch.manual_seed(11)
        assert torch.equal(a, _run(step, _img())), step
