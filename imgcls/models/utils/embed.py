"""Patch embedding, patch merging and position-embedding resizing for vision transformers.

Key names follow mmcv/mmcls (``projection``, ``norm``, ``reduction``), so their checkpoints load as they are.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ConfigError
from ..layers import build_conv_layer, build_norm_layer

logger = logging.getLogger(__name__)


def log_resize(name: str, src: Sequence[int], dst: Sequence[int], what: str) -> None:
    """Say, on the ``imgcls`` logger, that a checkpoint tensor was resized while loading."""
    logger.info(f'Resized {name} from a {src[0]}x{src[1]} {what} (checkpoint) to {dst[0]}x{dst[1]} (model)')


def to_2tuple(x) -> tuple:
    """``x`` as a pair: ints are repeated, sequences of two kept."""
    if isinstance(x, Sequence) and not isinstance(x, str):
        if len(x) != 2:
            raise ConfigError(f'expected an int or a pair, got {x!r}')
        return tuple(x)
    return (x, x)


class AdaptivePadding(nn.Module):
    """Pad the bottom/right (``'corner'``) or all sides evenly (``'same'``) so a strided window covers the input."""

    def __init__(self, kernel_size=1, stride=1, dilation=1, padding: str = 'corner'):
        super().__init__()
        if padding not in ('same', 'corner'):
            raise ConfigError(f"adaptive padding must be 'same' or 'corner', got {padding!r}")
        self.padding = padding
        self.kernel_size = to_2tuple(kernel_size)
        self.stride = to_2tuple(stride)
        self.dilation = to_2tuple(dilation)

    def get_pad_shape(self, input_shape: Sequence[int]) -> tuple[int, int]:
        """The (bottom, right) padding that makes ``input_shape`` (H, W) fit whole windows."""
        pads = []
        for size, k, s, d in zip(input_shape, self.kernel_size, self.stride, self.dilation):
            out = math.ceil(size / s)
            pads.append(max((out - 1) * s + (k - 1) * d + 1 - size, 0))
        return pads[0], pads[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_h, pad_w = self.get_pad_shape(x.shape[-2:])
        if pad_h == 0 and pad_w == 0:
            return x
        if self.padding == 'corner':
            return F.pad(x, [0, pad_w, 0, pad_h])
        return F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])


class PatchEmbed(nn.Module):
    """Image → sequence of patch embeddings by one strided convolution (plus an optional norm).

    Args:
        in_channels / embed_dims: channels in and out.
        kernel_size / stride: the patch size (stride defaults to the kernel size).
        padding: an int, or ``'corner'`` / ``'same'`` to pad inputs that do not divide into patches.
        norm_cfg: a norm over the embeddings (Swin uses LN), or None.
        input_size: the training image size; sets ``init_out_size`` (the patch grid).

    ``forward(x)`` returns ``(tokens (N, L, C), (H', W'))``.
    """

    def __init__(self, in_channels: int = 3, embed_dims: int = 768, conv_type: str = 'Conv2d',
                 kernel_size=16, stride=None, padding='corner', dilation=1, bias: bool = True,
                 norm_cfg: Mapping | None = None, input_size=None, init_cfg=None):
        super().__init__()
        self.embed_dims = embed_dims
        self.init_cfg = init_cfg
        stride = kernel_size if stride is None else stride
        kernel_size, stride, dilation = to_2tuple(kernel_size), to_2tuple(stride), to_2tuple(dilation)
        if isinstance(padding, str):
            self.adaptive_padding = AdaptivePadding(kernel_size, stride, dilation, padding)
            padding = 0
        else:
            self.adaptive_padding = None
        padding = to_2tuple(padding)
        self.projection = build_conv_layer(dict(type=conv_type), in_channels, embed_dims, kernel_size=kernel_size,
                                           stride=stride, padding=padding, dilation=dilation, bias=bias)
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1] if norm_cfg is not None else None
        self.init_input_size = self.init_out_size = None
        if input_size is not None:
            input_size = to_2tuple(input_size)
            if self.adaptive_padding is not None:
                pad_h, pad_w = self.adaptive_padding.get_pad_shape(input_size)
                input_size = (input_size[0] + pad_h, input_size[1] + pad_w)
            self.init_input_size = input_size
            self.init_out_size = tuple((size + 2 * p - d * (k - 1) - 1) // s + 1 for size, p, d, k, s in
                                       zip(input_size, padding, dilation, kernel_size, stride))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        if self.adaptive_padding is not None:
            x = self.adaptive_padding(x)
        x = self.projection(x)
        out_size = (x.shape[2], x.shape[3])
        x = x.flatten(2).transpose(1, 2)
        if self.norm is not None:
            x = self.norm(x)
        return x, out_size


class PatchMerging(nn.Module):
    """Merge each 2x2 (``kernel_size``) neighbourhood of tokens into one: norm, then a linear reduction
    (or the reduction, then a norm of its output with ``is_post_norm``, as Swin V2 does).

    The merged vector is ordered channel-major (channel, then row, then column of the window), as
    ``nn.Unfold`` orders it and as mmcls checkpoints expect; converters reorder the Swin originals.

    ``forward(x (N, H*W, C), (H, W))`` returns ``(x (N, H'*W', out_channels), (H', W'))``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size=2, stride=None, padding='corner',
                 dilation=1, bias: bool = False, norm_cfg: Mapping | None = dict(type='LN'),
                 is_post_norm: bool = False, init_cfg=None):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.is_post_norm = is_post_norm
        self.init_cfg = init_cfg
        stride = kernel_size if stride is None else stride
        self.kernel_size, self.stride = to_2tuple(kernel_size), to_2tuple(stride)
        self.dilation = to_2tuple(dilation)
        if isinstance(padding, str):
            self.adaptive_padding = AdaptivePadding(self.kernel_size, self.stride, self.dilation, padding)
            padding = 0
        else:
            self.adaptive_padding = None
        self.padding = to_2tuple(padding)
        self.sampler = nn.Unfold(kernel_size=self.kernel_size, dilation=self.dilation, padding=self.padding,
                                 stride=self.stride)
        sample_dim = self.kernel_size[0] * self.kernel_size[1] * in_channels
        self.reduction = nn.Linear(sample_dim, out_channels, bias=bias)  # before norm: mmcls's key order
        norm_dims = out_channels if is_post_norm else sample_dim
        self.norm = build_norm_layer(norm_cfg, norm_dims)[1] if norm_cfg is not None else None

    def forward(self, x: torch.Tensor, input_size: tuple[int, int]) -> tuple[torch.Tensor, tuple[int, int]]:
        B, L, C = x.shape
        H, W = input_size
        if L != H * W:
            raise ValueError(f'PatchMerging: {L} tokens do not form the {H}x{W} grid it was given')
        x = x.view(B, H, W, C).permute(0, 3, 1, 2)
        if self.adaptive_padding is not None:
            x = self.adaptive_padding(x)
        H, W = x.shape[-2:]
        x = self.sampler(x).transpose(1, 2)  # (B, H'*W', C*kh*kw)
        out_size = tuple((size + 2 * p - d * (k - 1) - 1) // s + 1 for size, p, d, k, s in
                         zip((H, W), self.padding, self.dilation, self.kernel_size, self.stride))
        if self.is_post_norm:
            x = self.reduction(x)
            return (self.norm(x) if self.norm is not None else x), out_size
        if self.norm is not None:
            x = self.norm(x)
        return self.reduction(x), out_size


def resize_pos_embed(pos_embed: torch.Tensor, src_shape: Sequence[int], dst_shape: Sequence[int],
                     mode: str = 'bicubic', num_extra_tokens: int = 1) -> torch.Tensor:
    """Resize a (1, extra + H*W, C) position embedding from an ``src_shape`` grid to ``dst_shape``.

    The first ``num_extra_tokens`` rows (the class token's) are kept as they are.
    """
    if tuple(src_shape) == tuple(dst_shape):
        return pos_embed
    _, length, channels = pos_embed.shape
    src_h, src_w = src_shape
    if length != src_h * src_w + num_extra_tokens:
        raise ValueError(f'a position embedding of {length} tokens is not a {src_h}x{src_w} grid plus '
                         f'{num_extra_tokens} extra tokens')
    extra = pos_embed[:, :num_extra_tokens]
    grid = pos_embed[:, num_extra_tokens:].reshape(1, src_h, src_w, channels).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=tuple(dst_shape), mode=mode, align_corners=False)
    return torch.cat((extra, grid.flatten(2).transpose(1, 2)), dim=1)


def resize_relative_position_bias_table(src_shape: Sequence[int], dst_shape: Sequence[int],
                                        table: torch.Tensor, num_heads: int,
                                        mode: str = 'bicubic') -> torch.Tensor:
    """Resize a ((2h-1)*(2w-1), heads) relative position bias table from window ``src_shape`` to ``dst_shape``."""
    src_h, src_w = (2 * s - 1 for s in src_shape)
    dst_h, dst_w = (2 * s - 1 for s in dst_shape)
    grid = table.transpose(0, 1).reshape(1, num_heads, src_h, src_w)
    grid = F.interpolate(grid, size=(dst_h, dst_w), mode=mode, align_corners=False)
    return grid.reshape(num_heads, dst_h * dst_w).transpose(0, 1).contiguous()
