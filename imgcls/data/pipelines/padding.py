"""Pad (mmcls 0.x): pad the image at the bottom and right to a size or to a square."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Number

import torchvision.transforms.v2.functional as F

from ...errors import ConfigError, DataError
from ..registries import PIPELINES
from .images import get_img, in_rgb_order, map_images
from .resize import size_pair
from .transforms import _PADDING_MODES

__all__ = ['Pad']


@PIPELINES.register_module()
class Pad:
    """Pad to ``size`` ((h, w) or an int for a square) or, with ``pad_to_square``, to a square of
    the longer side. New pixels go below and to the right, as mmcv's ``impad``.

    Args:
        pad_val: fill for 'constant' padding: a number or one per channel.
        padding_mode: 'constant', 'edge', 'reflect' or 'symmetric'.
    """

    img_layout = 'chw'

    def __init__(self, size=None, pad_to_square: bool = False, pad_val=0, padding_mode: str = 'constant'):
        if (size is None) == (not pad_to_square):
            raise ConfigError(f'Pad: give exactly one of size and pad_to_square=True, got size={size!r}, '
                              f'pad_to_square={pad_to_square!r}')
        self.size = None if size is None else size_pair('Pad', 'size', size)
        self.pad_to_square = bool(pad_to_square)
        per_channel = isinstance(pad_val, Sequence) and all(isinstance(v, Number) for v in pad_val)
        if not (isinstance(pad_val, Number) or per_channel):
            raise ConfigError(f'Pad: pad_val must be a number or one per channel, got {pad_val!r}')
        if padding_mode not in _PADDING_MODES:
            raise ConfigError(f'Pad: padding_mode={padding_mode!r} is not one of {list(_PADDING_MODES)}')
        self.pad_val, self.padding_mode = pad_val, padding_mode

    def __call__(self, results: dict) -> dict:
        img = get_img(results)
        h, w = img.shape[-2:]
        th, tw = (max(h, w), max(h, w)) if self.pad_to_square else self.size
        if th < h or tw < w:
            raise DataError(f"Pad: image {results.get('filename', '')} is {h}x{w}, larger than the pad size "
                            f'{th}x{tw}; resize or crop it first')
        if (th, tw) != (h, w):
            fill = in_rgb_order(list(self.pad_val) if isinstance(self.pad_val, Sequence) else self.pad_val, results)
            map_images(results, lambda img: F.pad(img, [0, 0, tw - w, th - h], fill=fill,
                                                  padding_mode=self.padding_mode))
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, pad_to_square={self.pad_to_square}, '
                f'pad_val={self.pad_val}, padding_mode={self.padding_mode!r})')
