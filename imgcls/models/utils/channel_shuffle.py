"""Channel shuffle (ShuffleNet): interleave the channels of ``groups`` groups."""

from __future__ import annotations

import torch
import torch.nn as nn


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Reorder channels ``(g, c/g)`` → ``(c/g, g)`` so the next grouped conv mixes information across groups."""
    n, c, h, w = x.shape
    if c % groups != 0:
        raise ValueError(f'channel_shuffle: {c} channels cannot be split into {groups} groups')
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class ChannelShuffle(nn.Module):
    """:func:`channel_shuffle` as a module."""

    def __init__(self, groups: int):
        super().__init__()
        if not isinstance(groups, int) or groups <= 0:
            raise ValueError(f'ChannelShuffle groups must be a positive int, got {groups!r}')
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(x, self.groups)

    def extra_repr(self) -> str:
        return f'groups={self.groups}'
