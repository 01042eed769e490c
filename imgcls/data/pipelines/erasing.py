"""RandomErasing (Zhong et al. 2017) with mmcls 0.x arguments, on uint8 CHW tensors."""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Number

import torch

from ...errors import ConfigError
from ..registries import PIPELINES
from .images import get_img, in_rgb_order, map_images

__all__ = ['RandomErasing']


def _numbers(name: str, value, allow_none: bool = False) -> list[float] | None:
    if value is None and allow_none:
        return None
    if isinstance(value, Number) and not isinstance(value, bool):
        return [float(value)]
    if isinstance(value, Sequence) and value and all(isinstance(v, Number) for v in value):
        return [float(v) for v in value]
    raise ConfigError(f'RandomErasing: {name} must be a number or one per channel, got {value!r}')


def _per_channel(values: list[float], channels: int) -> torch.Tensor:
    if len(values) == 1:
        values = values * channels
    return torch.tensor(values[:channels] if len(values) >= channels else values[:1] * channels).view(-1, 1, 1)


@PIPELINES.register_module()
class RandomErasing:
    """With probability ``erase_prob``, fill a random rectangle of the image.

    As mmcls 0.x: the rectangle covers a fraction of the area drawn uniformly from
    ``[min_area_ratio, max_area_ratio]``, with an aspect ratio (h / w) drawn log-uniformly from
    ``aspect_range`` (one draw; sides rounded and cut to the image), at a random place. Fill values
    are truncated to integers as mmcls's uint8 casts did.
    ``mode='const'`` fills with ``fill_color``; ``mode='rand'`` fills every pixel with a random
    colour: ``N(fill_color, fill_std)`` when ``fill_std`` is given, else uniform in 0..255.

    Values are in 0..255 units on the uint8 image, given in mmcls's channel order at this step:
    the Swin / DeiT configs erase before Normalize with ``fill_color=mean[::-1]`` (BGR, as mmcv read
    the file), which imgcls reverses for its RGB images (a patch of the mean colour).
    """

    img_layout = 'chw'

    def __init__(self, erase_prob: float = 0.5, min_area_ratio: float = 0.02, max_area_ratio: float = 0.4,
                 aspect_range=(3 / 10, 10 / 3), mode: str = 'const', fill_color=(128, 128, 128), fill_std=None):
        if not isinstance(erase_prob, Number) or not 0 <= erase_prob <= 1:
            raise ConfigError(f'RandomErasing: erase_prob must be in [0, 1], got {erase_prob!r}')
        if not (isinstance(min_area_ratio, Number) and isinstance(max_area_ratio, Number)
                and 0 <= min_area_ratio <= max_area_ratio <= 1):
            raise ConfigError(f'RandomErasing: need 0 <= min_area_ratio <= max_area_ratio <= 1, got '
                              f'{min_area_ratio!r} and {max_area_ratio!r}')
        if isinstance(aspect_range, Number):
            aspect_range = (min(aspect_range, 1 / aspect_range), max(aspect_range, 1 / aspect_range))
        if not (isinstance(aspect_range, Sequence) and len(aspect_range) == 2
                and all(isinstance(v, Number) and v > 0 for v in aspect_range) and aspect_range[0] <= aspect_range[1]):
            raise ConfigError(f'RandomErasing: aspect_range must be (min, max) with 0 < min <= max, '
                              f'got {aspect_range!r}')
        if mode not in ('const', 'rand'):
            raise ConfigError(f"RandomErasing: mode={mode!r} is not one of ['const', 'rand']")
        self.erase_prob, self.mode = float(erase_prob), mode
        self.min_area_ratio, self.max_area_ratio = float(min_area_ratio), float(max_area_ratio)
        self.aspect_range = (float(aspect_range[0]), float(aspect_range[1]))
        self.fill_color = _numbers('fill_color', fill_color)
        self.fill_std = _numbers('fill_std', fill_std, allow_none=True)

    def _box(self, h: int, w: int) -> tuple[int, int, int, int]:
        log_lo, log_hi = math.log(self.aspect_range[0]), math.log(self.aspect_range[1])
        u = torch.rand(2).tolist()
        aspect = math.exp(log_lo + (log_hi - log_lo) * u[0])
        area = h * w * (self.min_area_ratio + (self.max_area_ratio - self.min_area_ratio) * u[1])
        eh, ew = min(int(round(math.sqrt(area * aspect))), h), min(int(round(math.sqrt(area / aspect))), w)
        # mmcls drew the corner with numpy's randint, whose upper end is excluded
        top = int(torch.randint(0, h - eh, ())) if h > eh else 0
        left = int(torch.randint(0, w - ew, ())) if w > ew else 0
        return top, left, eh, ew

    def _fill(self, img: torch.Tensor, eh: int, ew: int, results: dict) -> torch.Tensor:
        c = img.shape[0]
        color = _per_channel(in_rgb_order(self.fill_color, results), c)
        if self.mode == 'const':
            patch = color.expand(c, eh, ew)
        elif self.fill_std is None:
            patch = torch.rand(c, eh, ew) * 256.0
        else:
            patch = color + _per_channel(in_rgb_order(self.fill_std, results), c) * torch.randn(c, eh, ew)
        return patch.trunc().clamp(0, 255).to(img.dtype)

    def __call__(self, results: dict) -> dict:
        if torch.rand(()).item() >= self.erase_prob:
            return results
        img = get_img(results)
        top, left, eh, ew = self._box(img.shape[-2], img.shape[-1])

        def erase(img: torch.Tensor) -> torch.Tensor:
            img = img.clone()
            img[:, top:top + eh, left:left + ew] = self._fill(img, eh, ew, results)
            return img
        return map_images(results, erase)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(erase_prob={self.erase_prob}, min_area_ratio={self.min_area_ratio}, '
                f'max_area_ratio={self.max_area_ratio}, aspect_range={self.aspect_range}, mode={self.mode!r}, '
                f'fill_color={self.fill_color}, fill_std={self.fill_std})')
