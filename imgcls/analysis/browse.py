"""browse_dataset: a grid of pipeline outputs (after augmentation, before normalization) with labels."""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..data import build_dataset, move_normalize_to_model
from ..errors import ConfigError, DataError
from ..fileio import atomic_open

__all__ = ['browse_dataset', 'label_text', 'to_display']


def label_text(label, classes: Sequence[str] | None) -> str:
    """A class index (or a multi-hot vector of 1/0/-1) as class names."""
    arr = np.asarray(label)
    if arr.ndim == 0:
        i = int(arr)
        return classes[i] if classes is not None and 0 <= i < len(classes) else str(i)
    names = [classes[i] if classes is not None and i < len(classes) else str(i) for i in np.flatnonzero(arr == 1)]
    hard = [classes[i] if classes is not None and i < len(classes) else str(i) for i in np.flatnonzero(arr == -1)]
    return ', '.join(names + [f'({n})' for n in hard]) or '(none)'


def to_display(img) -> np.ndarray:
    """A (C, H, W) tensor → (H, W, 3) or (H, W) uint8 array; float images are stretched to 0..255."""
    t = img if isinstance(img, torch.Tensor) else torch.as_tensor(np.asarray(img)).permute(2, 0, 1)
    t = t.detach().cpu()
    if t.dtype != torch.uint8:
        t = t.float()
        low, high = t.min(), t.max()
        t = ((t - low) / (high - low).clamp(min=1e-12) * 255).round().to(torch.uint8)
    arr = t.numpy()
    return arr[0] if arr.shape[0] == 1 else arr[:3].transpose(1, 2, 0)


def _dataset(cfg, split: str):
    data = cfg.get('data') if hasattr(cfg, 'get') else None
    if not isinstance(data, dict) or split not in data:
        have = sorted(k for k in (data or {}) if k in ('train', 'val', 'test'))
        raise ConfigError(f'the config has no data.{split} dataset to browse (it has: {have or "none"})')
    stripped, _ = move_normalize_to_model(cfg)
    return build_dataset(stripped['data'][split], default_args=None if split == 'train' else {'test_mode': True})


def browse_dataset(cfg, out: str | os.PathLike, split: str = 'train', num: int = 16, seed: int = 0) -> list[int]:
    """Save a grid of ``num`` pipeline outputs of ``data.<split>`` with their class names to ``out``.

    Normalize steps are taken out, as imgcls does for training, so the images are the uint8
    tensors the model's data preprocessor receives. The samples are drawn at random (by ``seed``)
    and each is augmented with its own fixed seed, so the same call draws the same grid.
    Returns the dataset indices shown.
    """
    if not isinstance(num, int) or num < 1:
        raise ConfigError(f'--num must be a positive int, got {num!r}')
    dataset = _dataset(cfg, split)
    classes = getattr(dataset, 'CLASSES', None)
    gen = torch.Generator().manual_seed(seed)
    indices = torch.randperm(len(dataset), generator=gen)[:num].tolist()
    labels = dataset.get_gt_labels() if hasattr(dataset, 'get_gt_labels') else None
    if isinstance(dataset, torch.utils.data.IterableDataset):  # streamed: the first samples of epoch ``seed``
        if hasattr(dataset, 'set_epoch'):
            dataset.set_epoch(seed)
        streamed = list(itertools.islice(iter(dataset), num))
        indices, labels = list(range(len(streamed))), None
        dataset = streamed
    cols = math.ceil(math.sqrt(len(indices)))
    rows = math.ceil(len(indices) / cols)
    fig = Figure(figsize=(2.2 * cols, 2.4 * rows), dpi=100)
    FigureCanvasAgg(fig)
    for k, idx in enumerate(indices):
        torch.manual_seed(seed * 1_000_003 + idx)
        sample = dataset[idx]
        if 'img' not in sample:
            raise DataError(f'data.{split}: the pipeline output has no "img" (keys: {sorted(sample)})')
        ax = fig.add_subplot(rows, cols, k + 1)
        img = to_display(sample['img'])
        ax.imshow(img, cmap='gray' if img.ndim == 2 else None, vmin=0, vmax=255, interpolation='nearest')
        label = labels[idx] if labels is not None else sample.get('gt_label')
        title = label_text(label, classes) if label is not None else ''
        ax.set_title(title[:40], fontsize=8)
        ax.axis('off')
    fig.tight_layout()
    fmt = os.path.splitext(os.fspath(out))[1].lstrip('.').lower() or 'png'
    with atomic_open(out, 'wb') as fh:
        fig.savefig(fh, format=fmt)
    return indices
