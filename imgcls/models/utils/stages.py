"""Argument checks and freezing shared by backbones built as a list of stages."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...errors import ConfigError


def check_out_indices(name: str, out_indices, num_outputs: int) -> tuple[int, ...]:
    """Return ``out_indices`` as a tuple of indices in ``0..num_outputs-1`` (negative ones count from the end).

    The one rule every backbone follows: an int or a non-empty sequence of ints, each in
    ``-num_outputs..num_outputs-1``, no output named twice; anything else raises ConfigError.
    """
    if isinstance(out_indices, int) and not isinstance(out_indices, bool):
        out_indices = (out_indices,)
    if not isinstance(out_indices, Sequence) or isinstance(out_indices, str) or not out_indices:
        raise ConfigError(f'{name} out_indices must be a non-empty tuple of stage indices, got {out_indices!r}')
    normalized = []
    for index in out_indices:
        if not isinstance(index, int) or isinstance(index, bool) or not -num_outputs <= index < num_outputs:
            raise ConfigError(f'{name} out_indices={tuple(out_indices)}: {index!r} is not a stage index; '
                              f'use 0..{num_outputs - 1} (or -{num_outputs}..-1, counting from the end)')
        if index % num_outputs in normalized:
            raise ConfigError(f'{name} out_indices={tuple(out_indices)} names stage {index % num_outputs} twice; '
                              'list each stage once')
        normalized.append(index % num_outputs)
    return tuple(normalized)


def check_frozen_stages(name: str, frozen_stages, low: int, high: int) -> int:
    """Return ``frozen_stages``, or raise ConfigError unless it is an int in ``low..high``."""
    if not isinstance(frozen_stages, int) or isinstance(frozen_stages, bool) or not low <= frozen_stages <= high:
        raise ConfigError(f'{name} frozen_stages must be an int in {low}..{high}, got {frozen_stages!r}')
    return frozen_stages


def freeze(modules: Sequence[nn.Module]) -> None:
    """Put ``modules`` in eval mode and stop their gradients."""
    for m in modules:
        m.eval()
        for param in m.parameters():
            param.requires_grad = False


def set_norm_eval(model: nn.Module) -> None:
    """Keep every BatchNorm of ``model`` in eval mode (running statistics frozen)."""
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.eval()
