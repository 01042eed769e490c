"""Weight initialization: per-module helpers and mmcv-style ``init_cfg`` dicts.

Each ``*_init(module, ...)`` fills ``module.weight`` and sets ``module.bias`` to a
constant, skipping a weight or bias that is missing or None.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch.nn as nn

from ...errors import ConfigError
from .pretrained import load_pretrained

_DISTRIBUTIONS = ('uniform', 'normal')


def _has(module: nn.Module, name: str) -> bool:
    return getattr(module, name, None) is not None


def _init_bias(module: nn.Module, bias: float) -> None:
    if _has(module, 'bias'):
        nn.init.constant_(module.bias, bias)


def _check_distribution(distribution: str) -> None:
    if distribution not in _DISTRIBUTIONS:
        raise ConfigError(f'distribution must be one of {_DISTRIBUTIONS}, got {distribution!r}')


def constant_init(module: nn.Module, val: float, bias: float = 0) -> None:
    """Fill the weight with ``val`` and the bias with ``bias``."""
    if _has(module, 'weight'):
        nn.init.constant_(module.weight, val)
    _init_bias(module, bias)


def normal_init(module: nn.Module, mean: float = 0, std: float = 1, bias: float = 0) -> None:
    """Draw the weight from N(mean, std²)."""
    if _has(module, 'weight'):
        nn.init.normal_(module.weight, mean, std)
    _init_bias(module, bias)


def trunc_normal_init(module: nn.Module, mean: float = 0, std: float = 1, a: float = -2, b: float = 2,
                      bias: float = 0) -> None:
    """Draw the weight from N(mean, std²) truncated to the absolute range [a, b]."""
    if _has(module, 'weight'):
        nn.init.trunc_normal_(module.weight, mean, std, a, b)
    _init_bias(module, bias)


def uniform_init(module: nn.Module, a: float = 0, b: float = 1, bias: float = 0) -> None:
    """Draw the weight from U(a, b)."""
    if _has(module, 'weight'):
        nn.init.uniform_(module.weight, a, b)
    _init_bias(module, bias)


def xavier_init(module: nn.Module, gain: float = 1, bias: float = 0, distribution: str = 'normal') -> None:
    """Glorot initialization of the weight."""
    _check_distribution(distribution)
    if _has(module, 'weight'):
        if distribution == 'uniform':
            nn.init.xavier_uniform_(module.weight, gain=gain)
        else:
            nn.init.xavier_normal_(module.weight, gain=gain)
    _init_bias(module, bias)


def kaiming_init(module: nn.Module, a: float = 0, mode: str = 'fan_out', nonlinearity: str = 'relu',
                 bias: float = 0, distribution: str = 'normal') -> None:
    """He initialization of the weight (fan_out, ReLU gain by default, as for ResNets)."""
    _check_distribution(distribution)
    if _has(module, 'weight'):
        if distribution == 'uniform':
            nn.init.kaiming_uniform_(module.weight, a=a, mode=mode, nonlinearity=nonlinearity)
        else:
            nn.init.kaiming_normal_(module.weight, a=a, mode=mode, nonlinearity=nonlinearity)
    _init_bias(module, bias)


def caffe2_xavier_init(module: nn.Module, bias: float = 0) -> None:
    """Caffe2's XavierFill, which is He-uniform with fan_in and a=1."""
    kaiming_init(module, a=1, mode='fan_in', nonlinearity='leaky_relu', bias=bias, distribution='uniform')


def bias_init_with_prob(prior_prob: float) -> float:
    """The bias whose sigmoid is ``prior_prob``."""
    return float(-math.log((1 - prior_prob) / prior_prob))


# init_cfg ``type`` -> (function, its keyword arguments besides ``bias``)
_INITIALIZERS = {
    'Constant': (constant_init, ('val',)),
    'Normal': (normal_init, ('mean', 'std')),
    'TruncNormal': (trunc_normal_init, ('mean', 'std', 'a', 'b')),
    'Uniform': (uniform_init, ('a', 'b')),
    'Xavier': (xavier_init, ('gain', 'distribution')),
    'Kaiming': (kaiming_init, ('a', 'mode', 'nonlinearity', 'distribution')),
    'Caffe2Xavier': (caffe2_xavier_init, ()),
}


def _class_names(module: nn.Module) -> set[str]:
    # 'layer' may name the class or a base class (e.g. '_BatchNorm', 'Conv2d')
    return {cls.__name__ for cls in type(module).__mro__}


def _apply_one(module: nn.Module, cfg: dict, whole_module: bool) -> None:
    """Initialize the submodules that ``cfg['layer']`` names (every one if ``whole_module``)."""
    init_type = cfg['type']
    if init_type == 'Pretrained':
        load_pretrained(module, cfg.get('checkpoint'), prefix=cfg.get('prefix'),
                        map_location=cfg.get('map_location', 'cpu'))
        return
    if init_type not in _INITIALIZERS:
        raise ConfigError(f'init_cfg type {init_type!r} is unknown; valid types: '
                          f'{", ".join([*_INITIALIZERS, "Pretrained"])}.')
    func, arg_names = _INITIALIZERS[init_type]
    unknown = set(cfg) - set(arg_names) - {'type', 'layer', 'override', 'bias', 'bias_prob'}
    if unknown:
        raise ConfigError(f'init_cfg {cfg!r}: unknown keys {sorted(unknown)} for type {init_type!r}; '
                          f'valid: {", ".join((*arg_names, "layer", "override", "bias", "bias_prob"))}.')
    kwargs = {k: cfg[k] for k in arg_names if k in cfg}
    if 'bias_prob' in cfg:
        kwargs['bias'] = bias_init_with_prob(cfg['bias_prob'])
    elif 'bias' in cfg:
        kwargs['bias'] = cfg['bias']
    layers = cfg.get('layer') or []
    layers = {layers} if isinstance(layers, str) else set(layers)
    for m in module.modules():
        if whole_module or layers & _class_names(m):
            func(m, **kwargs)


def initialize(module: nn.Module, init_cfg: Mapping | Sequence[Mapping]) -> None:
    """Apply mmcv-style ``init_cfg`` dicts, e.g. ``dict(type='Normal', layer='Linear', std=0.01)``.

    ``layer`` selects submodules by class name, ``override=dict(name='fc', ...)`` initializes
    the named child as a whole, and ``type='Pretrained'`` loads ``checkpoint`` instead.
    """
    cfgs = [init_cfg] if isinstance(init_cfg, Mapping) else list(init_cfg)
    for cfg in cfgs:
        if not isinstance(cfg, Mapping) or 'type' not in cfg:
            raise ConfigError(f'init_cfg must be a dict with a "type" key (or a list of them), got {cfg!r}')
        cfg = dict(cfg)
        override = cfg.pop('override', None)
        _apply_one(module, cfg, whole_module=False)
        for ov in ([override] if isinstance(override, Mapping) else override or []):
            ov = dict(ov)
            name = ov.pop('name', None)
            if name is None or not hasattr(module, name):
                children = [n for n, _ in module.named_children()]
                raise ConfigError(f'init_cfg override {ov!r} needs name= of a child of '
                                  f'{type(module).__name__}; children: {children}')
            if not ov:  # only a name: initialize that child as the parent cfg says
                ov = dict(cfg)
            elif 'type' not in ov:
                raise ConfigError(f'init_cfg override for {name!r} needs a "type" key, got {ov!r}')
            _apply_one(getattr(module, name), ov, whole_module=True)
