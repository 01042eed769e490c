"""Building blocks shared by backbones, necks and heads: layers built from configs and init helpers."""

from .activation import ACTIVATION_LAYERS, HSigmoid, HSwish, Swish, build_activation_layer
from .conv import CONV_LAYERS, build_conv_layer
from .conv2d_adaptive_padding import Conv2dAdaptivePadding
from .conv_module import ConvModule
from .drop_path import DropPath, drop_path
from .layer_norm_2d import LayerNorm2d
from .make_divisible import make_divisible
from .norm import NORM_LAYERS, build_norm_layer, infer_abbr
from .pretrained import adapt_input_conv_weights, load_pretrained, read_state_dict
from .se_layer import SELayer
from .weight_init import (
    bias_init_with_prob,
    caffe2_xavier_init,
    constant_init,
    initialize,
    kaiming_init,
    normal_init,
    trunc_normal_init,
    uniform_init,
    xavier_init,
)

__all__ = [
    'ACTIVATION_LAYERS', 'CONV_LAYERS', 'NORM_LAYERS', 'Conv2dAdaptivePadding', 'ConvModule',
    'adapt_input_conv_weights', 'DropPath', 'HSigmoid', 'HSwish', 'LayerNorm2d',
    'SELayer', 'Swish', 'bias_init_with_prob', 'build_activation_layer', 'build_conv_layer', 'build_norm_layer',
    'caffe2_xavier_init', 'constant_init', 'drop_path', 'infer_abbr', 'initialize', 'kaiming_init',
    'load_pretrained', 'make_divisible', 'normal_init', 'read_state_dict', 'trunc_normal_init', 'uniform_init',
    'xavier_init',
]
