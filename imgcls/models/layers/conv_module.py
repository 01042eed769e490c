"""ConvModule: a conv / norm / activation block whose parts are built from configs."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from ...errors import ConfigError
from .activation import build_activation_layer
from .conv import build_conv_layer
from .norm import build_norm_layer
from .weight_init import constant_init, kaiming_init

# activations whose constructors take no ``inplace`` argument
_NO_INPLACE = ('Tanh', 'PReLU', 'Sigmoid', 'HSigmoid', 'Swish', 'GELU', 'Clamp', 'Clip')
_PADDING_MODES = ('zeros', 'circular', 'reflect', 'replicate')


class ConvModule(nn.Module):
    """Conv, then norm, then activation (or another ``order``), each built from its config.

    Children are ``conv``, the norm under its :func:`build_norm_layer` name (``bn``, ``gn``...,
    also reachable as ``.norm``) and ``activate``, so state-dict keys match mmcv's.

    Args:
        bias: ``'auto'`` adds a conv bias only when there is no norm layer.
        norm_cfg / act_cfg: None leaves that part out.
        inplace: passed to activations that accept it.
        order: a permutation of ``('conv', 'norm', 'act')``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple, stride: int | tuple = 1,
                 padding: int | tuple = 0, dilation: int | tuple = 1, groups: int = 1,
                 bias: bool | str = 'auto', conv_cfg: Mapping | None = None, norm_cfg: Mapping | None = None,
                 act_cfg: Mapping | None = dict(type='ReLU'), inplace: bool = True,  # noqa: B006
                 with_spectral_norm: bool = False, padding_mode: str = 'zeros',
                 order: Sequence[str] = ('conv', 'norm', 'act')):
        super().__init__()
        if not (isinstance(order, (tuple, list)) and len(order) == 3
                and set(order) == {'conv', 'norm', 'act'}):
            raise ConfigError("ConvModule order must be a permutation of ('conv', 'norm', 'act'), "
                              f'got {order!r}')
        if bias != 'auto' and not isinstance(bias, bool):
            raise ConfigError(f"ConvModule bias must be True, False or 'auto', got {bias!r}")
        if padding_mode not in _PADDING_MODES:
            raise ConfigError(f'ConvModule padding_mode {padding_mode!r} is not one of {_PADDING_MODES}')
        self.conv_cfg, self.norm_cfg, self.act_cfg = conv_cfg, norm_cfg, act_cfg
        self.inplace, self.with_spectral_norm = inplace, with_spectral_norm
        self.order = tuple(order)
        self.with_norm = norm_cfg is not None
        self.with_activation = act_cfg is not None
        self.with_bias = (not self.with_norm) if bias == 'auto' else bias

        conv_kwargs = {} if padding_mode == 'zeros' else {'padding_mode': padding_mode}
        self.conv = build_conv_layer(conv_cfg, in_channels, out_channels, kernel_size, stride=stride,
                                     padding=padding, dilation=dilation, groups=groups,
                                     bias=self.with_bias, **conv_kwargs)
        if with_spectral_norm:
            self.conv = nn.utils.spectral_norm(self.conv)

        self.norm_name = None
        if self.with_norm:
            # a norm placed before the conv normalizes the conv's input channels
            norm_after_conv = self.order.index('norm') > self.order.index('conv')
            norm_channels = out_channels if norm_after_conv else in_channels
            self.norm_name, norm = build_norm_layer(norm_cfg, norm_channels)
            self.add_module(self.norm_name, norm)
            if self.with_bias and isinstance(norm, (_BatchNorm, _InstanceNorm)):
                warnings.warn('ConvModule: a conv bias before batch/instance norm has no effect',
                              stacklevel=2)

        if self.with_activation:
            act_cfg_ = dict(act_cfg)
            if act_cfg_.get('type') not in _NO_INPLACE:
                act_cfg_.setdefault('inplace', inplace)
            self.activate = build_activation_layer(act_cfg_)

        self.init_weights()

    @property
    def norm(self) -> nn.Module | None:
        """The norm layer (None without ``norm_cfg``)."""
        return getattr(self, self.norm_name) if self.norm_name else None

    # the conv's attributes, for code that treats a ConvModule like a conv
    in_channels = property(lambda self: self.conv.in_channels)
    out_channels = property(lambda self: self.conv.out_channels)
    kernel_size = property(lambda self: self.conv.kernel_size)
    stride = property(lambda self: self.conv.stride)
    padding = property(lambda self: self.conv.padding)
    dilation = property(lambda self: self.conv.dilation)
    groups = property(lambda self: self.conv.groups)

    def init_weights(self) -> None:
        """Kaiming-init the conv (unless it has its own ``init_weights``) and set the norm to identity."""
        if not hasattr(self.conv, 'init_weights'):
            if self.with_activation and self.act_cfg.get('type') == 'LeakyReLU':
                nonlinearity, a = 'leaky_relu', self.act_cfg.get('negative_slope', 0.01)
            else:
                nonlinearity, a = 'relu', 0
            kaiming_init(self.conv, a=a, nonlinearity=nonlinearity)
        if self.with_norm:
            constant_init(self.norm, 1, bias=0)

    def forward(self, x: torch.Tensor, activate: bool = True, norm: bool = True) -> torch.Tensor:
        """Apply the parts in ``order``; ``activate`` / ``norm`` False skip those parts."""
        for part in self.order:
            if part == 'conv':
                x = self.conv(x)
            elif part == 'norm' and norm and self.with_norm:
                x = self.norm(x)
            elif part == 'act' and activate and self.with_activation:
                x = self.activate(x)
        return x
