"""ConvNeXt from timm (``convnext_tiny``...) and torchvision (``convnext_tiny``...) onto imgcls's mmcls keys."""

from __future__ import annotations

from ._rules import rename_keys
from .registry import register_converter

__all__: list[str] = []

_BLOCK = {'conv_dw': 'depthwise_conv', 'norm': 'norm', 'mlp.fc1': 'pointwise_conv1', 'mlp.fc2': 'pointwise_conv2'}


def _is_timm_convnext(sd) -> bool:
    return 'stem.0.weight' in sd and 'stages.0.blocks.0.conv_dw.weight' in sd


@register_converter('timm', 'convnext', _is_timm_convnext)
def timm_convnext(sd: dict) -> dict:
    """timm: ``stem``/``stages.i.downsample`` → ``downsample_layers``, ``head.norm`` → the last stage's norm."""
    last = max(int(k.split('.')[1]) for k in sd if k.startswith('stages.'))
    rules = [
        (r'stem\.(\d)\.(weight|bias)', r'backbone.downsample_layers.0.\1.\2'),
        (r'stages\.(\d+)\.downsample\.(\d)\.(weight|bias)', r'backbone.downsample_layers.\1.\2.\3'),
        (r'stages\.(\d+)\.blocks\.(\d+)\.gamma', r'backbone.stages.\1.\2.gamma'),
        (r'stages\.(\d+)\.blocks\.(\d+)\.(conv_dw|norm|mlp\.fc1|mlp\.fc2)\.(weight|bias)',
         lambda m: f'backbone.stages.{m[1]}.{m[2]}.{_BLOCK[m[3]]}.{m[4]}'),
        (r'head\.norm\.(weight|bias)', rf'backbone.norm{last}.\1'),
        (r'head\.fc\.(weight|bias)', r'head.fc.\1'),
    ]
    return rename_keys(sd, rules, 'timm ConvNeXt checkpoint')


def _is_torchvision_convnext(sd) -> bool:
    return 'features.1.0.block.0.weight' in sd and 'features.1.0.layer_scale' in sd


@register_converter('torchvision', 'convnext', _is_torchvision_convnext)
def torchvision_convnext(sd: dict) -> dict:
    """torchvision: ``features.{2i+1}`` are stages, ``features.{2i}`` downsampling; layer_scale is (C, 1, 1)."""
    layers = {'0': 'depthwise_conv', '2': 'norm', '3': 'pointwise_conv1', '5': 'pointwise_conv2'}
    last = max(int(k.split('.')[1]) for k in sd if k.startswith('features.')) // 2
    rules = [
        (r'features\.(\d+)\.(\d+)\.layer_scale', lambda m: f'backbone.stages.{int(m[1]) // 2}.{m[2]}.gamma'),
        (r'features\.(\d+)\.(\d+)\.block\.(\d)\.(weight|bias)',
         lambda m: f'backbone.stages.{int(m[1]) // 2}.{m[2]}.{layers[m[3]]}.{m[4]}'),
        (r'features\.(\d+)\.(\d)\.(weight|bias)',
         lambda m: f'backbone.downsample_layers.{int(m[1]) // 2}.{m[2]}.{m[3]}'),
        (r'classifier\.0\.(weight|bias)', rf'backbone.norm{last}.\1'),
        (r'classifier\.2\.(weight|bias)', r'head.fc.\1'),
    ]
    out = rename_keys(sd, rules, 'torchvision ConvNeXt checkpoint')
    return {k: v.flatten() if k.endswith('.gamma') else v for k, v in out.items()}
