"""ConvMixer (Trockman & Kolter 2022): a patch embedding, then blocks of depthwise (spatial) and 1x1 (channel)
mixing at one resolution. State-dict keys follow mmcls 0.x (``stem.0``/``stem.2``, ``stages.<i>.0.fn.0`` ...)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import build_activation_layer, build_norm_layer
from ..utils.stages import check_frozen_stages, check_out_indices, freeze
from .base_backbone import BaseBackbone

__all__ = ['ConvMixer']


class Residual(nn.Module):
    """``fn(x) + x`` (a module, so ``fn``'s weights sit under ``fn.`` as in mmcls)."""

    def __init__(self, fn: nn.Module):
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x) + x


@BACKBONES.register_module()
class ConvMixer(BaseBackbone):
    """ConvMixer backbone: returns the maps after the ``out_indices`` mixer layers (all at stride ``patch_size``).

    Args:
        arch: ``'768/32' | '1024/20' | '1536/20'`` (width/depth), or a dict with ``embed_dims``, ``depth``,
            ``patch_size`` and ``kernel_size`` (of the depthwise convs).
        in_channels: image channels. norm_cfg / act_cfg: after every conv (conv → act → norm).
        out_indices: mixer layers whose outputs are returned (-1: the last).
        frozen_stages: freeze the stem and the first ``frozen_stages`` mixer layers (0: nothing).
        norm_eval: keep BatchNorm layers in eval mode while training (not in mmcls 0.25's ConvMixer).
    """

    arch_settings = {
        '768/32': dict(embed_dims=768, depth=32, patch_size=7, kernel_size=7),
        '1024/20': dict(embed_dims=1024, depth=20, patch_size=14, kernel_size=9),
        '1536/20': dict(embed_dims=1536, depth=20, patch_size=7, kernel_size=9),
    }

    def __init__(self, arch: str | Mapping = '768/32', in_channels: int = 3,
                 norm_cfg: Mapping = dict(type='BN'), act_cfg: Mapping = dict(type='GELU'),  # noqa: B006
                 out_indices: int | Sequence[int] = -1, frozen_stages: int = 0, norm_eval: bool = False,
                 init_cfg: Mapping | Sequence[Mapping] | None = None):
        super().__init__(init_cfg)
        arch = self._arch(arch)
        self.embed_dims, self.depth = arch['embed_dims'], arch['depth']
        self.patch_size, self.kernel_size = arch['patch_size'], arch['kernel_size']
        self.out_indices = check_out_indices('ConvMixer', out_indices, self.depth)
        self.frozen_stages = check_frozen_stages('ConvMixer', frozen_stages, 0, self.depth)
        self.norm_eval = norm_eval
        # one activation module shared by every layer (it has no weights), as mmcls builds it
        self.act = build_activation_layer(act_cfg)
        dims = self.embed_dims
        self.stem = nn.Sequential(nn.Conv2d(in_channels, dims, self.patch_size, stride=self.patch_size), self.act,
                                  build_norm_layer(norm_cfg, dims)[1])
        self.stages = nn.Sequential(*(nn.Sequential(
            Residual(nn.Sequential(nn.Conv2d(dims, dims, self.kernel_size, groups=dims, padding='same'), self.act,
                                   build_norm_layer(norm_cfg, dims)[1])),
            nn.Conv2d(dims, dims, 1), self.act, build_norm_layer(norm_cfg, dims)[1]) for _ in range(self.depth)))
        self._freeze_stages()

    def _arch(self, arch) -> dict:
        if isinstance(arch, str):
            if arch not in self.arch_settings:
                raise ConfigError(f'ConvMixer arch {arch!r} is not one of {", ".join(self.arch_settings)}; or pass '
                                  'a dict with embed_dims, depth, patch_size and kernel_size')
            return self.arch_settings[arch]
        needed = {'embed_dims', 'depth', 'patch_size', 'kernel_size'}
        if not isinstance(arch, Mapping) or not needed <= set(arch):
            raise ConfigError(f'ConvMixer arch dict needs the keys {sorted(needed)}, got {arch!r}')
        return dict(arch)

    def _freeze_stages(self) -> None:
        # unlike mmcls 0.25 (which left the stem trainable), freezing layers freezes the stem before them
        if self.frozen_stages > 0:
            freeze([self.stem, *self.stages[:self.frozen_stages]])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return the maps after the ``out_indices`` mixer layers."""
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
