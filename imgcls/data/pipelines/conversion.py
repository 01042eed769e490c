"""mmcls 0.x steps that change what an image *is* (Transpose, ToPIL, ToNumpy, ToHalf).

They work on mmcls's layout (HWC numpy, see :mod:`imgcls.data.pipelines.images`), as they did in
mmcls, so a 0.x pipeline that hands images to its own steps as PIL images or float arrays keeps
working. At the end of the pipeline the images become CHW tensors again for the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from ...errors import ConfigError, DataError
from ..registries import PIPELINES
from .images import image_keys

__all__ = ['Transpose', 'ToPIL', 'ToNumpy', 'ToHalf']


def _keys(step: str, keys) -> tuple[str, ...]:
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(keys, Sequence) or not keys or not all(isinstance(k, str) for k in keys):
        raise ConfigError(f"{step}: keys must be a non-empty list of str such as ['img'], got {keys!r}")
    return tuple(keys)


def _get(results: dict, key: str, step: str):
    if key not in results:
        raise DataError(f'{step}: results has no key {key!r} (keys: {sorted(results)}). Check the order of '
                        f'the pipeline steps and the keys given to {step}.')
    return results[key]


@PIPELINES.register_module()
class Transpose:
    """Permute the axes of ``results[k]`` by ``order`` (numpy ``transpose`` / torch ``permute``).

    mmcls pipelines use ``Transpose(keys=['img'], order=(2, 0, 1))`` to turn an HWC image into
    the CHW one the model takes. imgcls images leave every pipeline as CHW tensors anyway, so on
    an image key that order is the only one allowed, and it leaves the image as it is.
    """

    img_layout = 'chw'

    def __init__(self, keys: Sequence[str], order: Sequence[int]):
        self.keys = _keys('Transpose', keys)
        if not (isinstance(order, Sequence) and order and all(isinstance(i, int) for i in order)
                and sorted(order) == list(range(len(order)))):
            raise ConfigError(f'Transpose: order must be a permutation of the axes such as (2, 0, 1), got {order!r}')
        self.order = tuple(order)

    def __call__(self, results: dict) -> dict:
        images = set(image_keys(results))
        for key in self.keys:
            value = _get(results, key, 'Transpose')
            if key in images:
                if self.order != (2, 0, 1):
                    raise ConfigError(f"Transpose: images ({key!r}) are (C, H, W) tensors in imgcls; the only "
                                      f'order allowed on them is (2, 0, 1) (HWC to CHW), got {self.order}')
                continue
            if isinstance(value, torch.Tensor):
                results[key] = value.permute(*self.order)
            else:
                results[key] = np.asarray(value).transpose(self.order)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(keys={list(self.keys)}, order={list(self.order)})'


@PIPELINES.register_module()
class ToPIL:
    """``results['img']`` as a PIL image (of the HWC array mmcls had, in its channel order), for steps that
    take PIL images."""

    img_layout = 'hwc'

    def __call__(self, results: dict) -> dict:
        img = _get(results, 'img', 'ToPIL')
        if not isinstance(img, Image.Image):
            results['img'] = Image.fromarray(np.asarray(img))
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}()'


@PIPELINES.register_module()
class ToNumpy:
    """``results['img']`` (a PIL image or array) as a float32 HWC numpy array, as mmcls."""

    img_layout = 'hwc'

    def __call__(self, results: dict) -> dict:
        results['img'] = np.array(_get(results, 'img', 'ToNumpy'), dtype=np.float32)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}()'


@PIPELINES.register_module()
class ToHalf:
    """Convert ``results[k]`` (tensor or array) to float16, as mmcls's IPU configs do.

    A uint8 image is left as it is: imgcls converts image batches on the model's device (where
    ``fp16`` in the config makes them half precision), and a half image would skip the model's
    normalization.
    """

    img_layout = 'chw'

    def __init__(self, keys: Sequence[str]):
        self.keys = _keys('ToHalf', keys)

    def __call__(self, results: dict) -> dict:
        for key in self.keys:
            value = _get(results, key, 'ToHalf')
            if isinstance(value, torch.Tensor):
                if value.dtype != torch.uint8:
                    results[key] = value.half()
            elif not (isinstance(value, np.ndarray) and value.dtype == np.uint8):
                results[key] = np.asarray(value).astype(np.float16)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(keys={list(self.keys)})'
