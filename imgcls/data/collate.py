"""collate: turn a list of pipeline outputs into one batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import DataError
from .pipelines.formatting import to_chw_tensor, to_tensor

__all__ = ['collate']


def _name(batch: Sequence[Mapping], i: int) -> str:
    metas = batch[i].get('img_metas')
    name = metas.get('filename') if isinstance(metas, Mapping) else batch[i].get('filename')
    return f'sample {i}' + (f' ({name})' if name else '')


def _stack_images(batch: Sequence[Mapping]) -> torch.Tensor:
    imgs = [to_chw_tensor(s['img']) for s in batch]
    first = imgs[0].shape
    for i, img in enumerate(imgs):
        if img.shape != first or img.dtype != imgs[0].dtype:
            raise DataError(
                f'cannot batch images of different sizes: {_name(batch, 0)} is {tuple(first)} '
                f'{imgs[0].dtype} but {_name(batch, i)} is {tuple(img.shape)} {img.dtype} (C, H, W). Add a '
                "Resize (e.g. dict(type='Resize', size=(224, 224))), CenterCrop or RandomResizedCrop step "
                'at the end of the pipeline so that all images come out the same size.')
    return torch.stack(imgs)


def _stack_labels(values: list[Any]) -> torch.Tensor:
    labels = [to_tensor(v, 'gt_label') for v in values]
    shapes = {tuple(t.shape) for t in labels}
    if len(shapes) != 1:
        raise DataError(f'cannot batch gt_label of different shapes: {sorted(shapes)[:2]}')
    out = torch.stack(labels)
    if out.ndim == 1:
        return out if out.is_floating_point() else out.long()  # class indices → int64 (N,)
    return out if out.is_floating_point() else out.float()  # (N, K) multi-label or soft targets


def _stack_other(values: list[Any]) -> Any:
    if all(isinstance(v, (torch.Tensor, np.ndarray)) for v in values):
        tensors = [torch.as_tensor(v) for v in values]
        if len({(t.shape, t.dtype) for t in tensors}) == 1:
            return torch.stack(tensors)
    return list(values)


def _take_skipped(batch: Sequence[Mapping]) -> tuple[list[Mapping], list[str]]:
    """The samples without their ``'_skipped'`` markers, and the paths the markers held."""
    skipped: list[str] = []
    clean = []
    for sample in batch:
        if '_skipped' in sample:
            skipped.extend(sample['_skipped'])
            sample = {k: v for k, v in sample.items() if k != '_skipped'}
        clean.append(sample)
    return clean, skipped


def collate(batch: Sequence[Mapping]) -> dict:
    """Batch samples: ``img`` → (N, C, H, W) (uint8 as loaded), ``gt_label`` → int64 (N,) or
    float (N, K), ``img_metas`` → list of dicts, other tensors stacked, other values listed.

    A sample that stands in for unreadable images (``skip_bad_images=True``) carries their paths
    under ``'_skipped'``; they are gathered into ``batch['skipped']`` (a list of paths, present
    only when not empty), which imgcls's data loader moves to ``dataset.bad_images``.
    """
    if len(batch) == 0:
        raise DataError('cannot collate an empty batch')
    if not all(isinstance(s, Mapping) for s in batch):
        raise DataError('each sample must be a dict (the output of a pipeline), '
                        f'got {type(batch[0]).__name__}')
    batch, skipped = _take_skipped(batch)
    keys = list(batch[0].keys())
    for i, sample in enumerate(batch):
        if set(sample.keys()) != set(keys):
            raise DataError(f'samples have different keys: {_name(batch, 0)} has {sorted(keys)} but '
                            f'{_name(batch, i)} has {sorted(sample.keys())}')
    out = {}
    for key in keys:
        values = [s[key] for s in batch]
        if key == 'img':
            out[key] = _stack_images(batch)
        elif key == 'gt_label':
            out[key] = _stack_labels(values)
        elif key == 'img_metas':
            out[key] = values
        else:
            out[key] = _stack_other(values)
    if skipped:
        out['skipped'] = skipped
    return out
