"""DeiT (Touvron et al. 2021): a ViT with a distillation token next to the class token, as mmcls 0.x builds it."""

from __future__ import annotations

import inspect
from collections.abc import Mapping

import torch
import torch.nn as nn

from ..builder import BACKBONES
from .vision_transformer import VisionTransformer

__all__ = ['DistilledVisionTransformer']


@BACKBONES.register_module()
class DistilledVisionTransformer(VisionTransformer):
    """VisionTransformer with a learnt distillation token (``dist_token``) after the class token.

    Takes the VisionTransformer arguments (``arch`` defaults to ``'deit-base'``). ``forward`` returns, per
    out index, ``[patch_tokens (N, C, H, W), cls_token (N, C), dist_token (N, C)]``, or the patch tokens
    alone when ``output_cls_token`` is False. The position embedding covers both extra tokens.
    """

    num_extra_tokens = 2  # the class and distillation tokens

    def __init__(self, arch: str | Mapping = 'deit-base', *args, **kwargs):
        super().__init__(arch, *args, **kwargs)
        self.dist_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        if self.frozen_stages > 0:
            self.dist_token.requires_grad = False

    def _extra_tokens(self, batch: int) -> list[torch.Tensor]:
        return [self.cls_token.expand(batch, -1, -1), self.dist_token.expand(batch, -1, -1)]

    def init_weights(self, pretrained: str | None = None) -> None:
        """The VisionTransformer init, then a truncated-normal distillation token."""
        super().init_weights(pretrained)
        if pretrained is not None or self.is_pretrained_init():
            return
        nn.init.trunc_normal_(self.dist_token, std=0.02)


def _own_signature() -> inspect.Signature:
    """VisionTransformer's arguments with this class's ``arch`` default.

    ``__init__`` forwards ``*args, **kwargs``; publishing the full signature lets the registry list the valid
    arguments in its errors and lets callers see which options (``norm_eval``, ``frozen_stages``...) exist.
    """
    signature = inspect.signature(VisionTransformer.__init__)
    params = [p.replace(default='deit-base') if p.name == 'arch' else p for p in signature.parameters.values()]
    return signature.replace(parameters=params)


DistilledVisionTransformer.__init__.__signature__ = _own_signature()
