"""AutoAugment and RandAugment with mmcls 0.x arguments (policies of the steps in augment_ops)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from numbers import Number

import torch
import torchvision.transforms.v2 as T

from ...errors import ConfigError
from ..registries import PIPELINES
from .images import map_images
from .policies import POLICY_IMAGENET

__all__ = ['AutoAugment', 'RandAugment', 'RAND_INCREASING_POLICIES']

_TV_AUTO_POLICIES = {'imagenet': T.AutoAugmentPolicy.IMAGENET, 'cifar10': T.AutoAugmentPolicy.CIFAR10,
                     'svhn': T.AutoAugmentPolicy.SVHN}

# The "increasing" RandAugment space (timm's rand-increasing, mmcls's rand_increasing_policies):
# each magnitude grows with the level, from the first value of magnitude_range to the second.
RAND_INCREASING_POLICIES = (
    dict(type='AutoContrast'), dict(type='Equalize'), dict(type='Invert'),
    dict(type='Rotate', magnitude_key='angle', magnitude_range=(0, 30)),
    dict(type='Posterize', magnitude_key='bits', magnitude_range=(4, 0)),
    dict(type='Solarize', magnitude_key='thr', magnitude_range=(256, 0)),
    dict(type='SolarizeAdd', magnitude_key='magnitude', magnitude_range=(0, 110)),
    dict(type='ColorTransform', magnitude_key='magnitude', magnitude_range=(0, 0.9)),
    dict(type='Contrast', magnitude_key='magnitude', magnitude_range=(0, 0.9)),
    dict(type='Brightness', magnitude_key='magnitude', magnitude_range=(0, 0.9)),
    dict(type='Sharpness', magnitude_key='magnitude', magnitude_range=(0, 0.9)),
    dict(type='Shear', magnitude_key='magnitude', magnitude_range=(0, 0.3), direction='horizontal'),
    dict(type='Shear', magnitude_key='magnitude', magnitude_range=(0, 0.3), direction='vertical'),
    dict(type='Translate', magnitude_key='magnitude', magnitude_range=(0, 0.45), direction='horizontal'),
    dict(type='Translate', magnitude_key='magnitude', magnitude_range=(0, 0.45), direction='vertical'),
)


def _op_class(step: str, cfg) -> type:
    if not isinstance(cfg, Mapping) or 'type' not in cfg:
        raise ConfigError(f'{step}: each policy must be a dict with a "type" key, got {cfg!r}')
    cls = PIPELINES.get(cfg['type'])
    if not isinstance(cls, type):
        raise ConfigError(f'{step}: policy type {cfg["type"]!r} is not a registered pipeline step '
                          f'(e.g. Rotate, Shear, Translate, Posterize, Solarize, Contrast, Brightness)')
    return cls


def _with_hparams(cls: type, args: dict, hparams: Mapping) -> dict:
    """``args`` plus the ``hparams`` (e.g. pad_val) that ``cls`` takes and ``args`` does not set."""
    params = inspect.signature(cls).parameters
    return {**{k: v for k, v in hparams.items() if k in params}, **args}


def _build_op(step: str, cls: type, args: dict):
    try:
        return cls(**args)
    except TypeError as e:
        raise ConfigError(f'{step}: cannot build {cls.__name__}({args}): {e}') from None


def _pad_fill(hparams: Mapping):
    pad = hparams.get('pad_val', 128)
    return [float(v) for v in pad] if isinstance(pad, Sequence) else float(pad)


@PIPELINES.register_module()
class AutoAugment:
    """Apply one sub-policy, picked uniformly at random, of ``policies``.

    ``policies`` is mmcls's list of sub-policies, each a list of step dicts applied in order
    (``[[dict(type='Posterize', bits=4, prob=0.4), dict(type='Rotate', angle=30., prob=0.6)], ...]``),
    'policy_imagenet' for mmcls's ImageNet policy (:data:`~imgcls.data.pipelines.policies.POLICY_IMAGENET`,
    the one mmcls's recipes use), or 'imagenet' / 'cifar10' / 'svhn' for torchvision's published
    AutoAugment policies (torchvision.transforms.v2.AutoAugment, its own operations). ``hparams``
    fills arguments the steps leave out (default ``pad_val=128``).
    """

    img_layout = 'chw'

    def __init__(self, policies, hparams: Mapping | None = None):
        self.hparams = dict(hparams) if hparams is not None else {'pad_val': 128}
        self.policies = policies
        if policies == 'policy_imagenet':
            policies = POLICY_IMAGENET
        if isinstance(policies, str):
            if policies not in _TV_AUTO_POLICIES:
                raise ConfigError(f'AutoAugment: policies={policies!r} is not one of '
                                  f"{['policy_imagenet', *_TV_AUTO_POLICIES]} or a list of sub-policies")
            self._tv = T.AutoAugment(_TV_AUTO_POLICIES[policies], fill=_pad_fill(self.hparams))
            return
        self._tv = None
        if not isinstance(policies, Sequence) or not policies:
            raise ConfigError(f'AutoAugment: policies must be a non-empty list of sub-policies, got {policies!r}')
        self._sub_policies = []
        for i, sub in enumerate(policies):
            if isinstance(sub, Mapping) or not isinstance(sub, Sequence) or not sub:
                raise ConfigError(f'AutoAugment: sub-policy {i} must be a non-empty list of step dicts, got {sub!r}')
            ops = []
            for cfg in sub:
                cls = _op_class('AutoAugment', cfg)
                args = _with_hparams(cls, {k: v for k, v in cfg.items() if k != 'type'}, self.hparams)
                ops.append(_build_op('AutoAugment', cls, args))
            self._sub_policies.append(ops)

    def __call__(self, results: dict) -> dict:
        if self._tv is not None:
            return map_images(results, self._tv)
        for op in self._sub_policies[int(torch.randint(len(self._sub_policies), ()))]:
            results = op(results)
        return results

    def __repr__(self) -> str:
        n = self.policies if isinstance(self.policies, str) else f'{len(self.policies)} sub-policies'
        return f'{type(self).__name__}(policies={n})'


@PIPELINES.register_module()
class RandAugment:
    """Apply ``num_policies`` steps drawn (with replacement) from ``policies``, at one magnitude level.

    As mmcls 0.x: each policy dict may name ``magnitude_key`` (the argument that gets the
    magnitude) and ``magnitude_range`` (its values at levels 0 and ``total_level``); the level is
    ``magnitude_level``, perturbed by ``N(0, magnitude_std)`` (``'inf'``: uniform in [0, level]) and
    clipped to [0, total_level], drawn anew for every step. Each step then applies with its own
    ``prob`` (0.5 by default). ``hparams`` fills arguments the steps leave out (``pad_val=128``).

    ``policies`` may also be 'rand_increasing' (:data:`RAND_INCREASING_POLICIES`), or 'torchvision'
    for torchvision.transforms.v2.RandAugment (``num_ops=num_policies``,
    ``magnitude=magnitude_level``, ``num_magnitude_bins=total_level + 1``; its own operations and
    ranges, every drawn operation applied; no ``magnitude_std``).
    """

    img_layout = 'chw'

    def __init__(self, policies, num_policies: int, magnitude_level: float, magnitude_std=0.,
                 total_level: float = 30, hparams: Mapping | None = None):
        if not isinstance(num_policies, int) or num_policies < 1:
            raise ConfigError(f'RandAugment: num_policies must be an int >= 1, got {num_policies!r}')
        if not isinstance(total_level, Number) or total_level <= 0:
            raise ConfigError(f'RandAugment: total_level must be a number > 0, got {total_level!r}')
        if not isinstance(magnitude_level, Number) or not 0 <= magnitude_level <= total_level:
            raise ConfigError(f'RandAugment: magnitude_level must be in [0, total_level={total_level}], '
                              f'got {magnitude_level!r}')
        if not (magnitude_std == 'inf' or (isinstance(magnitude_std, Number) and magnitude_std >= 0)):
            raise ConfigError(f"RandAugment: magnitude_std must be a number >= 0 or 'inf', got {magnitude_std!r}")
        self.num_policies, self.magnitude_level = num_policies, float(magnitude_level)
        self.magnitude_std, self.total_level = magnitude_std, float(total_level)
        self.hparams = dict(hparams) if hparams is not None else {'pad_val': 128}
        self.policies = policies
        self._tv = None
        if policies == 'torchvision':
            if magnitude_std != 0:
                raise ConfigError("RandAugment: policies='torchvision' has no magnitude_std; set it to 0")
            self._tv = T.RandAugment(num_ops=num_policies, magnitude=int(round(magnitude_level)),
                                     num_magnitude_bins=int(total_level) + 1, fill=_pad_fill(self.hparams))
            return
        if policies == 'rand_increasing':
            policies = RAND_INCREASING_POLICIES
        if isinstance(policies, (str, Mapping)) or not isinstance(policies, Sequence) or not policies:
            raise ConfigError("RandAugment: policies must be a non-empty list of step dicts, 'rand_increasing' "
                              f"or 'torchvision', got {policies!r}")
        self._entries = [self._check_policy(p) for p in policies]

    def _check_policy(self, cfg) -> tuple[type, dict, str | None, tuple[float, float] | None]:
        cls = _op_class('RandAugment', cfg)
        args = {k: v for k, v in cfg.items() if k not in ('type', 'magnitude_key', 'magnitude_range')}
        args = _with_hparams(cls, args, self.hparams)
        key, value_range = cfg.get('magnitude_key'), cfg.get('magnitude_range')
        if (key is None) != (value_range is None):
            raise ConfigError(f'RandAugment: policy {cfg!r} needs both magnitude_key and magnitude_range, or neither')
        if key is not None:
            if not (isinstance(value_range, Sequence) and len(value_range) == 2
                    and all(isinstance(v, Number) for v in value_range)):
                raise ConfigError(f'RandAugment: magnitude_range must be (min, max), got {value_range!r}')
            value_range = (float(value_range[0]), float(value_range[1]))
            _build_op('RandAugment', cls, {**args, key: value_range[0]})  # fail now, not in a worker
        else:
            _build_op('RandAugment', cls, args)
        return cls, args, key, value_range

    def _level(self) -> float:
        level = self.magnitude_level
        if self.magnitude_std == 'inf':
            level = torch.rand(()).item() * level
        elif self.magnitude_std > 0:
            level = level + self.magnitude_std * torch.randn(()).item()
        return min(self.total_level, max(0.0, level))

    def __call__(self, results: dict) -> dict:
        if self._tv is not None:
            return map_images(results, self._tv)
        for k in torch.randint(len(self._entries), (self.num_policies,)).tolist():
            cls, args, key, value_range = self._entries[k]
            if key is not None:
                low, high = value_range
                args = {**args, key: self._level() / self.total_level * (high - low) + low}
            results = cls(**args)(results)
        return results

    def __repr__(self) -> str:
        n = self.policies if isinstance(self.policies, str) else f'{len(self.policies)} policies'
        return (f'{type(self).__name__}(policies={n}, num_policies={self.num_policies}, '
                f'magnitude_level={self.magnitude_level}, magnitude_std={self.magnitude_std}, '
                f'total_level={self.total_level})')

