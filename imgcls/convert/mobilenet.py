"""MobileNetV2 / MobileNetV3 from torchvision and timm (mmcls checkpoints load as they are)."""

from __future__ import annotations

import itertools
import re

from ._mobile_blocks import conv_norm, count_children, rename, replace_prefix, timm_block, torchvision_mbconv
from .registry import register_converter

__all__: list[str] = []

# blocks per stage of MobileNetV2 (layer1 .. layer7)
_V2_BLOCKS = (1, 2, 3, 4, 3, 3, 1)
_V2_FEATURE_TO_BLOCK = dict(enumerate(((s + 1, b) for s, n in enumerate(_V2_BLOCKS) for b in range(n)), start=1))


# ---- torchvision -------------------------------------------------------------------------------------------

def _is_tv_mobilenet_v2(sd) -> bool:
    return 'features.1.conv.0.0.weight' in sd and 'features.18.0.weight' in sd


@register_converter('torchvision', 'mobilenet_v2', _is_tv_mobilenet_v2)
def torchvision_mobilenet_v2(sd: dict) -> dict:
    """``features.0`` → conv1, ``features.1..17`` → layer1..7, ``features.18`` → conv2, ``classifier.1`` → fc."""
    def mapper(key: str) -> str | None:
        if key.startswith('classifier.1.'):
            return 'head.fc.' + key[len('classifier.1.'):]
        m = re.match(r'features\.(\d+)\.(.*)', key)
        if not m:
            return None
        i, rest = int(m.group(1)), m.group(2)
        if i == 0 or i == 18:
            new = conv_norm(rest, 'conv1' if i == 0 else 'conv2')
        elif i in _V2_FEATURE_TO_BLOCK:
            stage, block = _V2_FEATURE_TO_BLOCK[i]
            # with an expand conv: two Conv-BN-ReLU6 parts (conv.0, conv.1), then conv.2 / bn conv.3
            expand = f'features.{i}.conv.3.weight' in sd
            table = {'conv.0.0': 'conv.0.conv', 'conv.0.1': 'conv.0.bn'}
            table.update({'conv.1.0': 'conv.1.conv', 'conv.1.1': 'conv.1.bn', 'conv.2': 'conv.2.conv',
                          'conv.3': 'conv.2.bn'} if expand else {'conv.1': 'conv.1.conv', 'conv.2': 'conv.1.bn'})
            sub = replace_prefix(rest, table)
            new = None if sub is None else f'layer{stage}.{block}.{sub}'
        else:
            return None
        return None if new is None else 'backbone.' + new
    return rename(sd, mapper)


def _is_tv_mobilenet_v3(sd) -> bool:
    return 'features.1.block.0.0.weight' in sd and 'classifier.3.weight' in sd


@register_converter('torchvision', 'mobilenet_v3', _is_tv_mobilenet_v3)
def torchvision_mobilenet_v3(sd: dict) -> dict:
    """``features.<i>`` → ``layer<i>``; ``classifier.0/3`` → StackedLinearClsHead ``layers.0/1.fc``."""
    def mapper(key: str) -> str | None:
        for old, new in (('classifier.0.', 'head.layers.0.fc.'), ('classifier.3.', 'head.layers.1.fc.')):
            if key.startswith(old):
                return new + key[len(old):]
        m = re.match(r'features\.(\d+)\.(.*)', key)
        if not m:
            return None
        i, rest = int(m.group(1)), m.group(2)
        if rest.startswith('block.'):
            sub = torchvision_mbconv(sd, f'features.{i}', rest)
        else:  # the stem and the last 1x1 conv
            sub = replace_prefix(rest, {'0': 'conv', '1': 'bn'})
        return None if sub is None else f'backbone.layer{i}.{sub}'
    return rename(sd, mapper)


# ---- timm --------------------------------------------------------------------------------------------------

def _is_timm_mobilenet_v2(sd) -> bool:
    return ('conv_stem.weight' in sd and 'conv_head.weight' in sd and 'bn2.weight' in sd
            and not any('.se.' in k for k in sd))


@register_converter('timm', 'mobilenet_v2', _is_timm_mobilenet_v2)
def timm_mobilenet_v2(sd: dict) -> dict:
    """timm ``mobilenetv2_*``: ``blocks.<s>.<b>`` → ``layer<s+1>.<b>``, conv_stem/conv_head → conv1/conv2."""
    ir = {'conv_pw': 'conv.0.conv', 'bn1': 'conv.0.bn', 'conv_dw': 'conv.1.conv', 'bn2': 'conv.1.bn',
          'conv_pwl': 'conv.2.conv', 'bn3': 'conv.2.bn'}
    ds = {'conv_dw': 'conv.0.conv', 'bn1': 'conv.0.bn', 'conv_pw': 'conv.1.conv', 'bn2': 'conv.1.bn'}
    top = {'conv_stem': 'backbone.conv1.conv', 'bn1': 'backbone.conv1.bn', 'conv_head': 'backbone.conv2.conv',
           'bn2': 'backbone.conv2.bn', 'classifier': 'head.fc'}

    def mapper(key: str) -> str | None:
        m = re.match(r'blocks\.(\d+)\.(\d+)\.(.*)', key)
        if not m:
            return replace_prefix(key, top)
        prefix = f'blocks.{m.group(1)}.{m.group(2)}'
        sub = replace_prefix(m.group(3), ir if f'{prefix}.conv_pwl.weight' in sd else ds)
        return None if sub is None else f'backbone.layer{int(m.group(1)) + 1}.{m.group(2)}.{sub}'
    return rename(sd, mapper)


def _is_timm_mobilenet_v3(sd) -> bool:
    return 'conv_stem.weight' in sd and 'conv_head.bias' in sd and 'bn2.weight' not in sd


@register_converter('timm', 'mobilenet_v3', _is_timm_mobilenet_v3)
def timm_mobilenet_v3(sd: dict) -> dict:
    """timm ``mobilenetv3_*`` / ``tf_mobilenetv3_*``: blocks in order → ``layer1..``; conv_head → head.layers.0."""
    counts = count_children(sd, r'blocks\.(\d+)\.(\d+)\.')
    flat = itertools.count(1)
    layer_of = {(s, b): next(flat) for s, n in counts.items() for b in range(n)}
    top = {'conv_stem': 'backbone.layer0.conv', 'bn1': 'backbone.layer0.bn', 'conv_head': 'head.layers.0.fc',
           'classifier': 'head.layers.1.fc'}

    def mapper(key: str) -> str | None:
        m = re.match(r'blocks\.(\d+)\.(\d+)\.(.*)', key)
        if not m:
            return replace_prefix(key, top)
        stage, block = int(m.group(1)), int(m.group(2))
        sub = timm_block(sd, f'blocks.{stage}.{block}', m.group(3))
        return None if sub is None else f'backbone.layer{layer_of[stage, block]}.{sub}'
    out = rename(sd, mapper)
    # timm applies the first head layer as a 1x1 conv after pooling: the same weights as a Linear
    out['head.layers.0.fc.weight'] = out['head.layers.0.fc.weight'].flatten(1)
    return out
