"""Reading image files into ``(C, H, W)`` uint8 RGB tensors.

JPEG, PNG, GIF and WebP are decoded by torchvision (libjpeg-turbo / libpng);
BMP, PPM/PGM, TIFF and anything else PIL knows go through PIL. Whatever the
file holds (grayscale, RGBA, palette, 16-bit), the result is uint8 with 3
channels (``color_type='color'``) or 1 (``'grayscale'``), EXIF orientation
applied.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Mapping

import numpy as np
import torch
from PIL import Image, ImageOps
from torchvision.io import ImageReadMode, decode_image, decode_jpeg

from ...errors import ConfigError, DataError
from ..registries import PIPELINES

__all__ = ['LoadImageFromFile', 'read_image_file', 'decode_image_bytes', 'ImageReadError']


class ImageReadError(DataError):
    """An image file is missing, empty, truncated or corrupt; ``path`` names it (datasets may skip these)."""

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message)
        self.path = path

_COLOR_TYPES = ('color', 'grayscale', 'unchanged')
_TV_MODES = {'color': ImageReadMode.RGB, 'grayscale': ImageReadMode.GRAY,
             'unchanged': ImageReadMode.UNCHANGED}


def check_file_client_args(file_client_args: Mapping | None, where: str) -> None:
    """Accept mmcv's ``file_client_args`` when it names the local disk; refuse other backends."""
    if file_client_args is None:
        return
    if not isinstance(file_client_args, Mapping):
        raise ConfigError(f'{where}: file_client_args must be a dict such as dict(backend="disk"), '
                          f'got {file_client_args!r}')
    backend = file_client_args.get('backend', 'disk')
    if backend not in ('disk', 'local'):
        raise ConfigError(f'{where}: file_client_args backend={backend!r} is not supported; imgcls reads '
                          f'local files only. Use dict(backend="disk") or remove file_client_args.')


def read_image_file(path: str) -> torch.Tensor:
    """Read a whole file into a 1-D uint8 tensor; a missing or empty file raises DataError."""
    try:
        with open(path, 'rb') as fh:
            size = os.fstat(fh.fileno()).st_size
            buf = torch.empty(size, dtype=torch.uint8)
            got = fh.readinto(buf.numpy()) if size else 0
    except FileNotFoundError:
        raise ImageReadError(f'image file not found: {path}', path) from None
    except IsADirectoryError:
        raise ImageReadError(f'expected an image file but found a directory: {path}', path) from None
    except OSError as e:
        raise ImageReadError(f'cannot read image file {path}: {e}', path) from None
    if size == 0:
        raise ImageReadError(f'image file is empty (0 bytes): {path}', path)
    if got != size:
        raise ImageReadError(f'image file changed while being read ({got} of {size} bytes): {path}', path)
    return buf


def _sniff(data: torch.Tensor) -> str:
    """The container format from the first bytes: 'jpeg', 'png', 'gif', 'webp' or 'other'."""
    head = bytes(data[:12].tolist())
    if head.startswith(b'\xff\xd8\xff'):
        return 'jpeg'
    if head.startswith(b'\x89PNG\r\n\x1a\n'):
        return 'png'
    if head[:6] in (b'GIF87a', b'GIF89a'):
        return 'gif'
    if head[:4] == b'RIFF' and head[8:12] == b'WEBP':
        return 'webp'
    return 'other'


def _png_is_palette(data: torch.Tensor) -> bool:
    # IHDR always comes first: byte 25 is the colour type, 3 = indexed (palette)
    return data.numel() > 25 and int(data[25]) == 3


def _to_uint8(img: torch.Tensor) -> torch.Tensor:
    """Scale 16-bit samples to 8 bits (rounding), pass uint8 through."""
    if img.dtype == torch.uint8:
        return img
    if img.dtype == torch.uint16:
        return ((img.to(torch.int32) + 128) // 257).to(torch.uint8)
    raise ImageReadError(f'unsupported sample type {img.dtype}')


def _fix_channels(img: torch.Tensor, color_type: str) -> torch.Tensor:
    """Bring a CHW tensor to 3 channels ('color'), 1 ('grayscale') or leave it ('unchanged')."""
    c = img.shape[0]
    if color_type == 'unchanged':
        return img
    if c in (2, 4):  # drop alpha: imgcls classifies the colour content only
        img, c = img[:c - 1], c - 1
    if color_type == 'color' and c == 1:
        return img.expand(3, -1, -1).contiguous()
    if color_type == 'grayscale' and c == 3:
        # ITU-R 601-2 luma, as PIL's convert('L') and torchvision's rgb_to_grayscale
        w = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
        return (img.float() * w).sum(0, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
    return img


def _decode_torchvision(data: torch.Tensor, kind: str, color_type: str) -> torch.Tensor:
    mode = _TV_MODES[color_type]
    if kind == 'webp' and color_type == 'grayscale':
        mode = ImageReadMode.RGB  # libwebp cannot decode to gray; convert afterwards
    if kind == 'png' and color_type == 'unchanged' and _png_is_palette(data):
        mode = ImageReadMode.RGB  # UNCHANGED would return the palette indices
    if kind == 'jpeg':
        img = decode_jpeg(data, mode=mode, apply_exif_orientation=True)
    else:
        img = decode_image(data, mode=mode, apply_exif_orientation=True)
    if img.ndim == 4:  # animated GIF: the first frame
        img = img[0]
    return _fix_channels(_to_uint8(img), color_type)


def _decode_pil(data: torch.Tensor, color_type: str) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # e.g. DecompressionBombWarning, palette transparency notes
        pil = Image.open(io.BytesIO(data.numpy().tobytes()))
        pil.load()
        pil = ImageOps.exif_transpose(pil)
        if pil.mode in ('I;16', 'I;16B', 'I;16L', 'I;16N', 'I', 'F'):
            arr = np.asarray(pil)
            if arr.dtype != np.uint8:  # 16-bit (or wider) gray: scale the 16-bit range to 8 bits
                arr = np.clip((arr.astype(np.float64) / 257.0).round(), 0, 255).astype(np.uint8)
            img = torch.from_numpy(np.ascontiguousarray(arr))[None]
            return _fix_channels(img, color_type)
        if color_type == 'color':
            pil = pil.convert('RGB')
        elif color_type == 'grayscale':
            pil = pil.convert('L')
        elif pil.mode not in ('L', 'LA', 'RGB', 'RGBA'):
            pil = pil.convert('RGBA' if 'transparency' in pil.info or pil.mode == 'PA' else 'RGB')
    arr = np.asarray(pil)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    # np.asarray(pil) is read-only: copy when a one-channel view would otherwise share PIL's buffer
    return torch.from_numpy(np.require(arr.transpose(2, 0, 1), requirements=('C_CONTIGUOUS', 'WRITEABLE')))


def _check_pixel_count(data: torch.Tensor) -> None:
    """Refuse what PIL refuses: a header claiming over 2 x ``PIL.Image.MAX_IMAGE_PIXELS`` (a 600-byte JPEG can
    claim 20000 x 20000, which torchvision would fill in, 1.2 GB, without complaint)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            Image.open(io.BytesIO(data.numpy().tobytes())).close()  # reads the header only
    except Image.DecompressionBombError as e:
        raise ImageReadError(f'{e} Raise PIL.Image.MAX_IMAGE_PIXELS if the image is genuine.') from None
    except Exception:  # a header PIL cannot read: the decoder will say what is wrong
        return


def decode_image_bytes(data: torch.Tensor, color_type: str = 'color',
                       filename: str = '<bytes>') -> torch.Tensor:
    """Decode an encoded image (1-D uint8 tensor) to a ``(C, H, W)`` uint8 tensor.

    Raises DataError naming ``filename`` when the bytes are not a readable image.
    """
    kind = _sniff(data)
    try:
        # torchvision 0.29's PNG decoder segfaults on a PNG whose image data is shorter than its header says
        # (a damaged file kills the whole run); PIL's reports it as an error
        if kind not in ('other', 'png'):
            _check_pixel_count(data)
            try:
                return _decode_torchvision(data, kind, color_type)
            except Exception as e:  # e.g. CMYK/12-bit JPEGs: PIL may still read it
                try:
                    return _decode_pil(data, color_type)
                except Exception:
                    raise e from None
        return _decode_pil(data, color_type)
    except DataError as e:
        raise ImageReadError(f'cannot decode image file {filename}: {e}', filename) from None
    except Exception as e:  # decoders raise RuntimeError, OSError, ValueError, ...
        what = 'truncated or corrupt' if kind != 'other' else 'not an image format imgcls can read'
        detail = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        if '.cpp:' in detail:  # torchvision prefixes "decode_jpeg, /path/decode_jpeg.cpp:171, "
            detail = detail.split(', ', 2)[-1]
        if detail.startswith('cannot identify image file'):
            detail = 'the contents are not a known image format'
        raise ImageReadError(f'cannot decode image file {filename} ({what}; detected format: {kind}): '
                             f'{detail[:200]}. Check the file, or remove it from the dataset.', filename) from None


@PIPELINES.register_module()
class LoadImageFromFile:
    """Load ``results['img_info']['filename']`` (joined to ``img_prefix``) into ``results['img']``.

    The image is a ``(C, H, W)`` uint8 RGB tensor (1 channel with ``color_type='grayscale'``;
    ``'unchanged'`` keeps the file's channels, alpha included). ``to_float32=True`` makes it
    float32 (0..255), as mmcls did: the steps after it then compute without rounding between them,
    and the pipeline's Normalize stays in the pipeline (batches of uint8 images are the ones the
    model's data preprocessor normalizes on the device).
    """

    img_layout = 'chw'

    def __init__(self, to_float32: bool = False, color_type: str = 'color',
                 file_client_args: Mapping | None = None):
        if color_type not in _COLOR_TYPES:
            raise ConfigError(f'LoadImageFromFile: color_type={color_type!r} is not one of {_COLOR_TYPES}')
        check_file_client_args(file_client_args, 'LoadImageFromFile')
        self.to_float32 = bool(to_float32)
        self.color_type = color_type
        self.file_client_args = file_client_args

    def __call__(self, results: dict) -> dict:
        info = results.get('img_info')
        if not isinstance(info, Mapping) or 'filename' not in info:
            raise DataError("LoadImageFromFile needs results['img_info']['filename']; got keys "
                            f'{sorted(results)}. Is the dataset one that keeps images in memory? '
                            'Then drop LoadImageFromFile from its pipeline.')
        prefix = results.get('img_prefix')
        filename = os.path.join(prefix, info['filename']) if prefix else info['filename']
        img = decode_image_bytes(read_image_file(filename), self.color_type, filename)
        if self.to_float32:
            img = img.float()
        shape = (img.shape[1], img.shape[2], img.shape[0])
        results.update(filename=filename, ori_filename=info['filename'], img=img,
                       img_shape=shape, ori_shape=shape)
        # mmcv would have loaded BGR here; Normalize reads its to_rgb against this (see Normalize)
        results['mmcls_channel_order'] = 'bgr'
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(to_float32={self.to_float32}, color_type={self.color_type!r}, '
                f'file_client_args={self.file_client_args!r})')
