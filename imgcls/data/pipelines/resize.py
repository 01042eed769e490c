"""Resizing and centre crops (Resize, CenterCrop, EfficientNetCenterCrop) with mmcls 0.x arguments.

mmcls resized with OpenCV (``backend='cv2'``, the default: no antialiasing, as ``cv2.resize``)
or Pillow (``backend='pillow'``: Pillow's own resampling, which averages over the whole
footprint when shrinking and so gives other pixels, and other accuracies). imgcls does the first
with torch and the second with Pillow itself. ``interpolation='area'`` is the pixel-area average
of ``cv2.INTER_AREA``; ``backend='torchvision'`` is torchvision's antialiased resize.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Number

import numpy as np
import torch
import torch.nn.functional as TF
import torchvision.transforms.v2.functional as F
from PIL import Image
from torchvision.transforms import InterpolationMode

from ...errors import ConfigError
from ..registries import PIPELINES
from .images import get_img, map_images

__all__ = ['Resize', 'CenterCrop', 'EfficientNetCenterCrop', 'resize_img', 'center_crop_box']

_TORCH_MODES = {'nearest': InterpolationMode.NEAREST, 'bilinear': InterpolationMode.BILINEAR,
                'bicubic': InterpolationMode.BICUBIC}
_PIL_FILTERS = {'nearest': Image.NEAREST, 'bilinear': Image.BILINEAR, 'bicubic': Image.BICUBIC,
                'area': Image.BOX, 'box': Image.BOX, 'lanczos': Image.LANCZOS, 'hamming': Image.HAMMING}
INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'area', 'lanczos')
BACKENDS = ('cv2', 'pillow', 'torchvision')


def check_choice(step: str, name: str, value, choices) -> None:
    """A ConfigError naming the step and argument when ``value`` is not one of ``choices``."""
    if value not in choices:
        raise ConfigError(f'{step}: {name}={value!r} is not one of {list(choices)}')


def _area_weights(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) weights: the share of each output pixel's footprint that each input pixel covers."""
    scale = n_in / n_out
    start = torch.arange(n_out, dtype=torch.float64)[:, None] * scale
    left = torch.arange(n_in, dtype=torch.float64)[None, :]
    overlap = (torch.minimum(start + scale, left + 1) - torch.maximum(start, left)).clamp_(min=0)
    return (overlap / scale).float()


def _resize_area(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    out = _area_weights(img.shape[-2], size[0]) @ img.float() @ _area_weights(img.shape[-1], size[1]).T
    return out.round_().clamp_(0, 255).to(torch.uint8) if img.dtype == torch.uint8 else out


def _resize_pillow(img: torch.Tensor, size: tuple[int, int], interpolation: str) -> torch.Tensor:
    """Pillow's resampling, one channel at a time ('L' for uint8, 'F' for float images)."""
    resample = _PIL_FILTERS[interpolation]
    arrays = img.numpy() if img.dtype == torch.uint8 else img.float().numpy()
    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(plane)).resize((size[1], size[0]), resample))
              for plane in arrays]
    return torch.from_numpy(np.stack(planes)).to(img.dtype)


def resize_img(img: torch.Tensor, size: tuple[int, int], interpolation: str = 'bilinear',
               backend: str = 'cv2') -> torch.Tensor:
    """Resize a CHW tensor to ``size`` (h, w) the way ``backend`` does (see the module docstring)."""
    if tuple(img.shape[-2:]) == tuple(size):
        return img
    if backend == 'pillow' or interpolation == 'lanczos':  # torch has no Lanczos kernel
        return _resize_pillow(img, size, interpolation)
    if interpolation == 'area':
        return _resize_area(img, size)
    mode = _TORCH_MODES[interpolation]
    if backend == 'torchvision' or mode == InterpolationMode.NEAREST:
        return F.resize(img, list(size), interpolation=mode, antialias=backend == 'torchvision')
    # OpenCV's sampling (half-pixel centres, no low-pass filter). Like OpenCV, torch interpolates uint8 in
    # fixed point (within one level of the exact value), fastest on a channels-last image.
    batch = img[None].contiguous(memory_format=torch.channels_last) if img.dtype == torch.uint8 else img[None]
    return TF.interpolate(batch, size=tuple(size), mode=interpolation, align_corners=False)[0].contiguous()


def size_pair(step: str, name: str, value, allow_minus_one: bool = False, allow_float: bool = False) -> tuple:
    """An int (or, with ``allow_float``, a number) → (v, v); a 2-sequence (h, w) → tuple; else a ConfigError."""
    kinds = (int, float) if allow_float else (int,)
    pair = (value, value) if isinstance(value, kinds) and not isinstance(value, bool) else value
    if (isinstance(pair, Sequence) and len(pair) == 2
            and all(isinstance(v, kinds) and not isinstance(v, bool) for v in pair)):
        h, w = pair
        if h > 0 and (w > 0 or (allow_minus_one and w == -1 and not isinstance(value, Number))):
            return h, w
    extra = ' or (h, -1) to keep the aspect ratio' if allow_minus_one else ''
    what = 'number' if allow_float else 'int'
    raise ConfigError(f'{step}: {name} must be a positive {what} or a pair (h, w) of positive {what}s{extra}, '
                      f'got {value!r}')


@PIPELINES.register_module()
class Resize:
    """Resize the image (every image of ``img_fields``).

    Args:
        size: ``(h, w)`` for an exact size; an int ``s`` means ``(s, s)`` (as mmcls);
            ``(s, -1)`` keeps the aspect ratio and sets the side picked by ``adaptive_side``
            ('short', 'long', 'height' or 'width') to ``s``.
        interpolation: 'nearest', 'bilinear', 'bicubic', 'area' or 'lanczos'.
        backend: 'cv2' (mmcls's default: OpenCV's resampling, not antialiased), 'pillow'
            (Pillow's resampling) or 'torchvision' (antialiased).
    """

    img_layout = 'chw'

    def __init__(self, size, interpolation: str = 'bilinear', backend: str = 'cv2',
                 adaptive_side: str = 'short'):
        self.size = size_pair('Resize', 'size', size, allow_minus_one=True)
        check_choice('Resize', 'interpolation', interpolation, INTERPOLATIONS)
        check_choice('Resize', 'backend', backend, BACKENDS)
        check_choice('Resize', 'adaptive_side', adaptive_side, ('short', 'long', 'height', 'width'))
        self.interpolation, self.backend, self.adaptive_side = interpolation, backend, adaptive_side

    def target_size(self, h: int, w: int) -> tuple[int, int]:
        """The output (h, w) for an input of (h, w)."""
        if self.size[1] != -1:
            return self.size
        s = self.size[0]
        side = self.adaptive_side
        if side == 'short':
            side = 'width' if w < h else 'height'
        elif side == 'long':
            side = 'width' if w > h else 'height'
        # int() truncation, as mmcls, so configs give the same sizes
        if side == 'width':
            return (h, w) if w == s else (int(s * h / w), s)
        return (h, w) if h == s else (s, int(s * w / h))

    def __call__(self, results: dict) -> dict:
        return map_images(results, lambda img: resize_img(
            img, self.target_size(img.shape[-2], img.shape[-1]), self.interpolation, self.backend))

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, interpolation={self.interpolation!r}, '
                f'backend={self.backend!r}, adaptive_side={self.adaptive_side!r})')


def center_crop_box(h: int, w: int, ch: float, cw: float) -> tuple[int, int, int, int]:
    """(top, left, height, width) of mmcls's centre crop of ``ch x cw`` (may be fractional) from ``h x w``.

    As mmcv's ``imcrop``: corners truncated to ints and clipped to the image, so a crop larger
    than the image keeps the whole of that side (no padding).
    """
    top, left = max(0, int(round((h - ch) / 2))), max(0, int(round((w - cw) / 2)))
    bottom, right = int(min(h, top + ch) - 1), int(min(w, left + cw) - 1)
    bottom, right = min(max(bottom, 0), h - 1), min(max(right, 0), w - 1)
    return top, left, bottom - top + 1, right - left + 1


@PIPELINES.register_module()
class CenterCrop:
    """Crop the centre ``crop_size`` (a number or (h, w); fractions allowed), as mmcls: a side longer
    than the image keeps the whole image side.

    ``efficientnet_style=True`` crops ``crop_size / (crop_size + crop_padding)`` of the short
    side and resizes it to ``crop_size`` (the TF EfficientNet evaluation crop).
    """

    img_layout = 'chw'

    def __init__(self, crop_size, efficientnet_style: bool = False, crop_padding: int = 32,
                 interpolation: str = 'bilinear', backend: str = 'cv2'):
        if efficientnet_style and not isinstance(crop_size, int):
            raise ConfigError(f'CenterCrop: efficientnet_style needs an int crop_size, got {crop_size!r}')
        if not isinstance(crop_padding, Number) or crop_padding < 0:
            raise ConfigError(f'CenterCrop: crop_padding must be >= 0, got {crop_padding!r}')
        self.crop_size = size_pair('CenterCrop', 'crop_size', crop_size, allow_float=True)
        check_choice('CenterCrop', 'interpolation', interpolation, INTERPOLATIONS)
        check_choice('CenterCrop', 'backend', backend, BACKENDS)
        self.efficientnet_style, self.crop_padding = efficientnet_style, crop_padding
        self.interpolation, self.backend = interpolation, backend

    def __call__(self, results: dict) -> dict:
        h, w = get_img(results).shape[-2:]
        ch, cw = self.crop_size
        if self.efficientnet_style:
            ch = cw = ch / (ch + self.crop_padding) * min(h, w)
        top, left, height, width = center_crop_box(h, w, ch, cw)

        def crop(img: torch.Tensor) -> torch.Tensor:
            img = img[..., top:top + height, left:left + width]
            if self.efficientnet_style:
                img = resize_img(img, self.crop_size, self.interpolation, self.backend)
            return img
        return map_images(results, crop)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(crop_size={self.crop_size}, efficientnet_style={self.efficientnet_style}, '
                f'crop_padding={self.crop_padding}, interpolation={self.interpolation!r}, '
                f'backend={self.backend!r})')


@PIPELINES.register_module()
class EfficientNetCenterCrop(CenterCrop):
    """MMPretrain's name for ``CenterCrop(efficientnet_style=True)``: crop ``crop_size / (crop_size +
    crop_padding)`` of the short side, then resize it to ``crop_size``."""

    def __init__(self, crop_size: int, crop_padding: int = 32, interpolation: str = 'bicubic',
                 backend: str = 'cv2'):
        super().__init__(crop_size, efficientnet_style=True, crop_padding=crop_padding,
                         interpolation=interpolation, backend=backend)
