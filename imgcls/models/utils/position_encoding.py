"""Conditional position encoding (Chu et al. 2021): positions from a depthwise 3x3 convolution of the tokens."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn


class ConditionalPositionEncoding(nn.Module):
    """``x + dwconv3x3(x)`` on the (N, H*W, C) token map (just the convolution when ``stride`` > 1).

    The encoding follows the input size, so models using it take any resolution without resizing.
    """

    def __init__(self, in_channels: int, embed_dims: int = 768, stride: int = 1, init_cfg=None):
        super().__init__()
        self.init_cfg = init_cfg
        self.stride = stride
        self.proj = nn.Conv2d(in_channels, embed_dims, kernel_size=3, stride=stride, padding=1, bias=True,
                              groups=embed_dims)

    def forward(self, x: torch.Tensor, hw_shape: Sequence[int]) -> torch.Tensor:
        B, N, C = x.shape
        feat = x.transpose(1, 2).reshape(B, C, *hw_shape)
        out = self.proj(feat)
        if self.stride == 1:
            out = out + feat
        return out.flatten(2).transpose(1, 2)
