"""Swin Transformer from timm (``swin_*_patch4_window7_224``) and torchvision (``swin_t/s/b``) onto mmcls keys.

Two things besides names: mmcls's PatchMerging concatenates each 2x2 neighbourhood channel-major (as
``nn.Unfold`` does) where the originals concatenate the four pixels, so the merge weights are reordered;
and the (persistent, in mmcls) ``relative_position_index`` buffers are rebuilt.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import torch

from ._rules import rename_keys
from .registry import register_converter

__all__: list[str] = []

# a block's keys after ``...blocks.j.`` (timm names | torchvision names) → mmcls names; None: dropped
_BLOCK = [
    (r'norm(?P<n>\d)\.(?P<p>weight|bias)', 'norm{n}.{p}'),
    (r'attn\.(?P<m>qkv|proj)\.(?P<p>weight|bias)', 'attn.w_msa.{m}.{p}'),
    (r'attn\.relative_position_bias_table', 'attn.w_msa.relative_position_bias_table'),
    (r'mlp\.(?:fc1|0)\.(?P<p>weight|bias)', 'ffn.layers.0.0.{p}'),
    (r'mlp\.(?:fc2|3)\.(?P<p>weight|bias)', 'ffn.layers.1.{p}'),
    (r'attn\.relative_position_index|attn_mask', None),  # rebuilt in _finish / computed on the fly
]


def _block_rules(prefix: str, stage_of: Callable[[re.Match], int]) -> list:
    """Rules for block keys: ``prefix`` has groups ``s`` (the source's stage number) and ``b`` (the block)."""
    rules = []
    for pattern, repl in _BLOCK:
        target = None if repl is None else (
            lambda m, repl=repl: f'backbone.stages.{stage_of(m)}.blocks.{m["b"]}.' + repl.format(**m.groupdict()))
        rules.append((prefix + pattern, target))
    return rules


def relative_position_index(window: int) -> torch.Tensor:
    """(N, N) indices into a ((2w-1)^2, heads) bias table of a w x w window, N = w*w, row-major (dy, dx).

    The same buffer the Swin backbone builds (converters stay free of model code, a test compares the two).
    """
    ys, xs = torch.meshgrid(torch.arange(window), torch.arange(window), indexing='ij')
    ys, xs = ys.flatten(), xs.flatten()
    return (ys[:, None] - ys[None, :] + window - 1) * (2 * window - 1) + (xs[:, None] - xs[None, :] + window - 1)


def _unfold_order(tensor: torch.Tensor) -> torch.Tensor:
    """Reorder the last dim from the four 2x2 pixels' channels (x00, x10, x01, x11) to channel-major."""
    *lead, four_c = tensor.shape
    n = len(lead)
    # the originals' index is (kw * 2 + kh) * C + c; nn.Unfold's is c * 4 + kh * 2 + kw
    pixels = tensor.reshape(*lead, 2, 2, four_c // 4)  # (..., kw, kh, C)
    return pixels.permute(*range(n), n + 2, n + 1, n).reshape(*lead, four_c)


def _finish(out: dict) -> dict:
    """Reorder the PatchMerging weights and add each window attention's relative position index."""
    for key in list(out):
        if '.downsample.' in key:
            out[key] = _unfold_order(out[key])
        elif key.endswith('relative_position_bias_table'):
            window = (math.isqrt(out[key].shape[0]) + 1) // 2
            index_key = key.replace('relative_position_bias_table', 'relative_position_index')
            out[index_key] = relative_position_index(window)
    return out


def _is_timm_swin(sd) -> bool:
    return 'layers.0.blocks.0.attn.relative_position_bias_table' in sd


@register_converter('timm', 'swin', _is_timm_swin)
def timm_swin(sd: dict) -> dict:
    """timm: ``layers.i`` → ``stages.i``; timm >= 0.9 puts stage i's PatchMerging at the start of ``layers.{i+1}``."""
    merge_shift = 0 if 'layers.0.downsample.reduction.weight' in sd else 1  # timm < 0.9 had mmcls's layout
    last = max(int(k.split('.')[1]) for k in sd if k.startswith('layers.'))
    rules = [
        (r'patch_embed\.proj\.(weight|bias)', r'backbone.patch_embed.projection.\1'),
        (r'patch_embed\.norm\.(weight|bias)', r'backbone.patch_embed.norm.\1'),
        (r'absolute_pos_embed', r'backbone.absolute_pos_embed'),
        *_block_rules(r'layers\.(?P<s>\d+)\.blocks\.(?P<b>\d+)\.', lambda m: int(m['s'])),
        (r'layers\.(\d+)\.downsample\.(norm\.weight|norm\.bias|reduction\.weight)',
         lambda m: f'backbone.stages.{int(m[1]) - merge_shift}.downsample.{m[2]}'),
        (r'norm\.(weight|bias)', rf'backbone.norm{last}.\1'),
        (r'head(?:\.fc)?\.(weight|bias)', r'head.fc.\1'),
    ]
    return _finish(rename_keys(sd, rules, 'timm Swin checkpoint'))


def _is_torchvision_swin(sd) -> bool:
    return 'features.1.0.attn.relative_position_bias_table' in sd


@register_converter('torchvision', 'swin', _is_torchvision_swin)
def torchvision_swin(sd: dict) -> dict:
    """torchvision: ``features.0`` patch embedding, ``features.{2i+1}`` stages, ``features.{2i+2}`` merging."""
    last = max(int(k.split('.')[1]) for k in sd if k.startswith('features.')) // 2
    rules = [
        (r'features\.0\.0\.(weight|bias)', r'backbone.patch_embed.projection.\1'),
        (r'features\.0\.2\.(weight|bias)', r'backbone.patch_embed.norm.\1'),
        *_block_rules(r'features\.(?P<s>\d+)\.(?P<b>\d+)\.', lambda m: int(m['s']) // 2),
        (r'features\.(\d+)\.(norm\.weight|norm\.bias|reduction\.weight)',
         lambda m: f'backbone.stages.{int(m[1]) // 2 - 1}.downsample.{m[2]}'),
        (r'norm\.(weight|bias)', rf'backbone.norm{last}.\1'),
        (r'head\.(weight|bias)', r'head.fc.\1'),
    ]
    return _finish(rename_keys(sd, rules, 'torchvision Swin checkpoint'))
