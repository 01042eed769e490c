"""Optimizers from ``optimizer=dict(type='SGD', lr=..., paramwise_cfg=...)``."""

from __future__ import annotations

import inspect
import re

import torch
import torch.nn as nn

from ..errors import ConfigError
from ..registry import Registry
from ..warn import warn_once

OPTIMIZERS = Registry('optimizer')
for _name, _cls in vars(torch.optim).items():
    if inspect.isclass(_cls) and issubclass(_cls, torch.optim.Optimizer) and _cls is not torch.optim.Optimizer:
        OPTIMIZERS.register_module(module=_cls, name=_name)

_NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm,
               nn.modules.instancenorm._InstanceNorm)


def _param_options(name: str, param: nn.Parameter, module: nn.Module, base_lr: float, base_wd: float,
                   paramwise_cfg: dict) -> tuple[float, float]:
    """The (lr, weight_decay) of one parameter under ``paramwise_cfg``, in mmcv's order of rules."""
    custom_keys = paramwise_cfg.get('custom_keys', {})
    # the longest matching key wins, so 'backbone.layer1' overrides 'backbone' (ties: alphabetical)
    for key in sorted(sorted(custom_keys), key=len, reverse=True):
        if key in name:
            opts = custom_keys[key]
            return base_lr * opts.get('lr_mult', 1.0), base_wd * opts.get('decay_mult', 1.0)
    lr, wd = base_lr, base_wd
    is_bias = name.endswith('.bias') or name == 'bias'
    is_norm = isinstance(module, _NORM_TYPES)
    is_dwconv = isinstance(module, nn.Conv2d) and module.groups == module.in_channels and module.groups > 1
    if is_bias and not is_norm:
        lr *= paramwise_cfg.get('bias_lr_mult', 1.0)
    # one weight-decay rule per parameter: norm layers, else depth-wise convs, else biases
    if is_norm:
        wd *= paramwise_cfg.get('norm_decay_mult', 1.0)
    elif is_dwconv:
        wd *= paramwise_cfg.get('dwconv_decay_mult', 1.0)
    elif is_bias:
        wd *= paramwise_cfg.get('bias_decay_mult', 1.0)
    if param.ndim == 1 and 'flat_decay_mult' in paramwise_cfg:  # norms, biases, tokens: common for ViTs
        wd *= paramwise_cfg['flat_decay_mult']
    return lr, wd


_BLOCK = re.compile(r'^(.*?(?:^|\.)(?:layers|blocks)\.\d+)\.')


def layer_depths(model: nn.Module) -> tuple[dict[str, int], int]:
    """Each parameter's depth for layer-wise lr decay, and the deepest depth.

    A backbone with ``get_layer_depth(name) -> (depth, num_depths)`` decides itself. Otherwise, as for
    ViT-style models: the backbone's numbered blocks (``layers.N`` / ``blocks.N``, in order) have depths
    1..B; what comes before the first block (tokens, patch embedding) 0; a part between blocks (Swin's
    downsample) its previous block's; the rest (final norm, neck, head) B + 1.
    """
    backbone = getattr(model, 'backbone', None)
    if backbone is None:
        raise ConfigError('optimizer.paramwise_cfg.layer_decay_rate needs a classifier with a backbone')
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    getter = getattr(backbone, 'get_layer_depth', None)
    if callable(getter):
        depths, top = {}, 0
        for name in names:
            depth, num = getter(name[len('backbone.'):]) if name.startswith('backbone.') else (None, None)
            depths[name] = depth
            top = max(top, (num or 1) - 1)
        return {n: top if d is None else d for n, d in depths.items()}, top
    blocks: list[str] = []
    for name in names:
        match = _BLOCK.match(name) if name.startswith('backbone.') else None
        if match and match.group(1) not in blocks:
            blocks.append(match.group(1))
    if not blocks:
        raise ConfigError(f'optimizer.paramwise_cfg.layer_decay_rate: the backbone {type(backbone).__name__} has '
                          'no numbered blocks (layers.N / blocks.N) and no get_layer_depth(name) method; remove '
                          'layer_decay_rate or use custom_keys lr_mult per stage')
    top = len(blocks) + 1
    index = {b: i + 1 for i, b in enumerate(blocks)}
    depths, current = {}, 0
    for name in names:
        match = _BLOCK.match(name) if name.startswith('backbone.') else None
        if match:
            current = index[match.group(1)]
            depths[name] = current
        elif name.startswith('backbone.') and current < len(blocks):
            depths[name] = current  # before the first block (0) or between blocks
        else:
            depths[name] = top
    return depths, top


def param_groups(model: nn.Module, base_lr: float, base_wd: float, paramwise_cfg: dict | None) -> list[dict]:
    """Group trainable parameters by their (lr, weight decay); one group when no paramwise_cfg."""
    if not paramwise_cfg:
        return [{'params': [p for p in model.parameters() if p.requires_grad]}]
    allowed = {'custom_keys', 'norm_decay_mult', 'bias_lr_mult', 'bias_decay_mult', 'dwconv_decay_mult',
               'flat_decay_mult', 'bypass_duplicate', 'layer_decay_rate'}
    if '_delete' in paramwise_cfg:  # mmcls's Twins configs misspell _delete_; mmcv ignored the key, so do we
        warn_once(None, 'paramwise_cfg._delete', 'optimizer.paramwise_cfg._delete is not a config key (_delete_ is): '
                                                 'ignored, as mmcv ignored it')
        allowed = allowed | {'_delete'}
    unknown = set(paramwise_cfg) - allowed
    if unknown:
        raise ConfigError(f'optimizer.paramwise_cfg has unknown keys {sorted(unknown)}; '
                          f'allowed: {sorted(allowed)}')
    rate = paramwise_cfg.get('layer_decay_rate')
    if rate is not None and not (isinstance(rate, (int, float)) and 0 < rate <= 1):
        raise ConfigError(f'optimizer.paramwise_cfg.layer_decay_rate must be in (0, 1], got {rate!r}')
    depths, top = layer_depths(model) if rate is not None else ({}, 0)
    groups: dict[tuple[float, float], list] = {}
    seen: set[int] = set()
    for mod_name, module in model.named_modules():
        for p_name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            full = f'{mod_name}.{p_name}' if mod_name else p_name
            lr, wd = _param_options(full, param, module, base_lr, base_wd, paramwise_cfg)
            if rate is not None:  # deeper layers keep more of the lr: rate ** (distance from the top)
                lr *= rate ** (top - depths[full])
            groups.setdefault((lr, wd), []).append(param)
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
