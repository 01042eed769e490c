"""The single operations of mmcls 0.x AutoAugment / RandAugment, on uint8 CHW tensors.

Each step applies with probability ``prob``; steps with a signed magnitude negate it with
probability ``random_negative_prob``. Magnitudes mean what they mean in mmcls (mmcv): a shear
factor (x += m * y), a translation as a fraction of the image side, a clockwise angle in
degrees, an enhancement factor of ``1 + m``. Warps map pixels as mmcv's ``cv2.warpAffine`` calls did
(pixel centres at integer coordinates, rotation about ``((w - 1) / 2, (h - 1) / 2)``, the border
filled with ``pad_val``), sampled by ``torch.nn.functional.grid_sample`` in the asked mode (bicubic
with OpenCV's kernel, a = -0.75). The other pixel work is torchvision.transforms.v2.functional.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from numbers import Number

import torch
import torch.nn.functional as TF
import torchvision.transforms.v2.functional as F

from ...errors import ConfigError
from ..registries import PIPELINES
from .images import in_rgb_order, map_images

__all__ = ['Shear', 'Translate', 'Rotate', 'AutoContrast', 'Invert', 'Equalize', 'Solarize', 'SolarizeAdd',
           'Posterize', 'Contrast', 'ColorTransform', 'Brightness', 'Sharpness', 'Cutout']

_WARP_MODES = ('nearest', 'bilinear', 'bicubic')


def _number(step: str, name: str, value, low: float | None = None, high: float | None = None) -> float:
    ok = isinstance(value, Number) and not isinstance(value, bool)
    if ok and (low is None or value >= low) and (high is None or value <= high):
        return float(value)
    bounds = ' and '.join(b for b in (f'>= {low}' if low is not None else '',
                                      f'<= {high}' if high is not None else '') if b)
    raise ConfigError(f'{step}: {name} must be a number{" " + bounds if bounds else ""}, got {value!r}')


def _fill(step: str, pad_val) -> float | list[float]:
    if isinstance(pad_val, Number) and not isinstance(pad_val, bool):
        return float(pad_val)
    if isinstance(pad_val, Sequence) and pad_val and all(isinstance(v, Number) for v in pad_val):
        return [float(v) for v in pad_val]
    raise ConfigError(f'{step}: pad_val must be a number or one per channel, got {pad_val!r}')


def _fill_for(fill, channels: int):
    """A per-channel fill list trimmed or broadcast to the image's channels."""
    if isinstance(fill, float):
        return fill
    return fill[:channels] if len(fill) >= channels else fill[:1] * channels


class _Op:
    """Applies ``apply(img)`` with probability ``prob``, to every image of ``img_fields`` alike."""

    img_layout = 'chw'
    uint8_only = True  # defined on 8-bit values: a float image (to_float32=True) is rounded for it

    def __init__(self, prob: float = 0.5, random_negative_prob: float = 0.5):
        name = type(self).__name__
        self.prob = _number(name, 'prob', prob, 0, 1)
        self.random_negative_prob = _number(name, 'random_negative_prob', random_negative_prob, 0, 1)
        self._negative = self._bgr = False

    def signed(self, value: float) -> float:
        """``value`` negated when this call drew a negative sign (probability ``random_negative_prob``)."""
        return -value if self._negative else value

    def apply(self, img: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, results: dict) -> dict:
        if self.prob < 1 and torch.rand(()).item() >= self.prob:
            return results
        # one sign per call, so that every image of img_fields gets the same change
        self._negative = torch.rand(()).item() < self.random_negative_prob
        self._bgr = results.get('mmcls_channel_order', 'rgb') == 'bgr'
        return map_images(results, self._apply_any)

    def fill_for(self, fill, channels: int):
        """``fill`` for an image of ``channels``, in RGB order (mmcls gave it in its own channel order)."""
        fill = _fill_for(fill, channels)
        return in_rgb_order(fill, {'mmcls_channel_order': 'bgr' if self._bgr else 'rgb'})

    def _apply_any(self, img: torch.Tensor) -> torch.Tensor:
        if img.dtype == torch.uint8 or not self.uint8_only:
            return self.apply(img)
        return self.apply(img.round().clamp(0, 255).to(torch.uint8)).to(img.dtype)

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in vars(self).items() if not k.startswith('_'))
        return f'{type(self).__name__}({args})'


class _Warp(_Op):
    uint8_only = False

    def __init__(self, pad_val=128, prob: float = 0.5, random_negative_prob: float = 0.5,
                 interpolation: str = 'nearest'):
        super().__init__(prob, random_negative_prob)
        self.pad_val = _fill(type(self).__name__, pad_val)
        if interpolation not in _WARP_MODES:
            raise ConfigError(f'{type(self).__name__}: interpolation={interpolation!r} is not one of '
                              f'{list(_WARP_MODES)}')
        self.interpolation = interpolation

    def warp(self, img: torch.Tensor, matrix: list[list[float]]) -> torch.Tensor:
        """``img`` warped by the forward 2x3 ``matrix`` (x', y' from x, y), filled with ``pad_val``."""
        return warp_affine(img, matrix, self.interpolation, self.fill_for(self.pad_val, img.shape[0]))


def warp_affine(img: torch.Tensor, matrix: list[list[float]], mode: str, fill) -> torch.Tensor:
    """Warp a CHW image as ``cv2.warpAffine(img, matrix, (w, h), flags=mode, borderValue=fill)``."""
    c, h, w = img.shape
    inverse = torch.linalg.inv(torch.tensor([*matrix, [0.0, 0.0, 1.0]], dtype=torch.float64))
    # the same map in grid_sample's coordinates (align_corners=True: -1 and 1 are the centres of the first and
    # last pixels, as integer coordinates are here): to_grid @ inverse @ from_grid
    sx, sy = max(w - 1, 1) / 2, max(h - 1, 1) / 2
    from_grid = torch.tensor([[sx, 0.0, sx], [0.0, sy, sy], [0.0, 0.0, 1.0]], dtype=torch.float64)
    to_grid = torch.tensor([[1 / sx, 0.0, -1.0], [0.0, 1 / sy, -1.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    theta = (to_grid @ inverse @ from_grid)[:2].float()[None]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # a 1-pixel side: torch notes its grid is 0 there, which is what we want
        grid = TF.affine_grid(theta, [1, c, h, w], align_corners=True)
    fill_t = torch.as_tensor(fill, dtype=torch.float32).reshape(1, -1, 1, 1).expand(1, c, 1, 1)
    # sampling (img - fill) with zero padding, then adding fill back, is sampling img with a constant border
    out = TF.grid_sample(img[None].float() - fill_t, grid, mode=mode, padding_mode='zeros',
                         align_corners=True) + fill_t
    return out[0].round_().clamp_(0, 255).to(torch.uint8) if img.dtype == torch.uint8 else out[0]


def _direction(step: str, direction: str) -> str:
    if direction not in ('horizontal', 'vertical'):
        raise ConfigError(f"{step}: direction={direction!r} is not one of ['horizontal', 'vertical']")
    return direction


@PIPELINES.register_module()
class Shear(_Warp):
    """Shear by factor ``magnitude`` about the top-left corner: x += m * y (or y += m * x)."""

    def __init__(self, magnitude: float, pad_val=128, prob: float = 0.5, direction: str = 'horizontal',
                 random_negative_prob: float = 0.5, interpolation: str = 'bicubic'):
        super().__init__(pad_val, prob, random_negative_prob, interpolation)
        self.magnitude = _number('Shear', 'magnitude', magnitude)
        self.direction = _direction('Shear', direction)

    def apply(self, img: torch.Tensor) -> torch.Tensor:
        m = self.signed(self.magnitude)
        matrix = [[1.0, m, 0.0], [0.0, 1.0, 0.0]] if self.direction == 'horizontal' else [[1.0, 0.0, 0.0],
                                                                                           [m, 1.0, 0.0]]
        return self.warp(img, matrix)


@PIPELINES.register_module()
class Translate(_Warp):
    """Shift by ``magnitude`` times the image width (or height), filling with ``pad_val``."""

    def __init__(self, magnitude: float, pad_val=128, prob: float = 0.5, direction: str = 'horizontal',
                 random_negative_prob: float = 0.5, interpolation: str = 'nearest'):
        super().__init__(pad_val, prob, random_negative_prob, interpolation)
        self.magnitude = _number('Translate', 'magnitude', magnitude)
        self.direction = _direction('Translate', direction)

    def apply(self, img: torch.Tensor) -> torch.Tensor:
        m = self.signed(self.magnitude)
        h, w = img.shape[-2:]
        dx, dy = (m * w, 0.0) if self.direction == 'horizontal' else (0.0, m * h)
        return self.warp(img, [[1.0, 0.0, dx], [0.0, 1.0, dy]])


@PIPELINES.register_module()
class Rotate(_Warp):
    """Rotate clockwise by ``angle`` degrees about ``center`` ((x, y); default: the centre), zoomed by ``scale``."""

    def __init__(self, angle: float, center=None, scale: float = 1.0, pad_val=128, prob: float = 0.5,
                 random_negative_prob: float = 0.5, interpolation: str = 'nearest'):
        super().__init__(pad_val, prob, random_negative_prob, interpolation)
        self.angle = _number('Rotate', 'angle', angle)
        self.scale = _number('Rotate', 'scale', scale, low=1e-6)
        if center is not None and not (isinstance(center, Sequence) and len(center) == 2):
            raise ConfigError(f'Rotate: center must be None or (x, y), got {center!r}')
        self.center = None if center is None else [float(c) for c in center]

    def apply(self, img: torch.Tensor) -> torch.Tensor:
        h, w = img.shape[-2:]
        cx, cy = self.center if self.center is not None else ((w - 1) * 0.5, (h - 1) * 0.5)
        # cv2.getRotationMatrix2D(center, -angle, scale): clockwise on screen, where y points down
        theta = math.radians(-self.signed(self.angle))
        a, b = self.scale * math.cos(theta), self.scale * math.sin(theta)
        return self.warp(img, [[a, b, (1 - a) * cx - b * cy], [-b, a, b * cx + (1 - a) * cy]])


class _Plain(_Op):
    def __init__(self, prob: float = 0.5):
        super().__init__(prob, 0.0)


@PIPELINES.register_module()
class AutoContrast(_Plain):
    """Stretch each channel to the full 0..255 range."""

    def apply(self, img: torch.Tensor) -> torch.Tensor:
        return F.autocontrast(img)


@PIPELINES.register_module()
class Invert(_Plain):
    """255 - pixel."""

    def apply(self, img: torch.Tensor) -> torch.Tensor:
        return F.invert(img)


@PIPELINES.register_module()
class Equalize(_Plain):
    """Equalize each channel's histogram."""

    def apply(self, img: torch.Tensor) -> torch.Tensor:
        return F.equalize(img)


@PIPELINES.register_module()
class Solarize(_Plain):
    """Invert the pixels >= ``thr``."""

    def __init__(self, thr: float, prob: float = 0.5):
        super().__init__(prob)
        self.thr = _number('Solarize', 'thr', thr)

    def apply(self, img: torch.Tensor) -> torch.Tensor:
        return torch.where(img >= self.thr, 255 - img, img)


@PIPELINES.register_module()
class SolarizeAdd(_Plain):
    """Add ``magnitude`` to the pixels < ``thr`` (clipped at 255)."""

    def __init__(self, magnitude: float, thr: float = 128, prob: float = 0.5):
        super().__init__(prob)
        self.magnitude = _number('SolarizeAdd', 'magnitude', magnitude)
        self.thr = _number('SolarizeAdd', 'thr', thr)

    def apply(self, img: torch.Tensor) -> torch.Tensor:
        added = (img.to(torch.int16) + round(self.magnitude)).clamp_(0, 255).to(img.dtype)
        return torch.where(img < self.thr, added, img)


@PIPELINES.register_module()
class Posterize(_Plain):
    """Keep the ``ceil(bits)`` highest bits of each pixel."""

    def __init__(self, bits: float, prob: float = 0.5):
        super().__init__(prob)
        self.bits = math.ceil(_number('Posterize', 'bits', bits, 0, 8))

    def apply(self, img: torch.Tensor) -> torch.Tensor:
        return F.posterize(img, self.bits)


class _Enhance(_Op):
    """Blend with a degenerate image by factor ``1 + magnitude`` (PIL ImageEnhance semantics)."""

    def __init__(self, magnitude: float, prob: float = 0.5, random_negative_prob: float = 0.5):
        super().__init__(prob, random_negative_prob)
        self.magnitude = _number(type(self).__name__, 'magnitude', magnitude)

    def factor(self) -> float:
        return max(0.0, 1.0 + self.signed(self.magnitude))


@PIPELINES.register_module()
class Contrast(_Enhance):
    """Scale the contrast around the mean grey level."""

    def apply(self, img: torch.Tensor) -> torch.Tensor:
        return F.adjust_contrast(img, self.factor())


@PIPELINES.register_module()
class ColorTransform(_Enhance):
    """Scale the colour saturation (blend with the grey image)."""

    def apply(self, img: torch.Tensor) -> torch.Tensor:
        factor = self.factor()
        return F.adjust_saturation(img, factor) if img.shape[0] == 3 else img


@PIPELINES.register_module()
class Brightness(_Enhance):
    """Scale the brightness (blend with black)."""

    def apply(self, img: torch.Tensor) -> torch.Tensor:
        return F.adjust_brightness(img, self.factor())


@PIPELINES.register_module()
class Sharpness(_Enhance):
    """Scale the sharpness (blend with a smoothed image)."""

    def apply(self, img: torch.Tensor) -> torch.Tensor:
        return F.adjust_sharpness(img, self.factor())


@PIPELINES.register_module()
class Cutout(_Plain):
    """Fill a ``shape`` (h, w; an int or float for a square) box with ``pad_val``; the box's
    top-left corner is uniform over the image and the box is clipped at the borders."""

    def __init__(self, shape, pad_val=128, prob: float = 0.5):
        super().__init__(prob)
        pair = (shape, shape) if isinstance(shape, Number) else shape
        if not (isinstance(pair, Sequence) and len(pair) == 2 and all(isinstance(v, Number) and v > 0 for v in pair)):
            raise ConfigError(f'Cutout: shape must be a positive number or (h, w), got {shape!r}')
        self.shape = (int(pair[0]), int(pair[1]))
        self.pad_val = _fill('Cutout', pad_val)

    def apply(self, img: torch.Tensor) -> torch.Tensor:
        h, w = img.shape[-2:]
        top, left = int(torch.randint(0, h, ())), int(torch.randint(0, w, ()))
        fill = torch.tensor(self.fill_for(self.pad_val, img.shape[0]), dtype=torch.float32).reshape(-1, 1, 1)
        out = img.clone()
        out[:, top:top + self.shape[0], left:left + self.shape[1]] = fill.round().clamp(0, 255).to(img.dtype)
        return out
