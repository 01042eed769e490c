"""Helpers used inside models that are not parts of their own (e.g. ``augment``: Mixup/CutMix batch augments)."""

# building blocks shared by the mobile backbones (mmcls: ``mmcls.models.utils``)
from ..layers import SELayer, make_divisible  # noqa: E402
from .channel_shuffle import ChannelShuffle, channel_shuffle  # noqa: E402
from .efficientnet_block import EdgeResidual  # noqa: E402
from .inverted_residual import InvertedResidual  # noqa: E402

__all__ = ['ChannelShuffle', 'EdgeResidual', 'InvertedResidual', 'SELayer', 'channel_shuffle', 'make_divisible']

# transformer building blocks (ViT, Swin)
from .attention import MultiheadAttention, ShiftWindowMSA, WindowMSA  # noqa: E402
from .dropout import build_dropout  # noqa: E402
from .embed import (  # noqa: E402
    PatchEmbed,
    PatchMerging,
    resize_pos_embed,
    resize_relative_position_bias_table,
    to_2tuple,
)
from .ffn import FFN  # noqa: E402
from .layer_scale import LayerScale  # noqa: E402

__all__ += ['FFN', 'LayerScale', 'MultiheadAttention', 'PatchEmbed', 'PatchMerging', 'ShiftWindowMSA', 'WindowMSA',
            'build_dropout', 'resize_pos_embed', 'resize_relative_position_bias_table', 'to_2tuple']

# batch augments (Mixup, CutMix, ResizeMix) of model.train_cfg.augments
from .augment import Augments  # noqa: E402

__all__ += ['Augments']
