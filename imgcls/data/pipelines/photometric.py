"""Colour steps: ColorJitter, Lighting (AlexNet PCA noise) and RandomGrayscale, on uint8 CHW tensors.

Randomness comes from torch's RNG, which the data loader seeds per sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Number

import torch
import torchvision.transforms.v2 as T

from ...errors import ConfigError, DataError
from ..registries import PIPELINES
from .images import get_img, map_images

__all__ = ['ColorJitter', 'Lighting', 'RandomGrayscale']


def _non_negative(step: str, name: str, value, high: float | None = None) -> float:
    if isinstance(value, Number) and not isinstance(value, bool) and value >= 0 and (high is None or value <= high):
        return float(value)
    bound = f' and <= {high}' if high is not None else ''
    raise ConfigError(f'{step}: {name} must be a number >= 0{bound}, got {value!r}')


@PIPELINES.register_module()
class ColorJitter:
    """Random brightness, contrast, saturation and hue changes (torchvision.transforms.v2.ColorJitter).

    Each factor is drawn uniformly from ``[max(0, 1 - x), 1 + x]`` (hue: a shift in
    ``[-hue, hue]`` of the colour wheel, ``hue <= 0.5``) and the changes run in random order.
    """

    img_layout = 'chw'

    def __init__(self, brightness: float = 0., contrast: float = 0., saturation: float = 0., hue: float = 0.):
        self.brightness = _non_negative('ColorJitter', 'brightness', brightness)
        self.contrast = _non_negative('ColorJitter', 'contrast', contrast)
        self.saturation = _non_negative('ColorJitter', 'saturation', saturation)
        self.hue = _non_negative('ColorJitter', 'hue', hue, high=0.5)
        self._jitter = T.ColorJitter(brightness=self.brightness or None, contrast=self.contrast or None,
                                     saturation=self.saturation or None, hue=self.hue or None)

    def __call__(self, results: dict) -> dict:
        img = get_img(results)
        if img.shape[0] != 3 and (self.saturation or self.hue):
            raise DataError(f"ColorJitter: saturation and hue need a 3-channel image, got {img.shape[0]} channels "
                            f"({results.get('filename', '')})")
        return map_images(results, self._jitter)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(brightness={self.brightness}, contrast={self.contrast}, '
                f'saturation={self.saturation}, hue={self.hue})')


def _matrix(step: str, name: str, value, shape: tuple[int, ...]) -> torch.Tensor:
    try:
        t = torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError):
        t = None
    if t is None or tuple(t.shape) != shape:
        raise ConfigError(f'{step}: {name} must be numbers of shape {shape}, got {value!r}')
    return t


@PIPELINES.register_module()
class Lighting:
    """AlexNet-style PCA lighting noise on uint8 RGB images (output stays uint8).

    Adds ``eigvec @ (alpha * eigval)`` to every pixel, with ``alpha ~ N(0, alphastd)`` per
    eigenvalue; ``eigval`` (3,) and ``eigvec`` (3, 3, one eigenvector per column) in 0..255
    units. ``to_rgb`` keeps its mmcls meaning (see Normalize): mmcls reversed the channel order
    (BGR from a file became RGB) and then added the noise in the new order; the reversal is
    recorded in ``results['mmcls_channel_order']`` for the Normalize steps that follow (as the
    RegNet configs rely on). imgcls images stay RGB either way.
    """

    img_layout = 'chw'

    def __init__(self, eigval: Sequence[float], eigvec: Sequence[Sequence[float]], alphastd: float = 0.1,
                 to_rgb: bool = True):
        self.eigval = _matrix('Lighting', 'eigval', eigval, (3,))
        self.eigvec = _matrix('Lighting', 'eigvec', eigvec, (3, 3))
        self.alphastd = _non_negative('Lighting', 'alphastd', alphastd)
        self.to_rgb = bool(to_rgb)

    def __call__(self, results: dict) -> dict:
        img = get_img(results)
        if img.shape[0] != 3:
            raise DataError(f"Lighting needs a 3-channel image, got {img.shape[0]} channels "
                            f"({results.get('filename', '')})")
        alpha = torch.randn(3, dtype=torch.float64) * self.alphastd
        alter = (self.eigvec @ (alpha * self.eigval)).float()
        order = results.get('mmcls_channel_order', 'rgb')
        if self.to_rgb:  # mmcv's adjust_lighting reversed the channels it was given before adding the noise
            order = 'rgb' if order == 'bgr' else 'bgr'
            results['mmcls_channel_order'] = order
        if order == 'bgr':
            alter = alter.flip(0)  # mmcls added the noise in BGR order here

        def add(img: torch.Tensor) -> torch.Tensor:
            out = img.float() + alter.view(3, 1, 1)
            return out.round_().clamp_(0, 255).to(torch.uint8) if img.dtype == torch.uint8 else out
        return map_images(results, add)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(eigval={self.eigval.tolist()}, eigvec={self.eigvec.tolist()}, '
                f'alphastd={self.alphastd}, to_rgb={self.to_rgb})')


@PIPELINES.register_module()
class RandomGrayscale:
    """With probability ``gray_prob``, replace the image by its luma, keeping its number of channels."""

    img_layout = 'chw'

    def __init__(self, gray_prob: float = 0.1):
        self.gray_prob = _non_negative('RandomGrayscale', 'gray_prob', gray_prob, high=1.0)
        self._gray = T.RandomGrayscale(p=self.gray_prob)

    def __call__(self, results: dict) -> dict:
        if get_img(results).shape[0] == 3:
            map_images(results, self._gray)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(gray_prob={self.gray_prob})'
