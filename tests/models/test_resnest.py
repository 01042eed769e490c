"""ResNeSt: mmcls's configs and sizes, its checkpoint layout, and the split-attention arithmetic."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from mmcls_layout import bn_keys, check_mmcls_layout, conv_keys

from imgcls import Config
from imgcls.analysis.complexity import get_complexity
from imgcls.errors import ConfigError
from imgcls.models.backbones.resnest import Bottleneck, SplitAttentionConv2d, radix_softmax
from imgcls.models.builder import build_backbone, build_classifier

CONFIGS = Path(__file__).resolve().parents[2] / 'configs' / 'resnest'

# mmcls 0.25 has no metafile for ResNeSt: the parameter counts are the paper's models as timm builds them
# (resnest50d, resnest101e, resnest200e, resnest269e). The MACs are ours at 224 px (conv and linear layers
# only), near the paper's table 5.4, 10.2, 17.5 and 22.0 GFLOPs; the configs train at 224, 256, 320, 416 px.
PUBLISHED = {
    'resnest50_32xb64_in1k': (27_483_240, 5.37),
    'resnest101_32xb64_in1k': (48_275_016, 10.20),
    'resnest200_64xb32_in1k': (70_201_544, 17.41),
    'resnest269_64xb32_in1k': (110_929_480, 22.43),
}
OLD_NAMES = {'resnest50_b64x32_imagenet': 'resnest50_32xb64_in1k',
             'resnest101_b64x32_imagenet': 'resnest101_32xb64_in1k',
             'resnest200_b32x64_imagenet': 'resnest200_64xb32_in1k',
             'resnest269_b32x64_imagenet': 'resnest269_64xb32_in1k'}


def _model(stem: str):
    with torch.device('meta'):
        return build_classifier(Config.fromfile(str(CONFIGS / f'{stem}.py'))['model']).eval()


DEEP = [pytest.mark.slow]  # counting the MACs of the deeper ones takes several seconds


@pytest.mark.parametrize('stem', [pytest.param(s, marks=[] if s.startswith('resnest50_') else DEEP) for s in PUBLISHED])
def test_params_and_macs(stem):
    params, gmacs = PUBLISHED[stem]
    model = _model(stem)
    assert sum(p.numel() for p in model.parameters()) == params
    assert round(get_complexity(model, (3, 224, 224)).macs / 1e9, 2) == gmacs


@pytest.mark.parametrize('old', sorted(OLD_NAMES))
def test_old_config_names_build_the_same_model(old):
    assert Config.fromfile(str(CONFIGS / f'{old}.py'))['model'] == \
        Config.fromfile(str(CONFIGS / f'{OLD_NAMES[old]}.py'))['model']


def _stem_keys(prefix: str, cin: int, channels: int):
    keys, widths = {}, (channels // 2, channels // 2, channels)
    for i, cout in enumerate(widths):
        keys.update(conv_keys(f'{prefix}.stem.{i}.conv', cin, cout, 3))
        keys.update(bn_keys(f'{prefix}.stem.{i}.bn', cout))
        cin = cout
    return keys


def _block_keys(p: str, cin: int, mid: int, cout: int, radix: int, down: int | None):
    """mmcls's ResNeSt Bottleneck: conv1/bn1, conv2 = split attention (conv, bn0, fc1, bn1, fc2), conv3/bn3."""
    inter = max(mid * radix // 4, 32)
    keys = {**conv_keys(f'{p}.conv1', cin, mid, 1), **bn_keys(f'{p}.bn1', mid),
            **conv_keys(f'{p}.conv2.conv', mid, mid * radix, 3, groups=radix),
            **bn_keys(f'{p}.conv2.bn0', mid * radix),
            **conv_keys(f'{p}.conv2.fc1', mid, inter, 1, bias=True), **bn_keys(f'{p}.conv2.bn1', inter),
            **conv_keys(f'{p}.conv2.fc2', inter, mid * radix, 1, bias=True),
            **conv_keys(f'{p}.conv3', mid, cout, 1), **bn_keys(f'{p}.bn3', cout)}
    if down is not None:  # ResNet-D shortcut: [AvgPool2d when strided (no weights)], conv, norm
        keys.update(conv_keys(f'{p}.downsample.{down}', cin, cout, 1), **bn_keys(f'{p}.downsample.{down + 1}', cout))
    return keys


def test_mmcls_checkpoint_loads_strictly_with_the_same_logits(tmp_path):
    # ResNeSt-50 shrunk to 16 base channels: stages of 64, 128, 256, 512 channels
    cfg = dict(type='ImageClassifier', backbone=dict(type='ResNeSt', depth=50, stem_channels=16, base_channels=16),
               neck=dict(type='GlobalAveragePooling'),
               head=dict(type='LinearClsHead', num_classes=3, in_channels=512))
    keys = _stem_keys('backbone', 3, 16)
    cin = 16
    for i, n in enumerate((3, 4, 6, 3)):
        mid = 16 * 2**i
        for j in range(n):
            down = (0 if i == 0 else 1) if j == 0 else None
            keys.update(_block_keys(f'backbone.layer{i + 1}.{j}', cin, mid, mid * 4, 2, down))
            cin = mid * 4
    keys.update({'head.fc.weight': (3, 512), 'head.fc.bias': (3,)})
    check_mmcls_layout(tmp_path, cfg, keys, side=32)


def test_radix_softmax_weighs_the_splits_of_each_channel():
    # 2 splits of 2 channels, laid out split-major: channel 0 gets logits (0, ln 3), channel 1 gets (0, 0)
    logits = torch.tensor([[0.0, 0.0, math.log(3), 0.0]]).reshape(1, 4, 1, 1)
    assert torch.allclose(radix_softmax(logits, radix=2, groups=1), torch.tensor([[0.25, 0.5, 0.75, 0.5]]))
    # one split: a sigmoid gate
    assert torch.allclose(radix_softmax(torch.zeros(1, 3, 1, 1), radix=1, groups=1), torch.full((1, 3), 0.5))


def test_split_attention_with_equal_splits_returns_them():
    # the attention weights of a channel's splits sum to 1, so when the splits are equal the output is that split
    torch.manual_seed(0)  # random weights can all be negative: then the ReLU gives zeros and nothing is tested
    conv = SplitAttentionConv2d(4, 4, 1, radix=2).eval()  # a 1x1 conv in 2 groups: 2 input channels per split
    with torch.no_grad():
        conv.conv.weight.copy_(torch.randn(4, 2, 1, 1).repeat(2, 1, 1, 1))
        y = torch.rand(1, 2, 3, 3)
        x = torch.cat([y, y], dim=1)
        splits = conv.relu(conv.norm0(conv.conv(x))).reshape(1, 2, 4, 3, 3)
        # the two groups of the conv run through the kernel separately: equal up to float32 rounding
        torch.testing.assert_close(splits[:, 0], splits[:, 1], atol=1e-6, rtol=1e-5)
        assert splits.abs().max() > 0.1  # a real output, not zeros that any weighting would keep
        torch.testing.assert_close(conv(x), splits[:, 0], atol=1e-6, rtol=1e-5)


def test_grouped_blocks_need_a_width_divisible_by_base_channels():
    with pytest.raises(ConfigError, match='groups=2: the block width 24 is not a multiple of base_channels=64'):
        Bottleneck(64, 96, groups=2, base_channels=64)
    with pytest.raises(ConfigError, match='ResNeSt radix must be a positive int, got 0'):
        build_backbone(dict(type='ResNeSt', depth=50, radix=0))
