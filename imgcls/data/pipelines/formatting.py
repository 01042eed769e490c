"""Steps that shape the results dict for the model: tensors and ``Collect``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from ...errors import ConfigError, DataError
from ..registries import PIPELINES

__all__ = ['ImageToTensor', 'ToTensor', 'Collect', 'to_chw_tensor', 'to_tensor']


def to_chw_tensor(img: Any, key: str = 'img') -> torch.Tensor:
    """Return ``img`` as a ``(C, H, W)`` tensor.

    Tensors are taken to be CHW already (2-D ones get a channel axis); numpy arrays and PIL
    images are taken to be HWC (or HW) and are transposed, without copying where possible.
    """
    if isinstance(img, torch.Tensor):
        if img.ndim == 2:
            return img.unsqueeze(0)
        if img.ndim == 3:
            return img
        raise DataError(f"results['{key}'] must be a (C, H, W) image tensor, got shape {tuple(img.shape)}")
    if not isinstance(img, np.ndarray):
        if isinstance(img, Image.Image):
            img = np.asarray(img)
        else:
            raise DataError(f"results['{key}'] must be an image tensor or array, got {type(img).__name__}")
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3:
        raise DataError(f"results['{key}'] must be an (H, W, C) array, got shape {img.shape}")
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


def to_tensor(data: Any, key: str = '?') -> torch.Tensor:
    """Convert a tensor, numpy array/scalar, sequence, int or float to a tensor."""
    if isinstance(data, torch.Tensor):
        return data
    if isinstance(data, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(data))
    if isinstance(data, (np.generic, int, float, bool)):
        return torch.as_tensor(data)  # 0-d, so a batch of labels stacks to (N,)
    if isinstance(data, Sequence) and not isinstance(data, str):
        return torch.as_tensor(data)
    raise DataError(f"ToTensor: results['{key}'] of type {type(data).__name__} cannot become a tensor")


def _check_keys(keys: Any, step: str) -> tuple[str, ...]:
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(keys, Sequence) or not all(isinstance(k, str) for k in keys):
        raise ConfigError(f"{step}: keys must be a list of str such as ['img'], got {keys!r}")
    return tuple(keys)


def _missing(results: dict, key: str, step: str) -> DataError:
    return DataError(f"{step}: results has no key {key!r} (keys: {sorted(results)}). Check the order "
                     f'of the pipeline steps and the keys given to {step}.')


@PIPELINES.register_module()
class ImageToTensor:
    """Make ``results[k]`` a ``(C, H, W)`` tensor (HWC numpy arrays are transposed)."""

    img_layout = 'chw'

    def __init__(self, keys: Sequence[str]):
        self.keys = _check_keys(keys, 'ImageToTensor')

    def __call__(self, results: dict) -> dict:
        for key in self.keys:
            if key not in results:
                raise _missing(results, key, 'ImageToTensor')
            results[key] = to_chw_tensor(results[key], key)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(keys={list(self.keys)})'


@PIPELINES.register_module()
class ToTensor:
    """Convert ``results[k]`` (numpy, int, float, sequence) to a tensor; ints become 0-d tensors."""

    img_layout = 'chw'

    def __init__(self, keys: Sequence[str]):
        self.keys = _check_keys(keys, 'ToTensor')

    def __call__(self, results: dict) -> dict:
        for key in self.keys:
            if key not in results:
                raise _missing(results, key, 'ToTensor')
            results[key] = to_tensor(results[key], key)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(keys={list(self.keys)})'


@PIPELINES.register_module()
class Collect:
    """Keep only ``keys``, plus ``img_metas``: a plain dict of the ``meta_keys`` present."""

    img_layout = 'chw'

    def __init__(self, keys: Sequence[str],
                 meta_keys: Sequence[str] = ('filename', 'ori_filename', 'ori_shape', 'img_shape',
                                             'flip', 'flip_direction', 'img_norm_cfg')):
        self.keys = _check_keys(keys, 'Collect')
        self.meta_keys = _check_keys(meta_keys, 'Collect (meta_keys)')

    def __call__(self, results: dict) -> dict:
        data = {}
        for key in self.keys:
            if key not in results:
                raise _missing(results, key, 'Collect')
            data[key] = results[key]
        data['img_metas'] = {k: results[k] for k in self.meta_keys if k in results}
        return data

    def __repr__(self) -> str:
        return f'{type(self).__name__}(keys={list(self.keys)}, meta_keys={list(self.meta_keys)})'
