"""Random geometric steps (RandomCrop, RandomResizedCrop, EfficientNetRandomCrop, RandomFlip) on ``(C, H, W)``
tensors, with the arguments and behaviour of MMClassification 0.x so its configs keep their meaning.

Every image of ``img_fields`` gets the same crop or flip. All randomness comes from torch's RNG,
which the data loader seeds per sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Number

import torch
import torchvision.transforms.v2.functional as F

from ...errors import ConfigError, DataError
from ..registries import PIPELINES
from .images import get_img, in_rgb_order, map_images, set_img
from .normalize import Normalize
from .resize import BACKENDS, INTERPOLATIONS, CenterCrop, Resize, check_choice, resize_img, size_pair

__all__ = ['Resize', 'CenterCrop', 'RandomCrop', 'RandomResizedCrop', 'EfficientNetRandomCrop', 'RandomFlip',
           'Normalize', 'get_img', 'set_img', 'resize_img']

_PADDING_MODES = ('constant', 'edge', 'reflect', 'symmetric')


def _uniform(low: float, high: float) -> float:
    return low + (high - low) * torch.rand(()).item()


def _randint(low: int, high: int) -> int:
    """An integer in ``[low, high]``, both ends included."""
    return int(torch.randint(low, high + 1, ()).item())


def _padding4(value) -> list[int]:
    """mmcls/torchvision padding → [left, top, right, bottom]."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return [value] * 4
    if isinstance(value, Sequence) and all(isinstance(v, int) and v >= 0 for v in value):
        if len(value) == 2:
            return [value[0], value[1], value[0], value[1]]
        if len(value) == 4:
            return list(value)
    raise ConfigError(f'RandomCrop: padding must be an int or a tuple of 2 (left/right, top/bottom) or '
                      f'4 (left, top, right, bottom) non-negative ints, got {value!r}')


@PIPELINES.register_module()
class RandomCrop:
    """Crop a random ``size`` window, after optional padding.

    Args:
        size: int or (h, w).
        padding: pixels added before cropping: int, (left/right, top/bottom) or (l, t, r, b).
        pad_if_needed: pad an image smaller than ``size`` (by the shortfall, on both ends).
        pad_val: fill for 'constant' padding: a number or one per channel.
        padding_mode: 'constant', 'edge', 'reflect' or 'symmetric'.
    """

    img_layout = 'chw'

    def __init__(self, size, padding=None, pad_if_needed: bool = False, pad_val=0,
                 padding_mode: str = 'constant'):
        self.size = size_pair('RandomCrop', 'size', size)
        self.padding = None if padding is None else _padding4(padding)
        check_choice('RandomCrop', 'padding_mode', padding_mode, _PADDING_MODES)
        per_channel = isinstance(pad_val, Sequence) and all(isinstance(v, Number) for v in pad_val)
        if not (isinstance(pad_val, Number) or per_channel):
            raise ConfigError(f'RandomCrop: pad_val must be a number or one per channel, got {pad_val!r}')
        self.pad_if_needed, self.pad_val, self.padding_mode = pad_if_needed, pad_val, padding_mode

    def _padded(self, img: torch.Tensor, results: dict) -> torch.Tensor:
        fill = in_rgb_order(list(self.pad_val) if isinstance(self.pad_val, Sequence) else self.pad_val, results)

        def pad(img: torch.Tensor, padding: list[int]) -> torch.Tensor:
            return F.pad(img, padding, fill=fill, padding_mode=self.padding_mode)
        if self.padding is not None:
            img = pad(img, self.padding)
        th, tw = self.size
        if self.pad_if_needed and img.shape[-2] < th:
            img = pad(img, [0, th - img.shape[-2], 0, th - img.shape[-2]])
        if self.pad_if_needed and img.shape[-1] < tw:
            img = pad(img, [tw - img.shape[-1], 0, tw - img.shape[-1], 0])
        return img

    def __call__(self, results: dict) -> dict:
        h, w = self._padded(get_img(results), results).shape[-2:]
        th, tw = self.size
        if h < th or w < tw:
            raise DataError(f"RandomCrop: image {results.get('filename', '')} is {h}x{w} after padding, "
                            f'smaller than the crop {th}x{tw}. Set pad_if_needed=True or resize first.')
        top, left = _randint(0, h - th), _randint(0, w - tw)
        return map_images(results, lambda img: F.crop(self._padded(img, results), top, left, th, tw))

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, padding={self.padding}, '
                f'pad_if_needed={self.pad_if_needed}, pad_val={self.pad_val}, '
                f'padding_mode={self.padding_mode!r})')


def _range(step: str, name: str, value) -> tuple[float, float]:
    if (isinstance(value, Sequence) and len(value) == 2 and all(isinstance(v, Number) for v in value)
            and 0 < value[0] <= value[1]):
        return float(value[0]), float(value[1])
    raise ConfigError(f'{step}: {name} must be a (min, max) pair with 0 < min <= max, got {value!r}')


@PIPELINES.register_module()
class RandomResizedCrop:
    """Crop a random area fraction (``scale``) and aspect ratio (``ratio``), then resize to ``size``.

    After ``max_attempts`` samples that do not fit, falls back to the largest centre crop whose
    aspect ratio lies within ``ratio`` (the Inception-style crop, as mmcls and torchvision).
    """

    img_layout = 'chw'

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3. / 4., 4. / 3.), max_attempts: int = 10,
                 efficientnet_style: bool = False, min_covered: float = 0.1, crop_padding: int = 32,
                 interpolation: str = 'bilinear', backend: str = 'cv2'):
        if efficientnet_style and not isinstance(size, int):
            raise ConfigError(f'RandomResizedCrop: efficientnet_style needs an int size, got {size!r}')
        if not 0 <= min_covered <= 1:
            raise ConfigError(f'RandomResizedCrop: min_covered must be in [0, 1], got {min_covered!r}')
        self.efficientnet_style = efficientnet_style
        self.size = size_pair('RandomResizedCrop', 'size', size)
        self.scale = _range('RandomResizedCrop', 'scale', scale)
        self.ratio = _range('RandomResizedCrop', 'ratio', ratio)
        if not isinstance(max_attempts, int) or max_attempts < 0:
            raise ConfigError(f'RandomResizedCrop: max_attempts must be an int >= 0, got {max_attempts!r}')
        check_choice('RandomResizedCrop', 'interpolation', interpolation, INTERPOLATIONS)
        check_choice('RandomResizedCrop', 'backend', backend, BACKENDS)
        self.max_attempts, self.interpolation, self.backend = max_attempts, interpolation, backend
        self.min_covered, self.crop_padding = min_covered, crop_padding

    def get_params_efficientnet(self, h: int, w: int) -> tuple[int, int, int, int]:
        """TF EfficientNet's distorted bounding-box crop: the aspect ratio is sampled linearly, then a
        height within the area range; a crop covering less than ``min_covered`` of the image is
        rejected. Falls back to the padded centre crop used at test time."""
        area = h * w
        for _ in range(self.max_attempts):
            aspect = _uniform(*self.ratio)
            lo_area, hi_area = self.scale[0] * area, self.scale[1] * area
            max_h = min(int(round(math.sqrt(hi_area / aspect))), h, int((w + 0.5 - 1e-7) / aspect))
            min_h = min(int(round(math.sqrt(lo_area / aspect))), max_h)
            if max_h <= 0:
                continue
            ch = _randint(min_h, max_h)
            cw = int(round(ch * aspect))
            if not (0 < cw <= w and lo_area <= ch * cw <= hi_area and ch * cw >= self.min_covered * area):
                continue
            return _randint(0, h - ch), _randint(0, w - cw), ch, cw
        side = int(round(self.size[0] / (self.size[0] + self.crop_padding) * min(h, w)))
        return (h - side + 1) // 2, (w - side + 1) // 2, side, side

    def get_params(self, h: int, w: int) -> tuple[int, int, int, int]:
        """Sample a crop (top, left, height, width) for an h x w image."""
        if self.efficientnet_style:
            return self.get_params_efficientnet(h, w)
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(self.max_attempts):
            area = _uniform(*self.scale) * h * w
            aspect = math.exp(_uniform(*log_ratio))
            cw, ch = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
            if 0 < cw <= w and 0 < ch <= h:
                return _randint(0, h - ch), _randint(0, w - cw), ch, cw
        in_ratio = w / h
        if in_ratio < self.ratio[0]:
            cw, ch = w, int(round(w / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            cw, ch = int(round(h * self.ratio[1])), h
        else:
            cw, ch = w, h
        return (h - ch) // 2, (w - cw) // 2, ch, cw

    def __call__(self, results: dict) -> dict:
        img = get_img(results)
        top, left, ch, cw = self.get_params(img.shape[-2], img.shape[-1])
        return map_images(results, lambda img: resize_img(F.crop(img, top, left, ch, cw), self.size,
                                                          self.interpolation, self.backend))

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, scale={self.scale}, ratio={self.ratio}, '
                f'interpolation={self.interpolation!r})')


@PIPELINES.register_module()
class EfficientNetRandomCrop(RandomResizedCrop):
    """MMPretrain's name for ``RandomResizedCrop(efficientnet_style=True)``: TF EfficientNet's
    distorted-bounding-box crop (see :meth:`RandomResizedCrop.get_params_efficientnet`), resized to ``scale``."""

    def __init__(self, scale: int, min_covered: float = 0.1, crop_padding: int = 32, interpolation: str = 'bicubic',
                 backend: str = 'cv2', **kwargs):
        super().__init__(scale, efficientnet_style=True, min_covered=min_covered, crop_padding=crop_padding,
                         interpolation=interpolation, backend=backend, **kwargs)


@PIPELINES.register_module()
class RandomFlip:
    """Flip with probability ``flip_prob``; sets ``results['flip']`` and ``['flip_direction']``."""

    img_layout = 'chw'

    def __init__(self, flip_prob: float = 0.5, direction: str = 'horizontal'):
        if not isinstance(flip_prob, Number) or not 0 <= flip_prob <= 1:
            raise ConfigError(f'RandomFlip: flip_prob must be in [0, 1], got {flip_prob!r}')
        check_choice('RandomFlip', 'direction', direction, ('horizontal', 'vertical'))
        self.flip_prob, self.direction = flip_prob, direction

    def __call__(self, results: dict) -> dict:
        flip = bool(torch.rand(()).item() < self.flip_prob)
        if flip:
            map_images(results, F.horizontal_flip if self.direction == 'horizontal' else F.vertical_flip)
        results['flip'], results['flip_direction'] = flip, self.direction
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(flip_prob={self.flip_prob}, direction={self.direction!r})'
