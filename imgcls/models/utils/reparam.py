"""Structural re-parameterization: the algebra that merges parallel linear branches into one kernel.

In evaluation a BatchNorm is a per-channel affine map and a convolution is linear, so several
conv+BN branches that read the same input and are summed equal a single convolution with a bias
(Ding et al. 2021, RepVGG; 2022, RepMLPNet). These helpers compute that kernel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from ...errors import ConfigError


def fold_norm(weight: torch.Tensor | None, norm: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """The kernel and bias of ``norm(conv(x))`` for an eval-mode BatchNorm, given the conv's bias-free weight.

    A norm with fewer channels than the conv has outputs normalizes consecutive runs of them (RepMLPNet's
    partition perceptron: ``num_sharesets`` norm channels over ``num_sharesets * h * w`` conv outputs).
    """
    if not isinstance(norm, _BatchNorm) or norm.running_var is None:
        raise ConfigError(f're-parameterization needs BatchNorm layers with running statistics, got '
                          f'{type(norm).__name__}: build the model with norm_cfg=dict(type="BN")')
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps) if norm.affine \
        else 1.0 / torch.sqrt(norm.running_var + norm.eps)
    shift = norm.bias if norm.affine else torch.zeros_like(norm.running_mean)
    bias = shift - norm.running_mean * scale
    repeat = weight.shape[0] // scale.shape[0]
    if repeat > 1:
        scale, bias = scale.repeat_interleave(repeat), bias.repeat_interleave(repeat)
    return weight * scale.reshape(-1, *([1] * (weight.dim() - 1))), bias


def identity_kernel(channels: int, groups: int, kernel_size: int, like: torch.Tensor) -> torch.Tensor:
    """A (grouped) conv kernel of odd ``kernel_size`` that copies its input: 1 at the centre of each own channel."""
    per_group = channels // groups
    kernel = torch.zeros(channels, per_group, kernel_size, kernel_size, dtype=like.dtype, device=like.device)
    centre = kernel_size // 2
    # output channel c reads input channel c, which is index c % per_group inside its group
    index = torch.arange(channels, device=like.device)
    kernel[index, index % per_group, centre, centre] = 1
    return kernel


def pad_kernel(kernel: torch.Tensor, size: int) -> torch.Tensor:
    """Zero-pad a square odd kernel to ``size`` x ``size``, keeping it centred (a 1x1 becomes a 3x3 with it inside)."""
    pad = (size - kernel.shape[-1]) // 2
    return F.pad(kernel, [pad] * 4) if pad > 0 else kernel


def conv_from_kernel(reference: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor) -> nn.Conv2d:
    """A conv shaped like ``reference`` (stride, padding, groups...) but with ``weight`` and a ``bias``."""
    conv = nn.Conv2d(reference.in_channels, reference.out_channels, weight.shape[-1], stride=reference.stride,
                     padding=weight.shape[-1] // 2 * reference.dilation[0], dilation=reference.dilation,
                     groups=reference.groups, bias=True, padding_mode=reference.padding_mode,
                     device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
    return conv


def switch_all_to_deploy(model: nn.Module) -> int:
    """Call ``switch_to_deploy()`` on every sub-module that has one (innermost first); return how many switched."""
    switched = 0
    for module in reversed(list(model.modules())):
        if module is not model and getattr(module, 'deploy', True) is False and hasattr(module, 'switch_to_deploy'):
            module.switch_to_deploy()
            switched += 1
    return switched
