"""``init_model`` / ``inference_model``: predict classes for images from Python, in batches.

Inputs go through the config's test pipeline one by one (image paths with its LoadImageFromFile, in-memory
images without it), then through the model in batches of equal-sized images, with the precision and memory
format that training uses on the device.
"""

from __future__ import annotations

import contextlib
import copy
import os
import weakref
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

from ..config import Config, parse_cfg_options
from ..data import DATASETS
from ..data.pipelines import Compose
from ..data.pipelines.formatting import Collect, to_chw_tensor
from ..data.pipelines.loading import LoadImageFromFile, decode_image_bytes, read_image_file
from ..engine import choose_speed_settings
from ..errors import ConfigError, DataError
from ..ranking import topk as stable_topk
from .model import prepare_config, prepare_for_inference
from .test import load_trained_model
from .train import resolve_device

__all__ = ['init_model', 'inference_model']

# model -> (its cfg, the pipeline built from it); weak, so a dropped model takes its pipeline with it
_PIPELINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _load_config(config, cfg_options) -> Any:
    if isinstance(config, (str, os.PathLike)):
        if not Path(config).is_file():
            raise ConfigError(f'config file {config} does not exist')
        cfg = Config.fromfile(config)
    elif isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        raise ConfigError(f'config must be a file path or a Config, got {type(config).__name__}')
    if cfg_options:
        cfg.merge_from_dict(parse_cfg_options(list(cfg_options)) if not isinstance(cfg_options, Mapping)
                            else cfg_options)
    return cfg


def _num_classes(model: nn.Module) -> int | None:
    head = getattr(model, 'head', None)
    num = getattr(head, 'num_classes', None)
    return num if isinstance(num, int) else None


def _config_classes(cfg, num_classes: int | None) -> list[str] | None:
    """Class names from the config's test dataset (``classes=`` or its type's CLASSES), else None."""
    data_cfg = (cfg.get('data') or {}).get('test') or (cfg.get('data') or {}).get('val')
    while isinstance(data_cfg, Mapping):
        cls = DATASETS.get(data_cfg.get('type')) if isinstance(data_cfg.get('type'), str) else None
        if data_cfg.get('classes') is not None and cls is not None and hasattr(cls, 'get_classes'):
            try:
                return list(cls.get_classes(data_cfg['classes']))
            except Exception:  # a missing class-names file must not stop inference: fall back
                return None
        if cls is not None and getattr(cls, 'CLASSES', None) is not None:
            names = list(cls.CLASSES)
            return names if num_classes is None or len(names) == num_classes else None
        data_cfg = data_cfg.get('dataset')  # a wrapper (RepeatDataset, ...)
    return None


def init_model(config, checkpoint: str | None = None, device: str | torch.device = 'cpu',
               cfg_options: Mapping | Sequence[str] | None = None, unsafe_load: bool = False) -> nn.Module:
    """Build the model of ``config`` (a path or a Config), load ``checkpoint`` strictly, set it up for inference.

    Sets ``model.cfg`` (the prepared config) and ``model.CLASSES``: the checkpoint's class names, else the
    config's test dataset's, else ``'0'``, ``'1'``, ... Applies the device's speed settings (bf16 autocast,
    channels_last) as training does, records them as ``model.speed_settings`` for :func:`inference_model`, and
    folds BatchNorms into their convolutions (``fuse_conv_bn = False`` in the config keeps them): the model is
    for inference, not for training. (``BaseClassifier`` declares these attributes.)
    """
    cfg = _load_config(config, cfg_options)
    prepare_config(cfg)
    dev = resolve_device(str(device) if device is not None else None)
    model, meta = load_trained_model(cfg, checkpoint, dev, unsafe_load)
    num = _num_classes(model)
    classes = meta.get('CLASSES') or _config_classes(cfg, num)
    if not classes and num is not None:
        classes = [str(i) for i in range(num)]
    model.CLASSES = list(classes) if classes else None
    model.cfg = cfg
    speed = choose_speed_settings(dev, amp=cfg.get('amp', 'auto'), channels_last=cfg.get('channels_last', 'auto'))
    prepare_for_inference(model, cfg, speed)
    model.speed_settings = speed
    return model


# -- inputs ------------------------------------------------------------------------------------


def _input_channels(model: nn.Module) -> int:
    """The channels the model's first convolution takes (3 when it has none)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return module.in_channels
    return 3


def _fit_channels(img: torch.Tensor, want: int) -> torch.Tensor:
    """Drop alpha, and turn gray into RGB or RGB into gray (ITU-R 601 luma) to match the model."""
    if img.shape[0] in (2, 4):
        img = img[:-1]
    if want == 3 and img.shape[0] == 1:
        return img.expand(3, -1, -1).contiguous()
    if want == 1 and img.shape[0] == 3:
        w = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
        return (img.float() * w).sum(0, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
    return img


def _describe(item: Any, i: int) -> str:
    if isinstance(item, (str, os.PathLike)):
        return f'input {i} ({os.fspath(item)})'
    if isinstance(item, (np.ndarray, torch.Tensor)):
        return f'input {i} ({type(item).__name__} of shape {tuple(item.shape)}, {item.dtype})'
    size = getattr(item, 'size', None)
    return f'input {i} ({type(item).__name__}' + (f' of size {size})' if isinstance(size, tuple) else ')')


def _image_tensor(item: Any, where: str) -> torch.Tensor:
    """A ``(C, H, W)`` uint8 tensor from an HWC uint8 RGB array, a PIL image or a CHW uint8 tensor."""
    if isinstance(item, np.ndarray):
        if item.dtype != np.uint8:
            raise DataError(f'{where}: the image must be uint8 (0..255), got {item.dtype}; scale it to 0..255 and '
                            'convert it with .astype(np.uint8)')
        if item.ndim not in (2, 3) or (item.ndim == 3 and item.shape[2] not in (1, 2, 3, 4)):
            raise DataError(f'{where}: expected an (H, W, C) RGB array with 1, 3 or 4 channels (or (H, W) gray), '
                            f'got shape {item.shape}')
        arr = item[:, :, None] if item.ndim == 2 else item
        return torch.from_numpy(arr.transpose(2, 0, 1).copy())  # a copy: the caller keeps its array
    if isinstance(item, torch.Tensor):
        img = item.detach().cpu()
        if img.dtype != torch.uint8:
            raise DataError(f'{where}: the image must be uint8 (0..255), got {img.dtype}; scale it to 0..255 and '
                            'convert it with .to(torch.uint8)')
        img = img[None] if img.ndim == 2 else img
        if img.ndim != 3 or img.shape[0] not in (1, 2, 3, 4):
            raise DataError(f'{where}: expected a (C, H, W) tensor with 1, 3 or 4 channels (or (H, W) gray), '
                            f'got shape {tuple(item.shape)}')
        return img
    if isinstance(item, Image.Image):
        return _image_tensor(np.asarray(item if item.mode in ('L', 'RGB') else item.convert('RGB')), where)
    raise DataError(f'{where}: not an image; pass a file path, an (H, W, C) uint8 RGB numpy array, a PIL image '
                    'or a (C, H, W) uint8 torch tensor (or a list of them)')


def test_pipeline_steps(cfg) -> list | None:
    """The config's test pipeline (``data.test``, else ``data.val``, through dataset wrappers, else
    ``test_pipeline``) as a list of step dicts, or None when it has none."""
    data_cfg = cfg.get('data') or {}
    split = data_cfg.get('test') or data_cfg.get('val') or {}
    steps = split.get('pipeline') if isinstance(split, Mapping) else None
    while steps is None and isinstance(split, Mapping) and isinstance(split.get('dataset'), Mapping):
        split = split['dataset']
        steps = split.get('pipeline')
    return steps if steps is not None else cfg.get('test_pipeline')


def _fixed_size(value) -> tuple[int, int] | None:
    """(h, w) of a pipeline size argument (an int or (h, w)); None for an aspect-keeping (s, -1)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return (value, value)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value):
        return (value[0], value[1])
    return None


# the step types that give every image one size, and the argument that says which
_SIZE_ARGS = {'Resize': 'size', 'CenterCrop': 'crop_size', 'RandomCrop': 'size', 'RandomResizedCrop': 'size',
              'Pad': 'size'}


def pipeline_input_size(cfg) -> tuple[int, int] | None:
    """The (h, w) every image has after the config's test pipeline, or None when it depends on the image
    (no resize or crop to a fixed size after the last aspect-keeping resize)."""
    size = None
    for step in test_pipeline_steps(cfg) or []:
        if not isinstance(step, Mapping) or step.get('type') not in _SIZE_ARGS:
            continue
        key = _SIZE_ARGS[step['type']]
        if step['type'] == 'Pad' and step.get(key) is None:
            size = None  # pad_to_square: a square whose side depends on the image
        elif key in step:
            size = _fixed_size(step[key])
    return size


class _InferencePipeline:
    """The test pipeline split into its loading step and the rest (without Collect), for one model."""

    def __init__(self, cfg, channels: int):
        steps = test_pipeline_steps(cfg)
        if steps is None:
            raise ConfigError('the config has no test pipeline (data.test.pipeline or test_pipeline) to '
                              'prepare images for inference with')
        built = Compose(steps).transforms
        self.loader = next((s for s in built if isinstance(s, LoadImageFromFile)), None)
        self.rest = Compose([s for s in built if not isinstance(s, LoadImageFromFile)
                             and not isinstance(s, Collect)])
        self.channels = channels
        self.color_type = 'grayscale' if channels == 1 else 'color'

    def _load(self, item: Any, where: str) -> dict:
        if isinstance(item, (str, os.PathLike)):
            path = os.fspath(item)
            if self.loader is not None:
                results = self.loader({'img_info': {'filename': path}, 'img_prefix': None})
            else:  # an in-memory dataset's pipeline: read the file here
                img = decode_image_bytes(read_image_file(path), self.color_type, path)
                results = {'img': img, 'filename': path, 'ori_filename': path}
        else:
            results = {'img': _image_tensor(item, where), 'filename': None, 'ori_filename': None}
            if self.loader is not None:
                results['mmcls_channel_order'] = 'bgr'  # what LoadImageFromFile would have recorded
        img = _fit_channels(results['img'], self.channels)
        shape = (img.shape[1], img.shape[2], img.shape[0])
        results.update(img=img, img_shape=shape, ori_shape=shape)
        return results

    def __call__(self, item: Any, where: str) -> torch.Tensor:
        """The ``(C, H, W)`` uint8 tensor the model gets for one input."""
        try:
            results = self.rest(self._load(item, where))
        except DataError as e:
            if where in str(e) or (isinstance(item, (str, os.PathLike)) and os.fspath(item) in str(e)):
                raise
            raise DataError(f'{where}: {e}') from None
        return to_chw_tensor(results['img'])


def _pipeline_for(model: nn.Module) -> _InferencePipeline:
    cfg = getattr(model, 'cfg', None)
    if cfg is None:
        raise ConfigError('the model has no .cfg: build it with imgcls.apis.init_model(config, checkpoint)')
    cached = _PIPELINES.get(model)
    if cached is None or cached[0] is not cfg:  # a replaced model.cfg gets a new pipeline
        cached = (cfg, _InferencePipeline(cfg, _input_channels(model)))
        _PIPELINES[model] = cached
    return cached[1]


# -- the model ---------------------------------------------------------------------------------


def _score_batch(model: nn.Module, batch: torch.Tensor, tta: bool) -> torch.Tensor:
    """Class scores ``(N, C)`` of a uint8 batch; with ``tta`` averaged with its horizontal flip."""
    speed = model.speed_settings
    n = len(batch)
    if tta:  # one forward pass over the images and their mirror images
        batch = torch.cat([batch, batch.flip(-1)])
    with torch.inference_mode(), (speed.autocast() if speed is not None else contextlib.nullcontext()):
        scores = model.test_step({'img': batch}).float()
    if tta:
        scores = (scores[:n] + scores[n:]) / 2
    return scores.cpu()


def _result(scores: torch.Tensor, topk: int, classes: Sequence[str] | None) -> dict:
    values, labels = stable_topk(scores, min(topk, scores.numel()))
    entries = [{'pred_label': int(lbl), 'pred_score': float(v),
                'pred_class': classes[lbl] if classes is not None and lbl < len(classes) else str(int(lbl))}
               for v, lbl in zip(values.tolist(), labels.tolist())]
    out = dict(entries[0])
    if topk > 1:
        out['topk'] = entries
    return out


def _prepare_all(pipeline: _InferencePipeline, items: list, on_error) -> list[torch.Tensor | None]:
    """Each input through the pipeline; with ``on_error`` a failing input is reported and becomes None."""
    tensors: list[torch.Tensor | None] = []
    for i, item in enumerate(items):
        try:
            tensors.append(pipeline(item, _describe(item, i)))
        except DataError as e:
            if on_error is None:
                raise
            on_error(i, e)
            tensors.append(None)
    return tensors


def inference_model(model: nn.Module, imgs, topk: int = 1, batch_size: int = 32, tta: bool = False,
                    on_error: Callable[[int, DataError], None] | None = None):
    """Predict the class of one image or a list of images (the model is put in eval mode).

    Args:
        imgs: a path, an (H, W, C) uint8 RGB numpy array, a PIL image, a (C, H, W) uint8 torch tensor,
            or a list of them (sizes may differ).
        topk: with k > 1 each result also has ``'topk'``: the k best as a list of such dicts.
        batch_size: images per forward pass.
        tta: average the scores with those of the horizontally flipped image.
        on_error: called with ``(index, DataError)`` for each input that cannot be read or prepared; that
            input's result is None and the others are predicted. Without it the first such input raises.

    Returns:
        ``{'pred_label': int, 'pred_score': float, 'pred_class': str}`` for one input, a list of them for a list.
    """
    if not isinstance(topk, int) or isinstance(topk, bool) or topk < 1:
        raise ConfigError(f'topk must be a positive int, got {topk!r}')
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ConfigError(f'batch_size must be a positive int, got {batch_size!r}')
    single = not isinstance(imgs, (list, tuple))
    items = [imgs] if single else list(imgs)
    if not items:
        return []
    pipeline = _pipeline_for(model)
    model.eval()
    tensors = _prepare_all(pipeline, items, on_error)
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, img in enumerate(tensors):  # images the pipeline left at different sizes go in different batches
        if img is not None:
            groups[tuple(img.shape)].append(i)
    scores: list[torch.Tensor | None] = [None] * len(items)
    for indices in groups.values():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start:start + batch_size]
            batch_scores = _score_batch(model, torch.stack([tensors[i] for i in chunk]), tta)
            for i, row in zip(chunk, batch_scores):
                scores[i] = row
    classes = getattr(model, 'CLASSES', None)
    results = [_result(s, topk, classes) if s is not None else None for s in scores]
    return results[0] if single else results
