"""Steps as mmcls 0.x ran them: resizing backends, crops, img_fields, float loading, the 0.x-only steps,
and a user's own 0.x step (HWC numpy BGR) inside an imgcls pipeline."""

import builtins

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from PIL import Image

from imgcls.data import PIPELINES, Compose
from imgcls.data.pipelines import (
    CenterCrop,
    EfficientNetCenterCrop,
    EfficientNetRandomCrop,
    LoadImageFromFile,
    RandomCrop,
    RandomFlip,
    RandomResizedCrop,
    Resize,
)
from imgcls.data.utils import move_normalize_to_model
from imgcls.errors import ConfigError, DataError


def _img(c=3, h=6, w=8, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (c, h, w), dtype=np.uint8))


# -- Resize -----------------------------------------------------------------------------------

def test_area_resize_is_the_pixel_area_average():
    img = torch.arange(12, dtype=torch.uint8).view(1, 3, 4)
    # 3x4 -> 1x2: each output pixel averages a 3x2 block: (0+1+4+5+8+9)/6 = 4.5 -> 4 (round half to even), 6.5 -> 6
    out = Resize((1, 2), interpolation='area')({'img': img})['img']
    assert out.tolist() == [[[4, 6]]]
    # 1x3 -> 1x2: the middle pixel is split between the two outputs: (2*10 + 1*40) / 3 = 20, (1*40 + 2*70) / 3 = 60
    row = torch.tensor([[[10, 40, 70]]], dtype=torch.uint8)
    assert Resize((1, 2), interpolation='area')({'img': row})['img'].tolist() == [[[20, 60]]]


@pytest.mark.parametrize('interpolation, pil', [('bilinear', Image.BILINEAR), ('bicubic', Image.BICUBIC),
                                                ('nearest', Image.NEAREST), ('lanczos', Image.LANCZOS),
                                                ('area', Image.BOX)])
def test_pillow_backend_is_pillow(interpolation, pil):
    img = _img(h=20, w=30)
    out = Resize((7, 11), interpolation=interpolation, backend='pillow')({'img': img})['img']
    expected = np.asarray(Image.fromarray(img.permute(1, 2, 0).numpy()).resize((11, 7), pil))
    np.testing.assert_array_equal(out.permute(1, 2, 0).numpy(), expected)


def test_cv2_backend_does_not_antialias_like_opencv():
    """mmcls's default backend (cv2) samples bilinearly at half-pixel centres without a low-pass filter."""
    img = _img(c=1, h=8, w=8)
    out = Resize((4, 4), backend='cv2')({'img': img})['img']
    # 8 -> 4 exactly halves: each output is the mean of a 2x2 block (the sample point falls between 4 pixels),
    # within one level as OpenCV's own fixed-point arithmetic
    expected = TF.avg_pool2d(img[None].float(), 2)[0]
    assert torch.allclose(out.float(), expected, atol=1.0)
    smooth = Resize((4, 4), backend='torchvision')({'img': img})['img']  # antialiased: a wider filter
    assert not torch.equal(out, smooth)


def test_resize_every_image_field():
    r = {'img': _img(), 'mask': _img(c=1), 'img_fields': ['img', 'mask']}
    r = Resize((3, 4))(r)
    assert r['img'].shape == (3, 3, 4) and r['mask'].shape == (1, 3, 4) and r['img_shape'] == (3, 4, 3)


# -- crops ------------------------------------------------------------------------------------

def test_center_crop_float_size_truncates_as_mmcv():
    img = torch.arange(10, dtype=torch.uint8).view(1, 1, 10)
    # width 3.5: x1 = round(3.25) = 3, x2 = int(min(10, 6.5) - 1) = 5 -> columns 3..5
    assert CenterCrop((1, 3.5))({'img': img})['img'].tolist() == [[[3, 4, 5]]]


def test_efficientnet_names_are_the_efficientnet_style_steps():
    img = _img(h=40, w=60)
    a = EfficientNetCenterCrop(16, crop_padding=16)({'img': img})['img']
    b = CenterCrop(16, efficientnet_style=True, crop_padding=16, interpolation='bicubic')({'img': img})['img']
    assert torch.equal(a, b) and a.shape == (3, 16, 16)
    torch.manual_seed(3)
    a = EfficientNetRandomCrop(12)({'img': img})['img']
    torch.manual_seed(3)
    b = RandomResizedCrop(12, efficientnet_style=True, interpolation='bicubic')({'img': img})['img']
    assert torch.equal(a, b) and a.shape == (3, 12, 12)


@pytest.mark.parametrize('step', [RandomCrop(4, padding=1), RandomResizedCrop(5), RandomFlip(1.0), CenterCrop(3),
                                  PIPELINES.build(dict(type='Rotate', angle=30, prob=1.0)),
                                  PIPELINES.build(dict(type='Brightness', magnitude=0.5, prob=1.0))])
def test_random_steps_change_every_image_field_alike(step):
    img = _img()
    torch.manual_seed(0)
    r = step({'img': img.clone(), 'copy': img.clone(), 'img_fields': ['img', 'copy']})
    assert torch.equal(r['img'], r['copy'])
    assert not torch.equal(r['copy'], img) or r['copy'].shape != img.shape


def test_img_fields_naming_a_missing_key():
    with pytest.raises(DataError, match="img_fields'] names 'mask' but results has no such key"):
        RandomFlip(1.0)({'img': _img(), 'img_fields': ['img', 'mask']})


# -- loading ----------------------------------------------------------------------------------

def test_load_to_float32_and_its_normalize_stays(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / 'a.png')
    r = LoadImageFromFile(to_float32=True)({'img_prefix': str(tmp_path), 'img_info': {'filename': 'a.png'}})
    assert r['img'].dtype == torch.float32
    np.testing.assert_array_equal(r['img'].permute(1, 2, 0).numpy(), pixels.astype(np.float32))
    norm = dict(type='Normalize', mean=[1.0, 2.0, 3.0], std=[1.0, 1.0, 1.0])
    cfg = dict(data=dict(train=dict(type='ImageNet', pipeline=[dict(type='LoadImageFromFile', to_float32=True),
                                                                 norm])))
    new, pre = move_normalize_to_model(cfg)
    assert [s['type'] for s in new['data']['train']['pipeline']] == ['LoadImageFromFile', 'Normalize']
    assert pre is None  # float batches are normalized in the pipeline, so the model has nothing to do


# -- the mmcls 0.x steps that change what an image is -----------------------------------------

def test_to_pil_to_numpy_round_trip_keeps_the_image():
    img = _img()
    r = Compose([dict(type='ToPIL'), dict(type='ToNumpy')])({'img': img, 'mmcls_channel_order': 'bgr'})
    assert r['img'].dtype == torch.float32 and torch.equal(r['img'], img.float())


def test_to_pil_gives_a_pil_image_in_mmcls_channel_order():
    seen = {}

    class Peek:
        img_layout = 'any'

        def __call__(self, results):
            seen['img'] = results['img']
            return results

    img = _img()
    Compose([dict(type='ToPIL'), Peek()])({'img': img, 'mmcls_channel_order': 'bgr'})
    assert isinstance(seen['img'], Image.Image)
    np.testing.assert_array_equal(np.asarray(seen['img']), img.permute(1, 2, 0).numpy()[:, :, ::-1])  # BGR


def test_transpose_and_to_half():
    r = Compose([dict(type='Transpose', keys=['img', 'feat'], order=(2, 0, 1)), dict(type='ToHalf', keys=['feat'])])(
        {'img': _img(), 'feat': np.zeros((2, 3, 4), dtype=np.float32)})
    assert r['img'].shape == (3, 6, 8) and r['img'].dtype == torch.uint8  # images are CHW already
    assert r['feat'].shape == (4, 2, 3) and r['feat'].dtype == np.float16
    with pytest.raises(ConfigError, match=r"only order allowed on them is \(2, 0, 1\)"):
        PIPELINES.build(dict(type='Transpose', keys=['img'], order=(1, 0, 2)))({'img': _img()})
    with pytest.raises(ConfigError, match='permutation'):
        PIPELINES.build(dict(type='Transpose', keys=['img'], order=(0, 0, 1)))


def test_albu_runs_albumentations_on_the_mmcls_image():
    pytest.importorskip('albumentations')
    img = _img()
    step = dict(type='Albu', transforms=[dict(type='HorizontalFlip', p=1.0)])
    r = Compose([step])({'img': img, 'mmcls_channel_order': 'bgr'})
    assert torch.equal(r['img'], img.flip(-1)) and r['img_shape'] == (6, 8, 3)
    with pytest.raises(Exception, match='albumentations has no transform'):
        PIPELINES.build(dict(type='Albu', transforms=[dict(type='NoSuchThing')]))


def test_albu_without_albumentations_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_albumentations(name, *args, **kwargs):
        if name == 'albumentations':
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, '__import__', no_albumentations)
    with pytest.raises(Exception, match=r'Albu needs the albumentations library: pip install "imgcls\[albu\]"'):
        PIPELINES.build(dict(type='Albu', transforms=[]))


# -- a user's own mmcls 0.x step --------------------------------------------------------------

@PIPELINES.register_module()
class _ZeroBlueMmclsStep:
    """Written for mmcls 0.x: an HWC numpy image in BGR; no img_layout declared."""

    def __call__(self, results):
        img = results['img']
        assert isinstance(img, np.ndarray) and img.shape[2] == 3
        img = img.copy()
        img[:, :, 0] = 0  # B in mmcls's BGR
        results['img'] = img
        return results


def test_user_mmcls_step_gets_hwc_bgr_and_the_pipeline_stays_rgb_chw():
    img = _img()
    pipeline = Compose([dict(type='RandomFlip', flip_prob=0.0), dict(type='_ZeroBlueMmclsStep'),
                        dict(type='Resize', size=(6, 8)), dict(type='Collect', keys=['img'])])
    out = pipeline({'img': img.clone(), 'mmcls_channel_order': 'bgr'})['img']
    assert isinstance(out, torch.Tensor) and out.shape == (3, 6, 8)
    assert torch.equal(out[:2], img[:2]) and int(out[2].sum()) == 0  # blue is the last channel in RGB
    # an in-memory dataset (CIFAR): mmcls had RGB there, so the step's channel 0 is red
    out = pipeline({'img': img.clone()})['img']
    assert int(out[0].sum()) == 0 and torch.equal(out[1:], img[1:])


def test_bad_img_layout_is_reported():
    class Odd:
        img_layout = 'nhwc'

        def __call__(self, results):
            return results

    with pytest.raises(DataError, match=r"Odd.img_layout must be one of \['chw', 'hwc', 'any'\], got 'nhwc'"):
        Compose([Odd()])


# -- colours given in mmcls's channel order ------------------------------------------------------

def test_fill_colours_follow_mmcls_channel_order():
    """Swin's RandomErasing(fill_color=mean[::-1]) and RandAugment pad_val=mean[::-1] are BGR after a file load."""
    img = torch.zeros(3, 8, 8, dtype=torch.uint8)
    bgr = [10, 20, 30]
    erase = PIPELINES.build(dict(type='RandomErasing', erase_prob=1.0, min_area_ratio=0.3, max_area_ratio=0.3,
                                 fill_color=bgr))
    for order, expected in (('bgr', [30, 20, 10]), ('rgb', [10, 20, 30])):
        torch.manual_seed(0)
        out = erase({'img': img.clone(), 'mmcls_channel_order': order})['img']
        erased = out.flatten(1)[:, out.flatten(1).sum(0) > 0]
        assert erased.shape[1] > 0 and erased.unique(dim=1).flatten().tolist() == expected
    shift = PIPELINES.build(dict(type='Translate', magnitude=0.5, prob=1.0, random_negative_prob=0.0, pad_val=bgr))
    out = shift({'img': img.clone(), 'mmcls_channel_order': 'bgr'})['img']
    assert out[:, 0, 0].tolist() == [30, 20, 10]  # the left half is padding after a shift right


def test_autoaugment_policy_imagenet_is_mmcls_list():
    from imgcls.data.pipelines.policies import POLICY_IMAGENET

    assert len(POLICY_IMAGENET) == 25 and all(len(sub) == 2 for sub in POLICY_IMAGENET)
    # level m of 10 is m / 9 of the range: Solarize 256 * 4 / 9, Rotate 30 * 8 / 9, Shear 0.3 * 5 / 9
    assert POLICY_IMAGENET[1][0] == dict(type='Solarize', prob=0.6, thr=256 / 9 * 4)
    assert POLICY_IMAGENET[5][1] == dict(type='Rotate', prob=0.8, angle=30 / 9 * 8)
    assert POLICY_IMAGENET[18][0] == dict(type='Shear', prob=0.6, magnitude=0.3 / 9 * 5, direction='horizontal')
    step = PIPELINES.build(dict(type='AutoAugment', policies='policy_imagenet'))
    assert len(step._sub_policies) == 25
    with pytest.raises(ConfigError, match=r"not one of \['policy_imagenet', 'imagenet'"):
        PIPELINES.build(dict(type='AutoAugment', policies='policy_imagenett'))


def test_random_erasing_box_and_fill_as_mmcls():
    img = torch.zeros(1, 8, 8, dtype=torch.uint8)
    # a quarter of 64 pixels, square: 4 x 4, the fill truncated like mmcls's uint8 cast (123.675 -> 123)
    erase = PIPELINES.build(dict(type='RandomErasing', erase_prob=1.0, min_area_ratio=0.25, max_area_ratio=0.25,
                                 aspect_range=(1.0, 1.0), fill_color=123.675))
    out = erase({'img': img.clone()})['img'][0]
    rows, cols = (out > 0).any(1).nonzero().flatten(), (out > 0).any(0).nonzero().flatten()
    assert len(rows) == len(cols) == 4 and int(out.max()) == 123
    assert rows.max() <= 6 and cols.max() <= 6  # corner drawn in [0, 8 - 4): the last row/column never starts it
    # taller than the image: the height is cut to 8, the width is sqrt(64 / 4) = 4
    tall = PIPELINES.build(dict(type='RandomErasing', erase_prob=1.0, min_area_ratio=1.0, max_area_ratio=1.0,
                                aspect_range=(4.0, 4.0), fill_color=9))
    out = tall({'img': img.clone()})['img'][0]
    assert int((out == 9).sum()) == 32 and bool((out == 9).all(0).any())


# -- warps as cv2.warpAffine -------------------------------------------------------------------

def test_bicubic_warps_land_on_pixels_exactly_where_the_geometry_says():
    img = _img(h=8, w=8)
    always = dict(prob=1.0, random_negative_prob=0.0, interpolation='bicubic')
    rotated = PIPELINES.build(dict(type='Rotate', angle=90, **always))({'img': img.clone()})['img']
    assert torch.equal(rotated, torch.rot90(img, k=-1, dims=(1, 2)))  # clockwise, about the centre (3.5, 3.5)
    shifted = PIPELINES.build(dict(type='Translate', magnitude=0.25, pad_val=7, **always))({'img': img.clone()})['img']
    assert torch.equal(shifted[:, :, 2:], img[:, :, :6]) and bool((shifted[:, :, :2] == 7).all())  # 2 px right
    flat = torch.full((3, 8, 8), 90, dtype=torch.uint8)
    sheared = PIPELINES.build(dict(type='Shear', magnitude=0.5, pad_val=90, **always))({'img': flat})['img']
    assert torch.equal(sheared, flat)  # a constant image filled with its own colour stays constant


def test_bicubic_kernel_is_opencvs():
    """Half a pixel to the right: each output mixes 4 inputs with the a = -0.75 cubic weights, 0.59375 at distance
    0.5 and -0.09375 at 1.5 (so a lone spike of 100 gives 59.375 twice and -9.375 on either side)."""
    row = torch.tensor([[[0.0, 0.0, 100.0, 0.0, 0.0, 0.0]]])
    step = PIPELINES.build(dict(type='Translate', magnitude=0.5 / 6, pad_val=0, prob=1.0, random_negative_prob=0.0,
                                interpolation='bicubic'))
    out = step({'img': row})['img'][0, 0]
    assert out.tolist() == pytest.approx([0.0, -9.375, 59.375, 59.375, -9.375, 0.0], abs=1e-3)  # float32 grid
