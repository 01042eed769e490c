"""Vision Transformer from timm (``vit_*_patch*``) and torchvision (``vit_b_16``...) onto imgcls's mmcls keys.

timm's ``qkv`` is already one fused [q; k; v] linear, as mmcls's is; torchvision's ``in_proj`` has the same layout.
"""

from __future__ import annotations

from ._rules import rename_keys
from .registry import register_converter

__all__: list[str] = []


def _is_timm_vit(sd) -> bool:
    return 'cls_token' in sd and 'patch_embed.proj.weight' in sd and 'blocks.0.attn.qkv.weight' in sd


@register_converter('timm', 'vit', _is_timm_vit)
def timm_vit(sd: dict) -> dict:
    """timm: ``blocks.i`` → ``layers.i``, ``norm1/2`` → ``ln1/2``, ``mlp.fc1/2`` → ``ffn.layers.0.0 / 1``."""
    rules = [
        (r'(cls_token|pos_embed)', r'backbone.\1'),
        (r'patch_embed\.proj\.(weight|bias)', r'backbone.patch_embed.projection.\1'),
        (r'blocks\.(\d+)\.norm(\d)\.(weight|bias)', r'backbone.layers.\1.ln\2.\3'),
        (r'blocks\.(\d+)\.attn\.(qkv|proj)\.(weight|bias)', r'backbone.layers.\1.attn.\2.\3'),
        (r'blocks\.(\d+)\.mlp\.fc1\.(weight|bias)', r'backbone.layers.\1.ffn.layers.0.0.\2'),
        (r'blocks\.(\d+)\.mlp\.fc2\.(weight|bias)', r'backbone.layers.\1.ffn.layers.1.\2'),
        (r'norm\.(weight|bias)', r'backbone.ln1.\1'),
        (r'pre_logits\.fc\.(weight|bias)', r'head.layers.pre_logits.\1'),  # timm < 0.6 with a representation layer
        (r'head\.(weight|bias)', r'head.layers.head.\1'),
    ]
    return rename_keys(sd, rules, 'timm ViT checkpoint')


def _is_torchvision_vit(sd) -> bool:
    return 'class_token' in sd and 'encoder.layers.encoder_layer_0.ln_1.weight' in sd


@register_converter('torchvision', 'vit', _is_torchvision_vit)
def torchvision_vit(sd: dict) -> dict:
    """torchvision: ``encoder.layers.encoder_layer_i`` → ``layers.i``, ``self_attention.in_proj`` → ``attn.qkv``."""
    layer = r'encoder\.layers\.encoder_layer_(\d+)\.'
    rules = [
        (r'class_token', r'backbone.cls_token'),
        (r'encoder\.pos_embedding', r'backbone.pos_embed'),
        (r'conv_proj\.(weight|bias)', r'backbone.patch_embed.projection.\1'),
        (layer + r'ln_(\d)\.(weight|bias)', r'backbone.layers.\1.ln\2.\3'),
        (layer + r'self_attention\.in_proj_(weight|bias)', r'backbone.layers.\1.attn.qkv.\2'),
        (layer + r'self_attention\.out_proj\.(weight|bias)', r'backbone.layers.\1.attn.proj.\2'),
        (layer + r'mlp\.(?:0|linear_1)\.(weight|bias)', r'backbone.layers.\1.ffn.layers.0.0.\2'),
        (layer + r'mlp\.(?:3|linear_2)\.(weight|bias)', r'backbone.layers.\1.ffn.layers.1.\2'),
        (r'encoder\.ln\.(weight|bias)', r'backbone.ln1.\1'),
        (r'heads\.pre_logits\.(weight|bias)', r'head.layers.pre_logits.\1'),
        (r'heads\.head\.(weight|bias)', r'head.layers.head.\1'),
    ]
    return rename_keys(sd, rules, 'torchvision ViT checkpoint')
