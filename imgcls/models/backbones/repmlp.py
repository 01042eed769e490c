"""RepMLPNet (Ding et al. 2022): fully-connected layers over image partitions, trained with conv branches
that merge into them for inference."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ConfigError
from ..builder import BACKBONES
from ..layers import ConvModule, SELayer, build_activation_layer, build_conv_layer, build_norm_layer
from ..utils.embed import PatchEmbed, to_2tuple
from ..utils.reparam import fold_norm, pad_kernel
from ..utils.stages import check_out_indices
from .base_backbone import BaseBackbone

__all__ = ['RepMLPBlock', 'RepMLPNet', 'RepMLPNetUnit']


class ConvPatchEmbed(PatchEmbed):
    """A patch embedding that keeps the (N, C, H, W) layout and ends with a ReLU (RepMLPNet's stem)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        if self.adaptive_padding is not None:
            x = self.adaptive_padding(x)
        x = self.projection(x)
        if self.norm is not None:
            x = self.norm(x)
        x = self.relu(x)
        return x, (x.shape[2], x.shape[3])


class RepMLPBlock(nn.Module):
    """Partition perceptron (a grouped FC over each ``path_h`` x ``path_w`` partition, ``fc3`` + ``fc3_bn``),
    local perceptron (depthwise conv branches ``repconv{k}`` on the partitions, training only) and a global
    perceptron gate (``gp``, an SE layer). :meth:`switch_to_deploy` merges the branches into ``fc3``.
    """

    def __init__(self, channels: int, path_h: int, path_w: int, reparam_conv_kernels: Sequence[int] | None = None,
                 globalperceptron_ratio: int = 4, num_sharesets: int = 1, conv_cfg: Mapping | None = None,
                 norm_cfg: Mapping = dict(type='BN', requires_grad=True), deploy: bool = False,  # noqa: B006
                 init_cfg=None):
        super().__init__()
        if channels % num_sharesets:
            raise ConfigError(f'RepMLPNet: {channels} channels do not split into {num_sharesets} sharesets')
        self.channels, self.path_h, self.path_w, self.num_sharesets = channels, path_h, path_w, num_sharesets
        self.conv_cfg, self.norm_cfg, self.deploy = conv_cfg, norm_cfg, deploy
        self.reparam_conv_kernels = tuple(reparam_conv_kernels) if reparam_conv_kernels is not None else None
        self.fc_channels = path_h * path_w * num_sharesets
        self.gp = SELayer(channels, ratio=globalperceptron_ratio, return_weight=True,
                          act_cfg=(dict(type='ReLU'), dict(type='Sigmoid')))
        self.fc3 = build_conv_layer(conv_cfg, self.fc_channels, self.fc_channels, 1, bias=deploy,
                                    groups=num_sharesets)
        self.fc3_bn = nn.Identity() if deploy else build_norm_layer(norm_cfg, num_sharesets)[1]
        if not deploy:
            for k in self.reparam_conv_kernels or ():
                self.add_module(f'repconv{k}', ConvModule(num_sharesets, num_sharesets, k, padding=k // 2,
                                                          groups=num_sharesets, norm_cfg=dict(type='BN'),
                                                          act_cfg=None))

    def _local_branches(self):
        return [getattr(self, f'repconv{k}') for k in self.reparam_conv_kernels or ()] if not self.deploy else []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.gp(x)
        n, c, h, w = x.shape
        hp, wp = h // self.path_h, w // self.path_w
        # (N, hp, wp, C, path_h, path_w): each partition's pixels, channel by channel
        parts = x.reshape(-1, c, hp, self.path_h, wp, self.path_w).permute(0, 2, 4, 1, 3, 5)
        # rows of num_sharesets * path_h * path_w values go through the grouped FC; the reshapes below are
        # mmcls's (and the paper's code), which published weights depend on
        out = self.fc3(parts.reshape(-1, self.fc_channels, 1, 1))
        out = self.fc3_bn(out.reshape(-1, self.num_sharesets, self.path_h, self.path_w))
        branches = self._local_branches()
        if branches:
            conv_in = parts.reshape(-1, self.num_sharesets, self.path_h, self.path_w)
            out = out + sum(branch(conv_in) for branch in branches)
        out = out.reshape(-1, hp, wp, self.num_sharesets, self.path_h, self.path_w).permute(0, 3, 1, 4, 2, 5)
        return out.reshape(n, c, h, w) * gate

    def _conv_as_fc(self, kernel: torch.Tensor) -> torch.Tensor:
        """The grouped FC weight equal to the depthwise conv ``kernel`` on a path_h x path_w partition."""
        pixels = self.path_h * self.path_w
        # one impulse per pixel position, in every shareset: the responses are the FC's columns
        impulses = torch.eye(pixels, dtype=kernel.dtype, device=kernel.device).reshape(pixels, 1, self.path_h,
                                                                                          self.path_w)
        impulses = impulses.expand(pixels, self.num_sharesets, self.path_h, self.path_w)
        response = F.conv2d(impulses, kernel, padding=(kernel.shape[2] // 2, kernel.shape[3] // 2),
                            groups=self.num_sharesets)  # (input pixel, shareset, output pixel)
        return response.reshape(pixels, self.fc_channels).t().reshape(self.fc_channels, pixels, 1, 1)

    def equivalent_fc3(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The weight and bias of one ``fc3`` equal to fc3 + fc3_bn + the conv branches in eval mode."""
        weight, bias = fold_norm(self.fc3.weight, self.fc3_bn)
        branches = self._local_branches()
        if branches:
            size = max(b.conv.kernel_size[0] for b in branches)
            folded = [fold_norm(b.conv.weight, b.norm) for b in branches]
            kernel = sum(pad_kernel(k, size) for k, _ in folded)
            weight = weight + self._conv_as_fc(kernel)
            bias = bias + sum(b for _, b in folded).repeat_interleave(self.path_h * self.path_w)
        return weight, bias

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Merge fc3_bn and the conv branches into ``fc3`` (with a bias); eval-mode outputs stay the same."""
        if self.deploy:
            return
        weight, bias = self.equivalent_fc3()
        for k in self.reparam_conv_kernels or ():
            delattr(self, f'repconv{k}')
        self.fc3 = build_conv_layer(self.conv_cfg, self.fc_channels, self.fc_channels, 1, bias=True,
                                    groups=self.num_sharesets).to(weight.device, weight.dtype)
        self.fc3.weight.copy_(weight)
        self.fc3.bias.copy_(bias)
        self.fc3_bn = nn.Identity()
        self.deploy = True


class ConvFFN(nn.Module):
    """1x1 conv + BN, GELU, 1x1 conv + BN (``ffn_fc1``, ``ffn_fc2``)."""

    def __init__(self, in_channels: int, hidden_channels: int | None = None, out_channels: int | None = None,
                 norm_cfg: Mapping = dict(type='BN', requires_grad=True),  # noqa: B006
                 act_cfg: Mapping = dict(type='GELU')):  # noqa: B006
        super().__init__()
        hidden, out = hidden_channels or in_channels, out_channels or in_channels
        self.ffn_fc1 = ConvModule(in_channels, hidden, 1, norm_cfg=norm_cfg, act_cfg=None)
        self.ffn_fc2 = ConvModule(hidden, out, 1, norm_cfg=norm_cfg, act_cfg=None)
        self.act = build_activation_layer(act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ffn_fc2(self.act(self.ffn_fc1(x)))


class RepMLPNetUnit(nn.Module):
    """``x + repmlp_block(norm1(x))``, then ``+ ffn_block(norm2(.))``."""

    def __init__(self, channels: int, path_h: int, path_w: int, reparam_conv_kernels, globalperceptron_ratio: int,
                 norm_cfg: Mapping = dict(type='BN', requires_grad=True), ffn_expand: int = 4,  # noqa: B006
                 num_sharesets: int = 1, deploy: bool = False, init_cfg=None):
        super().__init__()
        self.repmlp_block = RepMLPBlock(channels, path_h, path_w, reparam_conv_kernels, globalperceptron_ratio,
                                        num_sharesets=num_sharesets, deploy=deploy)
        self.ffn_block = ConvFFN(channels, channels * ffn_expand)
        self.norm1 = build_norm_layer(norm_cfg, channels)[1]
        self.norm2 = build_norm_layer(norm_cfg, channels)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.repmlp_block(self.norm1(x))
        return x + self.ffn_block(self.norm2(x))


@BACKBONES.register_module()
class RepMLPNet(BaseBackbone):
    """RepMLPNet backbone with mmcls's keys: ``patch_embed``, ``stages.i.j``, ``downsample_layers.i``,
    ``final_norm``. Takes only images of ``img_size`` (its FC layers are sized to the partitions).

    Args:
        arch: 'b' / 'base' (case-insensitive) or a dict with exactly ``channels``, ``depths`` and
            ``sharesets_nums`` (one per stage).
        patch_size: the stem's stride; stage ``i`` partitions are ``img_size / patch_size / 2**i`` a side.
        out_indices: stages to return; all but the last come after their downsampling layer.
        reparam_conv_kernels: kernel sizes of the local-perceptron conv branches (None: none).
        patch_cfg: overrides for the patch embedding (e.g. ``padding``).
        final_norm: a BatchNorm on the last stage's output.
        deploy: build the inference form; :meth:`switch_to_deploy` converts.
    """

    arch_zoo = {name: dict(channels=[96, 192, 384, 768], depths=[2, 2, 12, 2], sharesets_nums=[1, 4, 32, 128])
                for name in ('b', 'base')}
    num_extra_tokens = 0  # no class token

    def __init__(self, arch: str | Mapping, img_size: int | tuple = 224, in_channels: int = 3,
                 patch_size: int | tuple = 4, out_indices: Sequence[int] = (3,),
                 reparam_conv_kernels: Sequence[int] | None = (3,), globalperceptron_ratio: int = 4,
                 conv_cfg: Mapping | None = None, norm_cfg: Mapping = dict(type='BN', requires_grad=True),  # noqa: B006
                 patch_cfg: Mapping = dict(), final_norm: bool = True, deploy: bool = False,  # noqa: B006
                 init_cfg=None):
        super().__init__(init_cfg)
        self.arch_settings = self._check_arch(arch)
        self.img_size, self.patch_size = to_2tuple(img_size), to_2tuple(patch_size)
        self.conv_cfg, self.norm_cfg, self.deploy = conv_cfg, norm_cfg, deploy
        self.channels, self.depths = self.arch_settings['channels'], self.arch_settings['depths']
        self.sharesets_nums = self.arch_settings['sharesets_nums']
        self.num_stage = len(self.channels)
        self.out_indices = check_out_indices('RepMLPNet', out_indices, self.num_stage)
        self.patch_embed = ConvPatchEmbed(**{
            **dict(in_channels=in_channels, input_size=self.img_size, embed_dims=self.channels[0],
                   conv_type='Conv2d', kernel_size=self.patch_size, stride=self.patch_size, norm_cfg=norm_cfg,
                   bias=False), **patch_cfg})
        self.patch_resolution = self.patch_embed.init_out_size
        self.patch_hs = [self.patch_resolution[0] // 2**i for i in range(self.num_stage)]
        self.patch_ws = [self.patch_resolution[1] // 2**i for i in range(self.num_stage)]
        self.stages, self.downsample_layers = nn.ModuleList(), nn.ModuleList()
        for i in range(self.num_stage):
            self.stages.append(nn.Sequential(*(
                RepMLPNetUnit(self.channels[i], self.patch_hs[i], self.patch_ws[i], reparam_conv_kernels,
                              globalperceptron_ratio, norm_cfg=norm_cfg, num_sharesets=self.sharesets_nums[i],
                              deploy=deploy) for _ in range(self.depths[i]))))
            if i < self.num_stage - 1:
                self.downsample_layers.append(ConvModule(self.channels[i], self.channels[i + 1], 2, stride=2,
                                                         conv_cfg=conv_cfg, norm_cfg=norm_cfg, inplace=True))
        self.final_norm = build_norm_layer(norm_cfg, self.channels[-1])[1] if final_norm else nn.Identity()
        self.feat_dim = self.channels[-1]

    def _check_arch(self, arch) -> dict:
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise ConfigError(f'RepMLPNet arch {arch!r} is unknown; choose one of {sorted(self.arch_zoo)} '
                                  'or give a dict')
            return self.arch_zoo[arch.lower()]
        keys = {'channels', 'depths', 'sharesets_nums'}
        if not isinstance(arch, Mapping) or set(arch) != keys:
            raise ConfigError(f'RepMLPNet arch dict needs exactly the keys {sorted(keys)}, got {arch!r}')
        if len({len(v) for v in arch.values()}) != 1:
            raise ConfigError(f'RepMLPNet arch lists must have one entry per stage, got {dict(arch)}')
        return {k: list(v) for k, v in arch.items()}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Return the outputs of the ``out_indices`` stages, as a tuple."""
        if tuple(x.shape[2:]) != self.img_size:
            size = f'{self.img_size[0]}x{self.img_size[1]}'
            raise ConfigError(f'RepMLPNet takes only {size} images (its img_size; mmcls 0.25 refuses other sizes too), '
                              f'got {x.shape[2]}x{x.shape[3]}: crop or resize the input to {size} (e.g. the train '
                              'pipeline\'s crop size) or set model.backbone.img_size')
        x, _ = self.patch_embed(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i < self.num_stage - 1:
                x = self.downsample_layers[i](x)
            if i in self.out_indices:
                outs.append(self.final_norm(x) if i == self.num_stage - 1 else x)
        return tuple(outs)

    def switch_to_deploy(self) -> None:
        """Merge every block's branches into its FC (the eval-mode output stays the same)."""
        for m in list(self.modules()):
            if isinstance(m, RepMLPBlock):
                m.switch_to_deploy()
        self.deploy = True
