"""Figures of a test run: the confusion matrix and the most confidently misclassified images.

Drawn with matplotlib's object API on an Agg canvas (no pyplot, no display, no global backend change)
and written atomically as PNG.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..errors import ConfigError
from ..evaluation import confusion_matrix
from ..fileio import atomic_write_bytes

__all__ = ['plot_confusion_matrix', 'hardest_examples', 'plot_image_grid', 'write_test_figures']

_MAX_CELL_TEXT = 30  # beyond this many classes the counts would not fit in the cells


def _new_figure(width: float, height: float):
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format='png', bbox_inches='tight')
    atomic_write_bytes(path, buf.getvalue())


def plot_confusion_matrix(cm, class_names: Sequence[str], path: str | os.PathLike,
                          title: str = 'Confusion matrix') -> None:
    """Save a (C, C) confusion matrix (rows true, columns predicted) as a PNG.

    Colours are each row's share (the recall of the true class), so rare and common classes read alike;
    the cells show the counts.
    """
    counts = np.asarray(cm.cpu() if isinstance(cm, torch.Tensor) else cm, dtype=np.int64)
    n = counts.shape[0]
    names = [str(c) for c in class_names][:n] + [str(i) for i in range(len(class_names), n)]
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    side = min(max(4.0, 0.45 * n + 2), 40.0)
    fig = _new_figure(side + 1.5, side)
    ax = fig.add_subplot()
    im = ax.imshow(share, cmap='Blues', vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label='share of the true class')
    ticks = np.arange(n)
    font = max(4, min(10, int(300 / max(n, 1))))
    ax.set_xticks(ticks, labels=names, rotation=90, fontsize=font)
    ax.set_yticks(ticks, labels=names, fontsize=font)
    ax.set_xlabel('predicted class')
    ax.set_ylabel('true class')
    ax.set_title(f'{title} ({int(counts.sum())} images, accuracy '
                 f'{100.0 * np.trace(counts) / max(counts.sum(), 1):.2f}%)')
    if n <= _MAX_CELL_TEXT:
        for i in range(n):
            for j in range(n):
                if counts[i, j]:
                    ax.text(j, i, str(counts[i, j]), ha='center', va='center', fontsize=font,
                            color='white' if share[i, j] > 0.5 else 'black')
    _save(fig, path)


def hardest_examples(scores, labels, k: int = 16) -> list[int]:
    """Indices of up to ``k`` misclassified images, the most confident wrong prediction first."""
    scores = torch.as_tensor(np.asarray(scores), dtype=torch.float32)
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    top, pred = scores.max(dim=1)
    wrong = torch.nonzero(pred != labels).flatten()
    order = torch.argsort(top[wrong], descending=True, stable=True)
    return wrong[order][:k].tolist()


def _to_hwc(img) -> np.ndarray:
    """A displayable (H, W) or (H, W, 3) uint8 array from a CHW tensor / HWC array."""
    arr = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
    if isinstance(img, torch.Tensor) and arr.ndim == 3:
        arr = arr.transpose(1, 2, 0)
    if arr.dtype != np.uint8:  # float images (e.g. normalised): stretch to the full range to show them
        lo, hi = float(arr.min()), float(arr.max())
        arr = ((arr - lo) / max(hi - lo, 1e-8) * 255).round().astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    return arr[:, :, :3] if arr.ndim == 3 else arr


def plot_image_grid(images: Sequence, captions: Sequence[str], path: str | os.PathLike,
                    title: str | None = None, ncols: int | None = None) -> None:
    """Save images (CHW uint8 tensors or HWC arrays) in a grid, each with a caption, as a PNG."""
    n = max(len(images), 1)
    ncols = ncols or min(n, 4)
    nrows = math.ceil(n / ncols)
    fig = _new_figure(2.6 * ncols, 2.9 * nrows + (0.4 if title else 0))
    for i in range(nrows * ncols):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.axis('off')
        if i < len(images):
            arr = _to_hwc(images[i])
            ax.imshow(arr, cmap='gray' if arr.ndim == 2 else None, vmin=0, vmax=255, interpolation='nearest')
            ax.set_title(captions[i], fontsize=8)
        elif not images and i == 0:
            ax.text(0.5, 0.5, 'no misclassified images', ha='center', va='center')
    if title:
        fig.suptitle(title)
    _save(fig, path)


def write_test_figures(show_dir: str, dataset, scores: np.ndarray, num_hardest: int = 16) -> list[str]:
    """Write ``confusion_matrix.png`` and ``hardest.png`` (the most confidently misclassified images, as the
    test pipeline gives them, before normalisation) to ``show_dir``; return their paths."""
    labels = np.asarray(dataset.get_gt_labels())
    if labels.ndim != 1:
        raise ConfigError('--show-dir draws a confusion matrix and the hardest images of a single-label '
                          'dataset; this dataset has multi-label ground truth')
    out = Path(show_dir)
    out.mkdir(parents=True, exist_ok=True)
    classes = list(getattr(dataset, 'CLASSES', None) or [])
    names = classes + [str(i) for i in range(len(classes), scores.shape[1])]
    cm_path, grid_path = out / 'confusion_matrix.png', out / 'hardest.png'
    plot_confusion_matrix(confusion_matrix(scores, labels), names, cm_path)
    hardest = hardest_examples(scores, labels, num_hardest)
    images, captions = [], []
    for i in hardest:
        pred = int(np.argmax(scores[i]))
        images.append(dataset[i]['img'])
        captions.append(f'#{i} true: {names[labels[i]]}\npred: {names[pred]} ({scores[i][pred]:.2f})')
    plot_image_grid(images, captions, grid_path,
                    title=f'{len(hardest)} most confident mistakes (of {int((scores.argmax(1) != labels).sum())})')
    return [str(cm_path), str(grid_path)]
