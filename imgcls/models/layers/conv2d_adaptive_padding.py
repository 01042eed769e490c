"""Conv2dAdaptivePadding: TensorFlow's 'SAME' padding, computed from each input's size."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .conv import CONV_LAYERS

__all__ = ['Conv2dAdaptivePadding']


def _same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """(before, after) padding so that the output has ``ceil(size / stride)`` positions, as TF pads."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    # TF puts the odd pixel after, not before: weights trained in TF depend on it
    return total // 2, total - total // 2


@CONV_LAYERS.register_module()
class Conv2dAdaptivePadding(nn.Conv2d):
    """A Conv2d that pads like TensorFlow's ``padding='SAME'`` (for weights converted from TF).

    The ``padding`` argument is accepted for a drop-in signature but ignored: the padding depends
    on the input size and may be asymmetric (one pixel more at the bottom/right).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple, stride: int | tuple = 1,
                 padding: int | tuple = 0, dilation: int | tuple = 1, groups: int = 1, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, stride, 0, dilation, groups, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad ``x`` 'SAME'-style for this conv, then convolve."""
        top, bottom = _same_padding(x.shape[-2], self.kernel_size[0], self.stride[0], self.dilation[0])
        left, right = _same_padding(x.shape[-1], self.kernel_size[1], self.stride[1], self.dilation[1])
        if top or bottom or left or right:
            x = F.pad(x, [left, right, top, bottom])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
