"""Normalize (mmcls 0.x), normally moved out of the pipeline into the model's data preprocessor."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Number

import numpy as np
import torch

from ...errors import ConfigError, DataError
from ..registries import PIPELINES
from .images import get_img, map_images

__all__ = ['Normalize']


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

    img_layout = 'chw'

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
        c = get_img(results).shape[0]
        if len(self.mean) not in (1, c):
            raise DataError(f"Normalize: {len(self.mean)} mean values for an image with {c} channels "
                            f"({results.get('filename', '')})")
        source_is_rgb = results.get('mmcls_channel_order', 'rgb') == 'rgb'
        flip = c == 3 and self.to_rgb == source_is_rgb  # the model wants BGR
        map_images(results, lambda img: ((img.flip(0) if flip else img).float() - self._mean) / self._std)
        results['img_norm_cfg'] = dict(mean=np.array(self.mean, dtype=np.float32),
                                       std=np.array(self.std, dtype=np.float32), to_rgb=self.to_rgb)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(mean={self.mean}, std={self.std}, to_rgb={self.to_rgb})'
