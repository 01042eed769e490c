"""LoadImageFromFile on real files of every kind it must read (and refuse)."""

import numpy as np
import pytest
import torch
from PIL import Image

from imgcls.data import PIPELINES
from imgcls.data.pipelines import LoadImageFromFile
from imgcls.errors import BuildError, ConfigError, DataError

H, W = 20, 30


@pytest.fixture(scope='module')
def pixels():
    return np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _load(path, **kwargs):
    results = {'img_prefix': str(path.parent), 'img_info': {'filename': path.name}}
    return LoadImageFromFile(**kwargs)(results)


def _hwc(img):
    return img.permute(1, 2, 0).numpy()


def test_rgb_png_exact(tmp_path, pixels):
    path = tmp_path / 'a.png'
    Image.fromarray(pixels).save(path)
    r = _load(path)
    assert r['img'].dtype == torch.uint8 and r['img'].shape == (3, H, W)
    np.testing.assert_array_equal(_hwc(r['img']), pixels)
    assert r['img_shape'] == r['ori_shape'] == (H, W, 3)
    assert r['filename'] == str(path) and r['ori_filename'] == 'a.png'


def test_rgb_jpeg(tmp_path, pixels):
    path = tmp_path / 'a.jpg'
    Image.fromarray(pixels).save(path, quality=95)
    img = _load(path)['img']
    assert img.shape == (3, H, W) and img.dtype == torch.uint8
    ref = np.asarray(Image.open(path).convert('RGB')).astype(int)
    assert np.abs(_hwc(img).astype(int) - ref).max() <= 3  # libjpeg-turbo vs PIL's IDCT rounding


def test_grayscale_file(tmp_path, pixels):
    path = tmp_path / 'l.png'
    Image.fromarray(pixels[..., 0]).save(path)
    color = _load(path)['img']
    assert color.shape == (3, H, W)
    for c in range(3):
        np.testing.assert_array_equal(color[c].numpy(), pixels[..., 0])
    r = _load(path, color_type='grayscale')
    assert r['img'].shape == (1, H, W) and r['img_shape'] == (H, W, 1)
    np.testing.assert_array_equal(r['img'][0].numpy(), pixels[..., 0])


def test_color_to_grayscale_matches_pil(tmp_path, pixels):
    path = tmp_path / 'c.png'
    Image.fromarray(pixels).save(path)
    gray = _load(path, color_type='grayscale')['img']
    ref = np.asarray(Image.open(path).convert('L')).astype(int)
    assert gray.shape == (1, H, W)
    assert np.abs(gray[0].numpy().astype(int) - ref).max() <= 1


def test_rgba_drops_alpha(tmp_path, pixels):
    path = tmp_path / 'rgba.png'
    Image.fromarray(np.dstack([pixels, np.full((H, W), 9, np.uint8)])).save(path)
    np.testing.assert_array_equal(_hwc(_load(path)['img']), pixels)
    assert _load(path, color_type='unchanged')['img'].shape == (4, H, W)


def test_palette_png(tmp_path, pixels):
    path = tmp_path / 'p.png'
    Image.fromarray(pixels).convert('P').save(path)
    ref = np.asarray(Image.open(path).convert('RGB'))
    np.testing.assert_array_equal(_hwc(_load(path)['img']), ref)
    np.testing.assert_array_equal(_hwc(_load(path, color_type='unchanged')['img']), ref)


def test_16bit_png_scaled_to_8bit(tmp_path, pixels):
    path = tmp_path / 'i16.png'
    Image.fromarray(pixels[..., 0].astype(np.uint16) * 257).save(path)
    assert Image.open(path).mode == 'I;16'
    img = _load(path, color_type='grayscale')['img']
    assert img.dtype == torch.uint8
    np.testing.assert_array_equal(img[0].numpy(), pixels[..., 0])  # v * 257 / 257 == v


@pytest.mark.parametrize('ext', ['bmp', 'ppm', 'tif'])
def test_pil_fallback_formats(tmp_path, pixels, ext):
    path = tmp_path / f'x.{ext}'
    Image.fromarray(pixels).save(path)
    np.testing.assert_array_equal(_hwc(_load(path)['img']), pixels)


def test_16bit_tiff_via_pil(tmp_path, pixels):
    path = tmp_path / 'x16.tif'
    Image.fromarray(pixels[..., 1].astype(np.uint16) * 257).save(path)
    img = _load(path)['img']
    assert img.shape == (3, H, W) and img.dtype == torch.uint8
    np.testing.assert_array_equal(img[2].numpy(), pixels[..., 1])


def test_exif_orientation_applied(tmp_path, pixels):
    path = tmp_path / 'rot.jpg'
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    image.save(path, exif=exif)
    r = _load(path)
    assert r['img'].shape == (3, W, H) and r['ori_shape'] == (W, H, 3)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match='not found.*nope.jpg'):
        _load(tmp_path / 'nope.jpg')


def test_empty_file(tmp_path):
    path = tmp_path / 'empty.jpg'
    path.write_bytes(b'')
    with pytest.raises(DataError, match='empty.*empty.jpg'):
        _load(path)


def test_truncated_jpeg(tmp_path, pixels):
    path = tmp_path / 'trunc.jpg'
    Image.fromarray(pixels).save(path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(DataError, match='trunc.jpg'):
        _load(path)


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / 'notes.jpg'
    path.write_text('hello, this is not an image')
    with pytest.raises(DataError, match='cannot decode image file .*notes.jpg'):
        _load(path)


def test_no_prefix_uses_filename_as_is(tmp_path, pixels):
    path = tmp_path / 'a.png'
    Image.fromarray(pixels).save(path)
    r = LoadImageFromFile()({'img_prefix': None, 'img_info': {'filename': str(path)}})
    assert r['filename'] == str(path) and r['img'].shape == (3, H, W)


def test_without_img_info_explains():
    with pytest.raises(DataError, match='img_info'):
        LoadImageFromFile()({'img': torch.zeros(1, 2, 2, dtype=torch.uint8)})


def test_arguments_checked():
    with pytest.raises(ConfigError, match='color_type'):
        LoadImageFromFile(color_type='rgb')
    with pytest.raises(ConfigError, match='petrel'):
        LoadImageFromFile(file_client_args=dict(backend='petrel'))
    LoadImageFromFile(to_float32=True, file_client_args=dict(backend='disk'))
    with pytest.raises(BuildError, match='Valid arguments'):
        PIPELINES.build(dict(type='LoadImageFromFile', colour_type='color'))
