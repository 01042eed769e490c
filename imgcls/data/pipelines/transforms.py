"""Geometric steps (resize, crops, flip) and Normalize, on ``(C, H, W)`` uint8 tensors.

Arguments and behaviour follow MMClassification 0.x so its configs keep their meaning;
the pixel work is torchvision.transforms.v2.functional (antialiased resizing). All
randomness comes from torch's RNG, which the data loader seeds per worker.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Number

import numpy as np
import torch
import torch.nn.functional as TF
import torchvision.transforms.v2.functional as F
from torchvision.transforms import InterpolationMode

from ...errors import ConfigError, DataError
from ..registries import PIPELINES
from .formatting import to_chw_tensor

__all__ = ['Resize', 'CenterCrop', 'RandomCrop', 'RandomResizedCrop', 'RandomFlip', 'Normalize']

_INTERPOLATIONS = {'nearest': InterpolationMode.NEAREST, 'bilinear': InterpolationMode.BILINEAR,
                   'bicubic': InterpolationMode.BICUBIC, 'lanczos': InterpolationMode.LANCZOS,
                   'area': 'area'}
# mmcls picks cv2 or PIL; imgcls always resizes with torch, so the choice only has to be valid
_BACKENDS = ('cv2', 'pillow', 'torchvision')
_PADDING_MODES = ('constant', 'edge', 'reflect', 'symmetric')


def get_img(results: dict) -> torch.Tensor:
    """``results['img']`` as a CHW tensor (an HWC numpy array from a user's dataset is converted)."""
    if 'img' not in results:
        raise DataError(f"the pipeline has no image yet (results keys: {sorted(results)}): add a "
                        'LoadImageFromFile step first, or use a dataset that keeps images in memory')
    return to_chw_tensor(results['img'])


def set_img(results: dict, img: torch.Tensor) -> None:
    """Store ``img`` and keep ``img_shape`` (H, W, C) up to date."""
    results['img'] = img
    results['img_shape'] = (img.shape[-2], img.shape[-1], img.shape[-3])


def _uniform(low: float, high: float) -> float:
    return low + (high - low) * torch.rand(()).item()


def _randint(low: int, high: int) -> int:
    """An integer in ``[low, high]``, both ends included."""
    return int(torch.randint(low, high + 1, ()).item())


def _check_choice(step: str, name: str, value, choices) -> None:
    if value not in choices:
        raise ConfigError(f'{step}: {name}={value!r} is not one of {list(choices)}')


def _pair(step: str, name: str, value, allow_minus_one: bool = False) -> tuple[int, int]:
    """An int → (v, v); a 2-sequence (h, w) → tuple; anything else is a ConfigError."""
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    if (isinstance(pair, Sequence) and len(pair) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in pair)):
        h, w = pair
        if h > 0 and (w > 0 or (allow_minus_one and w == -1 and not isinstance(value, int))):
            return int(h), int(w)
    extra = ' or (h, -1) to keep the aspect ratio' if allow_minus_one else ''
    raise ConfigError(f'{step}: {name} must be a positive int or a pair (h, w) of positive ints{extra}, '
                      f'got {value!r}')


def resize_img(img: torch.Tensor, size: tuple[int, int], interpolation: str) -> torch.Tensor:
    """Resize a CHW tensor to ``size`` (h, w), antialiased when shrinking."""
    if tuple(img.shape[-2:]) == tuple(size):
        return img
    if interpolation == 'area':  # box average, as cv2.INTER_AREA when shrinking
        out = TF.interpolate(img[None].float(), size=size, mode='area')[0]
        return out.round_().clamp_(0, 255).to(img.dtype) if img.dtype == torch.uint8 else out
    return F.resize(img, list(size), interpolation=_INTERPOLATIONS[interpolation], antialias=True)


@PIPELINES.register_module()
class Resize:
    """Resize the image.

    Args:
        size: ``(h, w)`` for an exact size; an int ``s`` means ``(s, s)`` (as mmcls);
            ``(s, -1)`` keeps the aspect ratio and sets the side picked by ``adaptive_side``
            ('short', 'long', 'height' or 'width') to ``s``.
        interpolation: 'nearest', 'bilinear', 'bicubic', 'area' or 'lanczos'.
        backend: accepted for mmcls configs ('cv2', 'pillow'); imgcls always resizes with torch.
    """

    def __init__(self, size, interpolation: str = 'bilinear', backend: str = 'cv2',
                 adaptive_side: str = 'short'):
        self.size = _pair('Resize', 'size', size, allow_minus_one=True)
        _check_choice('Resize', 'interpolation', interpolation, _INTERPOLATIONS)
        _check_choice('Resize', 'backend', backend, _BACKENDS)
        _check_choice('Resize', 'adaptive_side', adaptive_side, ('short', 'long', 'height', 'width'))
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
        img = get_img(results)
        set_img(results, resize_img(img, self.target_size(img.shape[-2], img.shape[-1]), self.interpolation))
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, interpolation={self.interpolation!r}, '
                f'adaptive_side={self.adaptive_side!r})')


@PIPELINES.register_module()
class CenterCrop:
    """Crop the centre ``crop_size`` (int or (h, w)); a smaller image is zero-padded to that size.

    ``efficientnet_style=True`` crops ``crop_size / (crop_size + crop_padding)`` of the short
    side and resizes it to ``crop_size`` (the TF EfficientNet evaluation crop).
    """

    def __init__(self, crop_size, efficientnet_style: bool = False, crop_padding: int = 32,
                 interpolation: str = 'bilinear', backend: str = 'cv2'):
        if efficientnet_style and not isinstance(crop_size, int):
            raise ConfigError(f'CenterCrop: efficientnet_style needs an int crop_size, got {crop_size!r}')
        if crop_padding < 0:
            raise ConfigError(f'CenterCrop: crop_padding must be >= 0, got {crop_padding!r}')
        self.crop_size = _pair('CenterCrop', 'crop_size', crop_size)
        _check_choice('CenterCrop', 'interpolation', interpolation, _INTERPOLATIONS)
        _check_choice('CenterCrop', 'backend', backend, _BACKENDS)
        self.efficientnet_style, self.crop_padding = efficientnet_style, crop_padding
        self.interpolation, self.backend = interpolation, backend

    def __call__(self, results: dict) -> dict:
        img = get_img(results)
        if not self.efficientnet_style:
            set_img(results, F.center_crop(img, list(self.crop_size)))
            return results
        h, w = img.shape[-2:]
        s = self.crop_size[0]
        side = s / (s + self.crop_padding) * min(h, w)
        top, left = max(0, int(round((h - side) / 2))), max(0, int(round((w - side) / 2)))
        bottom, right = int(min(h, top + side) - 1), int(min(w, left + side) - 1)
        img = F.crop(img, top, left, bottom - top + 1, right - left + 1)
        set_img(results, resize_img(img, self.crop_size, self.interpolation))
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(crop_size={self.crop_size}, '
                f'efficientnet_style={self.efficientnet_style})')


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

    def __init__(self, size, padding=None, pad_if_needed: bool = False, pad_val=0,
                 padding_mode: str = 'constant'):
        self.size = _pair('RandomCrop', 'size', size)
        self.padding = None if padding is None else _padding4(padding)
        _check_choice('RandomCrop', 'padding_mode', padding_mode, _PADDING_MODES)
        per_channel = isinstance(pad_val, Sequence) and all(isinstance(v, Number) for v in pad_val)
        if not (isinstance(pad_val, Number) or per_channel):
            raise ConfigError(f'RandomCrop: pad_val must be a number or one per channel, got {pad_val!r}')
        self.pad_if_needed, self.pad_val, self.padding_mode = pad_if_needed, pad_val, padding_mode

    def _pad(self, img: torch.Tensor, padding: list[int]) -> torch.Tensor:
        fill = list(self.pad_val) if isinstance(self.pad_val, Sequence) else self.pad_val
        return F.pad(img, padding, fill=fill, padding_mode=self.padding_mode)

    def __call__(self, results: dict) -> dict:
        img = get_img(results)
        if self.padding is not None:
            img = self._pad(img, self.padding)
        th, tw = self.size
        if self.pad_if_needed and img.shape[-2] < th:
            img = self._pad(img, [0, th - img.shape[-2], 0, th - img.shape[-2]])
        if self.pad_if_needed and img.shape[-1] < tw:
            img = self._pad(img, [tw - img.shape[-1], 0, tw - img.shape[-1], 0])
        h, w = img.shape[-2:]
        if h < th or w < tw:
            raise DataError(f"RandomCrop: image {results.get('filename', '')} is {h}x{w} after padding, "
                            f'smaller than the crop {th}x{tw}. Set pad_if_needed=True or resize first.')
        top, left = _randint(0, h - th), _randint(0, w - tw)
        set_img(results, F.crop(img, top, left, th, tw))
        return results

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

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3. / 4., 4. / 3.), max_attempts: int = 10,
                 efficientnet_style: bool = False, min_covered: float = 0.1, crop_padding: int = 32,
                 interpolation: str = 'bilinear', backend: str = 'cv2'):
        if efficientnet_style and not isinstance(size, int):
            raise ConfigError(f'RandomResizedCrop: efficientnet_style needs an int size, got {size!r}')
        if not 0 <= min_covered <= 1:
            raise ConfigError(f'RandomResizedCrop: min_covered must be in [0, 1], got {min_covered!r}')
        self.efficientnet_style = efficientnet_style
        self.size = _pair('RandomResizedCrop', 'size', size)
        self.scale = _range('RandomResizedCrop', 'scale', scale)
        self.ratio = _range('RandomResizedCrop', 'ratio', ratio)
        if not isinstance(max_attempts, int) or max_attempts < 0:
            raise ConfigError(f'RandomResizedCrop: max_attempts must be an int >= 0, got {max_attempts!r}')
        _check_choice('RandomResizedCrop', 'interpolation', interpolation, _INTERPOLATIONS)
        _check_choice('RandomResizedCrop', 'backend', backend, _BACKENDS)
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
        img = F.crop(img, top, left, ch, cw)
        set_img(results, resize_img(img, self.size, self.interpolation))
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, scale={self.scale}, ratio={self.ratio}, '
                f'interpolation={self.interpolation!r})')


@PIPELINES.register_module()
class RandomFlip:
    """Flip with probability ``flip_prob``; sets ``results['flip']`` and ``['flip_direction']``."""

    def __init__(self, flip_prob: float = 0.5, direction: str = 'horizontal'):
        if not isinstance(flip_prob, Number) or not 0 <= flip_prob <= 1:
            raise ConfigError(f'RandomFlip: flip_prob must be in [0, 1], got {flip_prob!r}')
        _check_choice('RandomFlip', 'direction', direction, ('horizontal', 'vertical'))
        self.flip_prob, self.direction = flip_prob, direction

    def __call__(self, results: dict) -> dict:
        flip = bool(torch.rand(()).item() < self.flip_prob)
        if flip:
            img = get_img(results)
            flipped = F.horizontal_flip(img) if self.direction == 'horizontal' else F.vertical_flip(img)
            set_img(results, flipped)
        results['flip'], results['flip_direction'] = flip, self.direction
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(flip_prob={self.flip_prob}, direction={self.direction!r})'


def _float_list(step: str, name: str, value) -> list[float]:
    if isinstance(value, Number):
        value = [value]
    if isinstance(value, (Sequence, np.ndarray)) and len(value) and all(isinstance(v, Number) for v in value):
        return [float(v) for v in value]
    raise ConfigError(f'{step}: {name} must be a list of numbers (one per channel), got {value!r}')


@PIPELINES.register_module()
class Normalize:
    """``(img - mean) / std`` as float32, with mean/std in 0..255 units and in the model's channel order.

    imgcls images are always RGB, whereas mmcls images read from files were BGR (mmcv) and
    in-memory datasets (CIFAR, MNIST) RGB. ``to_rgb`` keeps its mmcls meaning: it swaps the
    channels mmcls had, which ``results['mmcls_channel_order']`` records (set to 'bgr' by
    LoadImageFromFile, 'rgb' when absent). So an ImageNet config (``to_rgb=True``) and a CIFAR
    config (``to_rgb=False``) both feed RGB to the model, as they did in mmcls.

    Normally :func:`imgcls.data.move_normalize_to_model` takes this step out of the pipeline and
    the model's data preprocessor normalizes whole batches on the device.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], to_rgb: bool = True):
        self.mean = _float_list('Normalize', 'mean', mean)
        self.std = _float_list('Normalize', 'std', std)
        if len(self.mean) != len(self.std):
            raise ConfigError(f'Normalize: mean has {len(self.mean)} values but std has {len(self.std)}')
        if any(s == 0 for s in self.std):
            raise ConfigError(f'Normalize: std must not contain 0, got {self.std}')
        self.to_rgb = bool(to_rgb)
        self._mean = torch.tensor(self.mean, dtype=torch.float32).view(-1, 1, 1)
        self._std = torch.tensor(self.std, dtype=torch.float32).view(-1, 1, 1)

    def __call__(self, results: dict) -> dict:
        img = get_img(results)
        c = img.shape[0]
        if len(self.mean) not in (1, c):
            raise DataError(f"Normalize: {len(self.mean)} mean values for an image with {c} channels "
                            f"({results.get('filename', '')})")
        source_is_rgb = results.get('mmcls_channel_order', 'rgb') == 'rgb'
        if c == 3 and self.to_rgb == source_is_rgb:  # the model wants BGR
            img = img.flip(0)
        set_img(results, (img.float() - self._mean) / self._std)
        results['img_norm_cfg'] = dict(mean=np.array(self.mean, dtype=np.float32),
                                       std=np.array(self.std, dtype=np.float32), to_rgb=self.to_rgb)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(mean={self.mean}, std={self.std}, to_rgb={self.to_rgb})'
