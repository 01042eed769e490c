"""The base class of backbones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch.nn as nn

from ...errors import ConfigError
from ..layers import initialize, load_pretrained
from ..utils.stages import set_norm_eval


class BaseBackbone(nn.Module):
    """A feature extractor whose ``forward`` returns a tuple of feature maps.

    Args:
        init_cfg: mmcv-style init dicts applied by :meth:`init_weights`, e.g.
            ``dict(type='Pretrained', checkpoint='resnet50.pth', prefix='backbone')``.
    """

    def __init__(self, init_cfg: Mapping | Sequence[Mapping] | None = None):
        super().__init__()
        self.init_cfg = init_cfg

    def init_weights(self, pretrained: str | None = None) -> None:
        """Load ``pretrained`` (a checkpoint path) if given, else apply ``init_cfg`` (nothing by default)."""
        if pretrained is not None:
            if not isinstance(pretrained, str):
                raise ConfigError(f'pretrained must be a checkpoint path or None, got {pretrained!r}')
            load_pretrained(self, pretrained)
        elif self.init_cfg is not None:
            initialize(self, self.init_cfg)

    def is_pretrained_init(self) -> bool:
        """Whether ``init_cfg`` loads a checkpoint (then the random init is skipped)."""
        return isinstance(self.init_cfg, Mapping) and self.init_cfg.get('type') == 'Pretrained'

    def forward(self, x):  # noqa: D102 - subclasses define it
        raise NotImplementedError(f'{type(self).__name__} must define forward(x) returning a tuple')

    def _freeze_stages(self) -> None:
        """Put the frozen stages (``frozen_stages``) in eval mode without gradients; nothing by default."""

    def train(self, mode: bool = True) -> BaseBackbone:
        """Set train/eval mode, then keep the frozen stages, and with ``norm_eval`` every BatchNorm, in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and getattr(self, 'norm_eval', False):
            set_norm_eval(self)
        return self
