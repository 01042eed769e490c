"""HRNet (Wang et al. 2019), the classification variant: parallel branches at 1/4..1/32 scale, fused often.

State-dict keys follow mmcls 0.x: ``conv1``/``bn1``/``conv2``/``bn2`` stem, ``layer1`` (a Bottleneck stage),
``transition<i>``, ``stage<i>.<module>.branches.<b>.<block>`` and ``stage<i>.<module>.fuse_layers.<to>.<from>``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import build_conv_layer, build_norm_layer, constant_init
from .base_backbone import BaseBackbone
from .resnet import BasicBlock, Bottleneck, ResLayer

__all__ = ['HRModule', 'HRNet']

BLOCKS = {'BASIC': BasicBlock, 'BOTTLENECK': Bottleneck}
_STAGE_KEYS = ('num_modules', 'num_branches', 'block', 'num_blocks', 'num_channels')


def conv_norm(in_channels: int, out_channels: int, kernel_size: int, stride: int, conv_cfg: Mapping | None,
              norm_cfg: Mapping, relu: bool) -> nn.Sequential:
    """conv (no bias) → norm [→ ReLU], as a Sequential (keys ``0``, ``1``) the way HRNet's fusions name them."""
    layers = [build_conv_layer(conv_cfg, in_channels, out_channels, kernel_size, stride=stride,
                               padding=kernel_size // 2, bias=False),
              build_norm_layer(norm_cfg, out_channels)[1]]
    if relu:
        layers.append(nn.ReLU(inplace=False))
    return nn.Sequential(*layers)


class HRModule(nn.Module):
    """Runs each branch through its blocks, then gives every output branch the sum of all branches.

    A lower-resolution branch reaches a higher one through a 1x1 conv + norm + nearest upsampling; a
    higher one reaches a lower one through stride-2 3x3 convs (ReLU between them, not after the last).
    With ``multiscale_output=False`` only the highest-resolution branch is fused and returned.
    """

    def __init__(self, block: type, num_blocks: Sequence[int], in_channels: Sequence[int],
                 num_channels: Sequence[int], multiscale_output: bool = True, with_cp: bool = False,
                 conv_cfg: Mapping | None = None, norm_cfg: Mapping = dict(type='BN')):  # noqa: B006
        super().__init__()
        self.num_branches = len(num_blocks)
        self.in_channels = [c * block.expansion for c in num_channels]
        self.branches = nn.ModuleList(
            ResLayer(block, num_blocks[i], in_channels[i], self.in_channels[i], conv_cfg=conv_cfg,
                     norm_cfg=norm_cfg, with_cp=with_cp) for i in range(self.num_branches))
        self.fuse_layers = None
        if self.num_branches > 1:
            outputs = self.num_branches if multiscale_output else 1
            self.fuse_layers = nn.ModuleList(
                nn.ModuleList(self._fuse(j, i, conv_cfg, norm_cfg) for j in range(self.num_branches))
                for i in range(outputs))
        self.relu = nn.ReLU(inplace=False)

    def _fuse(self, src: int, dst: int, conv_cfg, norm_cfg) -> nn.Module:
        """The path from branch ``src`` to branch ``dst`` (Identity when they are the same)."""
        channels = self.in_channels
        if src == dst:
            return nn.Identity()
        if src > dst:
            path = conv_norm(channels[src], channels[dst], 1, 1, conv_cfg, norm_cfg, relu=False)
            path.append(nn.Upsample(scale_factor=2 ** (src - dst), mode='nearest'))
            return path
        steps = dst - src
        return nn.Sequential(*(
            conv_norm(channels[src], channels[dst] if k == steps - 1 else channels[src], 3, 2, conv_cfg, norm_cfg,
                      relu=k < steps - 1) for k in range(steps)))

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Branch inputs (highest resolution first) → fused branch outputs."""
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        if self.fuse_layers is None:
            return xs
        return [self.relu(sum(path(x) for path, x in zip(paths, xs))) for paths in self.fuse_layers]


def _check_stage(name: str, cfg) -> dict:
    if not isinstance(cfg, Mapping) or set(_STAGE_KEYS) - set(cfg):
        raise ConfigError(f'HRNet extra.{name} must be a dict with the keys {", ".join(_STAGE_KEYS)}, got {cfg!r}')
    if cfg['block'] not in BLOCKS:
        raise ConfigError(f"HRNet extra.{name}.block must be 'BASIC' or 'BOTTLENECK', got {cfg['block']!r}")
    branches = cfg['num_branches']
    if len(cfg['num_blocks']) != branches or len(cfg['num_channels']) != branches:
        raise ConfigError(f'HRNet extra.{name}: num_blocks={tuple(cfg["num_blocks"])} and num_channels='
                          f'{tuple(cfg["num_channels"])} need one entry per branch (num_branches={branches})')
    return dict(cfg)


@BACKBONES.register_module()
class HRNet(BaseBackbone):
    """HRNet backbone: returns the 4 branch outputs (strides 4, 8, 16, 32), or the first alone.

    Args:
        arch: ``'w18' | 'w30' | 'w32' | 'w40' | 'w44' | 'w48' | 'w64'`` (width of the first branch);
            used when ``extra`` is None.
        extra: ``dict(stage1=..., stage4=...)``, each with ``num_modules``, ``num_branches``, ``block``
            (``'BASIC'``/``'BOTTLENECK'``), ``num_blocks`` and ``num_channels`` (one per branch).
        in_channels: image channels.
        norm_eval: keep BatchNorm layers in eval mode while training.
        with_cp: gradient checkpointing in the branch blocks.
        zero_init_residual: zero the last norm of every branch block, so each starts as the identity.
        multiscale_output: return all branches; False returns the highest-resolution one only.
    """

    # per stage: modules, branches, block, blocks per branch, channels per branch (width w: w, 2w, 4w, 8w)
    arch_zoo = {f'w{w}': [[1, 1, 'BOTTLENECK', (4,), (64,)],
                          [1, 2, 'BASIC', (4, 4), (w, 2 * w)],
                          [4, 3, 'BASIC', (4, 4, 4), (w, 2 * w, 4 * w)],
                          [3, 4, 'BASIC', (4, 4, 4, 4), (w, 2 * w, 4 * w, 8 * w)]]
                for w in (18, 30, 32, 40, 44, 48, 64)}

    def __init__(self, arch: str = 'w32', extra: Mapping | None = None, in_channels: int = 3,
                 conv_cfg: Mapping | None = None, norm_cfg: Mapping = dict(type='BN'),  # noqa: B006
                 norm_eval: bool = False, with_cp: bool = False, zero_init_residual: bool = False,
                 multiscale_output: bool = True,
                 init_cfg=[dict(type='Kaiming', layer='Conv2d'),  # noqa: B006
                           dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])]):
        super().__init__(copy.deepcopy(init_cfg))
        self.extra = self.parse_arch(arch, extra)
        self.conv_cfg, self.norm_cfg = conv_cfg, norm_cfg
        self.norm_eval, self.with_cp, self.zero_init_residual = norm_eval, with_cp, zero_init_residual

        self.conv1 = build_conv_layer(conv_cfg, in_channels, 64, 3, stride=2, padding=1, bias=False)
        self.norm1_name, norm1 = build_norm_layer(norm_cfg, 64, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.conv2 = build_conv_layer(conv_cfg, 64, 64, 3, stride=2, padding=1, bias=False)
        self.norm2_name, norm2 = build_norm_layer(norm_cfg, 64, postfix=2)
        self.add_module(self.norm2_name, norm2)
        self.relu = nn.ReLU(inplace=True)

        first = self.extra['stage1']
        block = BLOCKS[first['block']]
        channels = [c * block.expansion for c in first['num_channels']]
        self.layer1 = ResLayer(block, first['num_blocks'][0], 64, channels[0], conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        for i in range(2, 5):
            cfg = self.extra[f'stage{i}']
            block = BLOCKS[cfg['block']]
            new_channels = [c * block.expansion for c in cfg['num_channels']]
            self.add_module(f'transition{i - 1}', self._transition(channels, new_channels))
            modules = [HRModule(block, cfg['num_blocks'], new_channels, cfg['num_channels'],
                                multiscale_output=multiscale_output or i < 4 or m < cfg['num_modules'] - 1,
                                with_cp=with_cp, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
                       for m in range(cfg['num_modules'])]
            self.add_module(f'stage{i}', nn.Sequential(*modules))
            channels = new_channels

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    @property
    def norm2(self) -> nn.Module:
        return getattr(self, self.norm2_name)

    @classmethod
    def parse_arch(cls, arch: str, extra: Mapping | None = None) -> dict:
        """The four stage settings: ``extra`` if given, else the ``arch`` preset."""
        if extra is None:
            if arch not in cls.arch_zoo:
                raise ConfigError(f'HRNet arch {arch!r} is not one of {", ".join(cls.arch_zoo)}; '
                                  'pass one of them, or the stage settings as extra=dict(stage1=..., ...)')
            extra = {f'stage{i}': dict(zip(_STAGE_KEYS, setting)) for i, setting in
                     enumerate(cls.arch_zoo[arch], start=1)}
        if not isinstance(extra, Mapping):
            raise ConfigError(f'HRNet extra must be a dict of stage1..stage4 settings, got {extra!r}')
        missing = [f'stage{i}' for i in range(1, 5) if f'stage{i}' not in extra]
        if missing:
            raise ConfigError(f'HRNet extra lacks {", ".join(missing)}: it needs stage1..stage4')
        return {f'stage{i}': _check_stage(f'stage{i}', extra[f'stage{i}']) for i in range(1, 5)}

    def _transition(self, before: list[int], after: list[int]) -> nn.ModuleList:
        """Adapt the previous stage's branches to the next: 3x3 convs where widths change, new branches by
        stride-2 3x3 convs from the lowest-resolution one."""
        layers = []
        for i, channels in enumerate(after):
            if i < len(before):
                layers.append(nn.Identity() if channels == before[i] else
                              conv_norm(before[i], channels, 3, 1, self.conv_cfg, self.norm_cfg, relu=True))
                continue
            steps = i + 1 - len(before)
            layers.append(nn.Sequential(*(
                conv_norm(before[-1], channels if k == steps - 1 else before[-1], 3, 2, self.conv_cfg,
                          self.norm_cfg, relu=True) for k in range(steps))))
        return nn.ModuleList(layers)

    def init_weights(self, pretrained: str | None = None) -> None:
        """``init_cfg`` (Kaiming convs, unit norms), then zero the branch blocks' last norms if asked."""
        super().init_weights(pretrained)
        if pretrained is not None or self.is_pretrained_init() or not self.zero_init_residual:
            return
        for i in range(2, 5):
            for m in getattr(self, f'stage{i}').modules():
                if isinstance(m, Bottleneck):
                    constant_init(m.norm3, 0)
                elif isinstance(m, BasicBlock):
                    constant_init(m.norm2, 0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return the branch outputs, highest resolution first."""
        x = self.relu(self.norm1(self.conv1(x)))
        x = self.relu(self.norm2(self.conv2(x)))
        xs = [self.layer1(x)]
        for i in range(2, 5):
            transition = getattr(self, f'transition{i - 1}')
            # new branches grow from the lowest-resolution branch so far
            xs = [layer(xs[min(j, len(xs) - 1)]) for j, layer in enumerate(transition)]
            xs = getattr(self, f'stage{i}')(xs)
        return tuple(xs)
