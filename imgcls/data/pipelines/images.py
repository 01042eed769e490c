"""The images of a results dict: which keys hold them, and the two layouts pipeline steps work in.

imgcls's own steps work on ``(C, H, W)`` torch tensors in RGB (uint8 from loading to the batch).
A step written for MMClassification 0.x works on ``(H, W, C)`` numpy arrays in the channel order
mmcls had at that point: BGR after mmcv read a file, RGB for in-memory datasets such as CIFAR (the
order is kept in ``results['mmcls_channel_order']``). A step says which it wants with a class
attribute ``img_layout``:

- ``'chw'``: imgcls's tensors (every step of imgcls);
- ``'hwc'``: mmcls 0.x's numpy arrays; a step registered in PIPELINES without ``img_layout`` is
  taken to be one, so a 0.x step works unchanged;
- ``'any'``: whatever is there (formatting steps such as Collect).

:class:`~imgcls.data.pipelines.Compose` converts the images at the boundary between steps of
different layouts, and once more at the end, so the batch is always made of RGB CHW tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image

from ...errors import DataError
from .formatting import to_chw_tensor

__all__ = ['LAYOUTS', 'image_keys', 'get_img', 'set_img', 'map_images', 'step_layout', 'to_layout', 'in_rgb_order']

LAYOUTS = ('chw', 'hwc', 'any')


def image_keys(results: dict) -> list[str]:
    """The keys of the images a step transforms: ``results['img_fields']`` as mmcls set it, else ``['img']``."""
    keys = results.get('img_fields', ['img'])
    if isinstance(keys, str):
        keys = [keys]
    return list(keys)


def get_img(results: dict) -> torch.Tensor:
    """The first image (``results['img']`` unless ``img_fields`` says otherwise) as a CHW tensor."""
    key = image_keys(results)[0] if image_keys(results) else 'img'
    if key not in results:
        raise DataError(f"the pipeline has no image {key!r} yet (results keys: {sorted(results)}): add a "
                        'LoadImageFromFile step first, or use a dataset that keeps images in memory')
    return to_chw_tensor(results[key], key)


def set_img(results: dict, img: torch.Tensor, key: str = 'img') -> None:
    """Store ``img`` under ``key``; ``img_shape`` (H, W, C) follows ``results['img']``."""
    results[key] = img
    if key == 'img':
        results['img_shape'] = (img.shape[-2], img.shape[-1], img.shape[-3])


def map_images(results: dict, fn: Callable[[torch.Tensor], torch.Tensor]) -> dict:
    """Replace every image of ``image_keys(results)`` by ``fn(image)`` (CHW tensors); returns ``results``.

    Every image sees the same draws of torch's RNG (its state is replayed for each), so a random
    ``fn`` changes all images of one sample alike, as mmcls's steps did.
    """
    keys = image_keys(results)
    state = torch.get_rng_state() if len(keys) > 1 else None
    for key in keys:
        if key not in results:
            raise DataError(f"results['img_fields'] names {key!r} but results has no such key "
                            f'(keys: {sorted(results)})')
        if state is not None:
            torch.set_rng_state(state)
        set_img(results, fn(to_chw_tensor(results[key], key)), key)
    return results


def in_rgb_order(values, results: dict):
    """Per-channel values (a fill colour, a pad value) given in mmcls's channel order at this step, for
    imgcls's RGB images: three values are reversed where mmcls had BGR (e.g. ``pad_val=mean[::-1]`` in
    the Swin configs is the mean colour in BGR order, after mmcv read the file)."""
    if results.get('mmcls_channel_order', 'rgb') == 'bgr' and isinstance(values, (list, tuple)) and len(values) == 3:
        return type(values)(values[::-1])
    return values


def step_layout(step: Any, from_config: bool) -> str:
    """The image layout a step works in (see the module docstring); a bad ``img_layout`` is a DataError."""
    layout = getattr(step, 'img_layout', None)
    if layout is None:
        return 'hwc' if from_config else 'any'
    if layout not in LAYOUTS:
        raise DataError(f'{type(step).__name__}.img_layout must be one of {list(LAYOUTS)}, got {layout!r}')
    return layout


def _is_image(value: Any) -> bool:
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return value.ndim in (2, 3)
    return isinstance(value, Image.Image)


def _to_hwc(img: Any, bgr: bool) -> Any:
    """A CHW RGB tensor as mmcls had it: HWC numpy, channels reversed when mmcls had BGR."""
    if not isinstance(img, torch.Tensor):
        return img  # numpy already, or a PIL image a 0.x step made (ToPIL)
    arr = img.numpy().transpose(1, 2, 0)
    if arr.shape[2] == 1:
        arr = arr[:, :, 0]  # mmcv kept grayscale images 2-D
    elif bgr and arr.shape[2] == 3:
        arr = arr[:, :, ::-1]
    return np.ascontiguousarray(arr)


def _to_chw(img: Any, bgr: bool) -> Any:
    """An mmcls image (HWC numpy or PIL, BGR when mmcls had BGR) as an imgcls CHW RGB tensor."""
    if isinstance(img, torch.Tensor):
        return img
    out = to_chw_tensor(img)
    if bgr and out.shape[0] == 3:
        out = out.flip(0)
    return out


def to_layout(results: dict, layout: str) -> dict:
    """Convert the images of ``results`` to ``layout`` ('chw' or 'hwc'; 'any' leaves them)."""
    if layout == 'any':
        return results
    bgr = results.get('mmcls_channel_order', 'rgb') == 'bgr'
    convert = _to_chw if layout == 'chw' else _to_hwc
    for key in image_keys(results):
        if key in results and _is_image(results[key]):
            results[key] = convert(results[key], bgr)
    if layout == 'chw' and isinstance(results.get('img'), torch.Tensor) and results['img'].ndim == 3:
        img = results['img']
        results['img_shape'] = (img.shape[-2], img.shape[-1], img.shape[-3])
    return results
