"""EfficientNet b0-b7 from torchvision and timm (mmcls checkpoints load as they are).

mmcls's EfficientNet has 7 outputs: the stem, five block stages and the last 1x1 conv. torchvision and timm
keep the paper's seven block stages; mmcls merges the 5th into the 4th and the 7th into the 6th (the
stages that do not downsample), so their blocks are numbered after those of the stage they join.
"""

from __future__ import annotations

import re

from ._mobile_blocks import conv_norm, count_children, rename, replace_prefix, timm_block, torchvision_mbconv
from .registry import register_converter

__all__: list[str] = []


def _block_positions(counts: dict[int, int]) -> dict[tuple[int, int], tuple[int, int]]:
    """(paper stage 1..7, block) → (mmcls ``layers`` index 1..5, block) given the blocks per paper stage."""
    joins = {5: 4, 7: 6}  # a stage that does not downsample joins the one before
    layer_of = {1: 1, 2: 2, 3: 3, 4: 4, 5: 4, 6: 5, 7: 5}
    positions = {}
    for stage, n in counts.items():
        offset = counts[joins[stage]] if stage in joins else 0
        for b in range(n):
            positions[stage, b] = (layer_of[stage], offset + b)
    return positions


def _is_tv_efficientnet(sd) -> bool:
    # the first block has an SE (block.1.fc1): EfficientNetV2's fused first blocks do not
    return 'features.1.0.block.1.fc1.weight' in sd and 'features.8.0.weight' in sd


@register_converter('torchvision', 'efficientnet', _is_tv_efficientnet)
def torchvision_efficientnet(sd: dict) -> dict:
    """torchvision ``efficientnet_b0..b7``: ``features.0`` stem, ``features.1..7`` stages, ``features.8``."""
    positions = _block_positions(count_children(sd, r'features\.([1-7])\.(\d+)\.block\.'))

    def mapper(key: str) -> str | None:
        if key.startswith('classifier.1.'):
            return 'head.fc.' + key[len('classifier.1.'):]
        m = re.match(r'features\.(\d+)\.(.*)', key)
        if m and m.group(1) in ('0', '8'):
            new = conv_norm(m.group(2), 'layers.0' if m.group(1) == '0' else 'layers.6')
            return None if new is None else 'backbone.' + new
        m = re.match(r'features\.(\d+)\.(\d+)\.(.*)', key)
        if not m or (int(m.group(1)), int(m.group(2))) not in positions:
            return None
        layer, block = positions[int(m.group(1)), int(m.group(2))]
        sub = torchvision_mbconv(sd, f'features.{m.group(1)}.{m.group(2)}', m.group(3))
        return None if sub is None else f'backbone.layers.{layer}.{block}.{sub}'
    return rename(sd, mapper)


def _is_timm_efficientnet(sd) -> bool:
    return 'conv_stem.weight' in sd and 'bn2.weight' in sd and 'blocks.0.0.se.conv_reduce.weight' in sd


@register_converter('timm', 'efficientnet', _is_timm_efficientnet)
def timm_efficientnet(sd: dict) -> dict:
    """timm ``efficientnet_b*`` (symmetric padding: ``conv_cfg=None``, BN eps 1e-5) and ``tf_efficientnet_b*``
    (TF padding and BN eps 1e-3: mmcls's defaults)."""
    counts = count_children(sd, r'blocks\.(\d+)\.(\d+)\.')
    positions = _block_positions({s + 1: n for s, n in counts.items()})
    top = {'conv_stem': 'backbone.layers.0.conv', 'bn1': 'backbone.layers.0.bn', 'conv_head': 'backbone.layers.6.conv',
           'bn2': 'backbone.layers.6.bn', 'classifier': 'head.fc'}

    def mapper(key: str) -> str | None:
        m = re.match(r'blocks\.(\d+)\.(\d+)\.(.*)', key)
        if not m:
            return replace_prefix(key, top)
        stage, block = int(m.group(1)), int(m.group(2))
        if (stage + 1, block) not in positions:
            return None
        layer, index = positions[stage + 1, block]
        sub = timm_block(sd, f'blocks.{stage}.{block}', m.group(3))
        return None if sub is None else f'backbone.layers.{layer}.{index}.{sub}'
    return rename(sd, mapper)
