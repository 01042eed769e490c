"""Grad-CAM (Selvaraju et al., 2017): where in the image a class score comes from.

For a target layer with activations ``A`` (C, h, w) and class score ``y``, each channel is
weighted by its spatially averaged gradient ``w_c = mean(dy/dA_c)``; the map is
``ReLU(sum_c w_c A_c)``, upsampled to the image and scaled to [0, 1].
"""

from __future__ import annotations

import difflib
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from matplotlib import colormaps

from ..apis.export import classifier_logits
from ..data.pipelines.compose import Compose
from ..errors import ConfigError, DataError
from .log_curves import new_figure, save_figure


@dataclass
class CamResult:
    """The heatmap (H, W) in [0, 1] at the input's resolution, and what it explains."""

    cam: np.ndarray
    target_class: int
    score: float  # softmax probability of target_class
    layer: str


def default_target_layer(model: nn.Module, img: torch.Tensor) -> str:
    """The backbone module that last produces a 4-D feature map (``backbone.layer4`` for ResNets).

    Maps larger than 1x1 win over pooled (N, C, 1, 1) outputs, which carry no spatial information.
    """
    root = getattr(model, 'backbone', model)
    prefix = 'backbone.' if root is not model else ''
    names = {module: name for name, module in root.named_modules() if name}
    seen: list[tuple[str, bool]] = []  # (name, has a spatial extent) in the order the outputs appear

    def record(module, _inputs, output):
        if isinstance(output, torch.Tensor) and output.dim() == 4:
            seen.append((names[module], output.shape[-2] * output.shape[-1] > 1))
    handles = [m.register_forward_hook(record) for m in names]
    try:
        with torch.no_grad():
            root(img)
    finally:
        for h in handles:
            h.remove()
    if not seen:
        raise ConfigError('no module of the backbone produces a 4-D (N, C, H, W) feature map, which Grad-CAM '
                          'needs; name one with --target-layer')
    spatial = [name for name, has_extent in seen if has_extent]
    return prefix + (spatial[-1] if spatial else seen[-1][0])


def find_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name``; a wrong name lists close ones."""
    modules = dict(model.named_modules())
    if name not in modules:
        close = difflib.get_close_matches(name, [n for n in modules if n], n=5, cutoff=0.5)
        raise ConfigError(f'--target-layer {name!r} is not a module of the model; close names: '
                          f'{", ".join(close) or "(none)"} (the names are those of model.named_modules())')
    return modules[name]


def as_feature_map(t: torch.Tensor, layer_name: str) -> torch.Tensor:
    """(N, C, h, w) as is; transformer tokens (N, L, C) as an (N, C, h, w) grid (a class token is dropped)."""
    if t.dim() == 4:
        return t
    n, length, c = t.shape
    for skip in (0, 1):  # all tokens are patches, or the first is a class token
        side = math.isqrt(length - skip)
        if side * side == length - skip and side > 0:
            return t[:, skip:].transpose(1, 2).reshape(n, c, side, side)
    raise ConfigError(f'--target-layer {layer_name} outputs {length} tokens, which is no square grid of patches '
                      '(with or without a class token); choose a layer with a 4-D feature map')


def grad_cam(model: nn.Module, img: torch.Tensor, target_layer: str | None = None,
             target_class: int | None = None) -> CamResult:
    """Grad-CAM of one normalised image ``img`` (1, C, H, W); the class defaults to the predicted one."""
    if img.dim() != 4 or img.size(0) != 1:
        raise DataError(f'grad_cam takes one image as a (1, C, H, W) tensor, got shape {tuple(img.shape)}')
    model.eval()
    layer_name = target_layer or default_target_layer(model, img)
    layer = find_layer(model, layer_name)
    store: dict[str, torch.Tensor] = {}

    def keep(_module, _inputs, output):
        if not isinstance(output, torch.Tensor) or output.dim() not in (3, 4):
            got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
            raise ConfigError(f'--target-layer {layer_name} outputs {got}, not a 4-D feature map '
                              '(or 3-D transformer tokens)')
        store['act'] = output
        # a tensor hook, not a module backward hook: in-place ReLUs after the layer would confuse the latter
        output.register_hook(lambda grad: store.__setitem__('grad', grad))
    handle = layer.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            logits = classifier_logits(model, img.detach().requires_grad_(True))
            num_classes = logits.shape[1]
            k = int(logits.argmax(1)) if target_class is None else target_class
            if not 0 <= k < num_classes:
                raise ConfigError(f'--target-class {k} is out of range: the model has {num_classes} classes '
                                  f'(0..{num_classes - 1})')
            model.zero_grad(set_to_none=True)
            logits[0, k].backward()
    finally:
        handle.remove()
    act, grad = as_feature_map(store['act'].detach(), layer_name), as_feature_map(store['grad'].detach(), layer_name)
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * act).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=img.shape[-2:], mode='bilinear', align_corners=False)[0, 0]
    cam = cam - cam.min()
    if cam.max() > 0:
        cam = cam / cam.max()
    else:
        warnings.warn(f'the Grad-CAM map of class {k} at {layer_name} is zero everywhere: nothing in this layer '
                      'raises its score; try another --target-layer', stacklevel=2)
    score = float(torch.softmax(logits.detach().float(), 1)[0, k])
    return CamResult(cam=cam.float().cpu().numpy(), target_class=k, score=score, layer=layer_name)


def overlay(image: np.ndarray, cam: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a jet-coloured ``cam`` (H, W) over a uint8 image (H, W, 3 or 1); returns uint8 (H, W, 3)."""
    if image.ndim == 2 or image.shape[2] == 1:
        image = np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2)
    heat = colormaps['jet'](np.clip(cam, 0, 1))[..., :3] * 255
    return np.clip((1 - alpha) * image.astype(np.float64) + alpha * heat, 0, 255).astype(np.uint8)


def save_cam_figure(image: np.ndarray, result: CamResult, out: str | Path, class_name: str | None = None,
                    min_size: int = 256) -> None:
    """The image and its Grad-CAM overlay side by side, as a PNG written atomically."""
    blended = overlay(image, result.cam)
    h, w = blended.shape[:2]
    scale = max(1.0, min_size / min(h, w))  # tiny inputs (32x32) are enlarged for viewing
    fig = new_figure((2 * w * scale / 100 + 0.4, h * scale / 100 + 0.6))
    axes = fig.subplots(1, 2)
    shown = image if image.ndim == 3 and image.shape[2] == 3 else image.reshape(h, w)
    axes[0].imshow(shown, cmap=None if shown.ndim == 3 else 'gray', interpolation='nearest')
    axes[0].set_title('input')
    axes[1].imshow(blended, interpolation='nearest')
    label = class_name if class_name is not None else str(result.target_class)
    axes[1].set_title(f'Grad-CAM {result.layer}: {label} (p={result.score:.2f})', fontsize=8)
    for ax in axes:
        ax.axis('off')
    fig.tight_layout()
    save_figure(fig, out)


def load_image_for_model(cfg, path: str, in_channels: int = 3) -> torch.Tensor:
    """One image file through the config's test pipeline (Normalize taken out) as a uint8 (C, H, W) tensor.

    A pipeline without a loading step (in-memory datasets) gets ``LoadImageFromFile`` in front, in
    grayscale when the model takes one channel.
    """
    data = cfg.get('data') or {}
    test = data.get('test') or data.get('val') or {}
    pipeline = list(test.get('pipeline') or cfg.get('test_pipeline') or [])
    if not pipeline:
        raise ConfigError('the config has no data.test.pipeline (or test_pipeline) to prepare the image with')
    if not any(isinstance(s, dict) and str(s.get('type', '')).startswith('LoadImage') for s in pipeline):
        color = 'grayscale' if in_channels == 1 else 'color'
        pipeline.insert(0, dict(type='LoadImageFromFile', color_type=color))
    results = Compose(pipeline)({'img_info': {'filename': str(path)}, 'img_prefix': None})
    img = results.get('img')
    if not isinstance(img, torch.Tensor) or img.dim() != 3:
        raise DataError(f'the test pipeline did not produce a (C, H, W) image tensor for {path}')
    return img
