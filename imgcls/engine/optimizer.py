"""Optimizers from ``optimizer=dict(type='SGD', lr=..., paramwise_cfg=...)``."""

from __future__ import annotations

import inspect

import torch
import torch.nn as nn

from ..errors import ConfigError
from ..registry import Registry

OPTIMIZERS = Registry('optimizer')
for _name, _cls in vars(torch.optim).items():
    if inspect.isclass(_cls) and issubclass(_cls, torch.optim.Optimizer) and _cls is not torch.optim.Optimizer:
        OPTIMIZERS.register_module(module=_cls, name=_name)

_NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm,
               nn.modules.instancenorm._InstanceNorm)


def _param_options(name: str, param: nn.Parameter, module: nn.Module, base_lr: float, base_wd: float,
                   paramwise_cfg: dict) -> tuple[float, float]:
    """The (lr, weight_decay) of one parameter under ``paramwise_cfg``."""
    custom_keys = paramwise_cfg.get('custom_keys', {})
    # the longest matching key wins, so 'backbone.layer1' overrides 'backbone'
    for key in sorted(custom_keys, key=len, reverse=True):
        if key in name:
            opts = custom_keys[key]
            return base_lr * opts.get('lr_mult', 1.0), base_wd * opts.get('decay_mult', 1.0)
    lr, wd = base_lr, base_wd
    is_bias = name.endswith('.bias') or name == 'bias'
    if isinstance(module, _NORM_TYPES):
        wd *= paramwise_cfg.get('norm_decay_mult', 1.0)
    elif is_bias:
        lr *= paramwise_cfg.get('bias_lr_mult', 1.0)
        wd *= paramwise_cfg.get('bias_decay_mult', 1.0)
    if isinstance(module, nn.Conv2d) and module.groups == module.in_channels and module.groups > 1:
        wd *= paramwise_cfg.get('dwconv_decay_mult', 1.0)
    if param.ndim == 1 and 'flat_decay_mult' in paramwise_cfg:  # norms, biases, tokens: common for ViTs
        wd *= paramwise_cfg['flat_decay_mult']
    return lr, wd


def param_groups(model: nn.Module, base_lr: float, base_wd: float, paramwise_cfg: dict | None) -> list[dict]:
    """Group trainable parameters by their (lr, weight decay); one group when no paramwise_cfg."""
    if not paramwise_cfg:
        return [{'params': [p for p in model.parameters() if p.requires_grad]}]
    allowed = {'custom_keys', 'norm_decay_mult', 'bias_lr_mult', 'bias_decay_mult', 'dwconv_decay_mult',
               'flat_decay_mult', 'bypass_duplicate'}
    unknown = set(paramwise_cfg) - allowed
    if unknown:
        raise ConfigError(f'optimizer.paramwise_cfg has unknown keys {sorted(unknown)}; '
                          f'allowed: {sorted(allowed)}')
    groups: dict[tuple[float, float], list] = {}
    seen: set[int] = set()
    for mod_name, module in model.named_modules():
        for p_name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            full = f'{mod_name}.{p_name}' if mod_name else p_name
            key = _param_options(full, param, module, base_lr, base_wd, paramwise_cfg)
            groups.setdefault(key, []).append(param)
    return [{'params': ps, 'lr': lr, 'weight_decay': wd} for (lr, wd), ps in groups.items()]


def build_optimizer(model: nn.Module, cfg: dict) -> torch.optim.Optimizer:
    """Build any ``torch.optim`` optimizer (or a registered one) for ``model``'s trainable params."""
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise ConfigError(f'optimizer must be a dict with a "type" (e.g. SGD, AdamW), got {cfg!r}')
    cfg = dict(cfg)
    opt_type = cfg.pop('type')
    paramwise_cfg = cfg.pop('paramwise_cfg', None)
    opt_cls = OPTIMIZERS.get(opt_type)
    if opt_cls is None:
        raise ConfigError('optimizer: ' + OPTIMIZERS.unknown_type_message(opt_type))
    if 'lr' not in cfg and 'lr' in inspect.signature(opt_cls).parameters:
        raise ConfigError(f'optimizer {opt_type} needs an "lr" value, e.g. optimizer.lr=0.1')
    groups = param_groups(model, cfg.get('lr', 0.0), cfg.get('weight_decay', 0.0), paramwise_cfg)
    if not any(g['params'] for g in groups):
        raise ConfigError('the model has no trainable parameters (are all stages frozen?)')
    if 'fused' not in cfg and 'foreach' not in cfg and 'fused' in inspect.signature(opt_cls).parameters:
        # fused kernels update all parameters in one pass: ~3x faster steps for ResNet-50 on a CPU here
        try:
            return opt_cls(groups, fused=True, **cfg)
        except (RuntimeError, TypeError, ValueError):
            pass  # unsupported device / dtype / option: fall back to the default implementation
    try:
        return opt_cls(groups, **cfg)
    except (TypeError, ValueError) as e:
        raise ConfigError(f'optimizer {opt_type}{cfg}: {e}') from e
