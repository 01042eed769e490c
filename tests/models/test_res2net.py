"""Res2Net: mmcls's configs and sizes, its checkpoint layout, and the multi-scale block."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mmcls_layout import bn_keys, check_mmcls_layout, conv_keys

from imgcls import Config
from imgcls.analysis.complexity import get_complexity
from imgcls.errors import ConfigError
from imgcls.models.backbones.res2net import Bottle2neck
from imgcls.models.builder import build_backbone, build_classifier

CONFIGS = Path(__file__).resolve().parents[2] / 'configs' / 'res2net'

# config -> (params, GFLOPs) of mmcls 0.25's metafile (params exact: timm's res2net50_14w_8s etc. agree)
PUBLISHED = {
    'res2net50-w14-s8_8xb32_in1k': (25_059_816, 4.22),
    'res2net50-w26-s8_8xb32_in1k': (48_403_776, 8.39),
    'res2net101-w26-s4_8xb32_in1k': (45_206_688, 8.12),
}


@pytest.mark.parametrize('stem', [pytest.param(s, marks=[pytest.mark.slow] if '101' in s else []) for s in PUBLISHED])
def test_params_and_macs_match_mmcls(stem):
    params, gflops = PUBLISHED[stem]
    with torch.device('meta'):
        model = build_classifier(Config.fromfile(str(CONFIGS / f'{stem}.py'))['model']).eval()
    assert sum(p.numel() for p in model.parameters()) == params
    # mmcv's counter also counts BatchNorms, ReLUs, pools and sums, which ours leaves out: within 1.5%
    macs = get_complexity(model, (3, 224, 224)).macs / 1e9
    assert gflops * 0.985 <= macs <= gflops


def _block_keys(p: str, cin: int, width: int, scales: int, cout: int, down: int | None):
    """mmcls's Bottle2neck: conv1/bn1 to scales*width, convs.i/bns.i (scales - 1 of them), conv3/bn3."""
    keys = {**conv_keys(f'{p}.conv1', cin, width * scales, 1), **bn_keys(f'{p}.bn1', width * scales),
            **conv_keys(f'{p}.conv3', width * scales, cout, 1), **bn_keys(f'{p}.bn3', cout)}
    for i in range(scales - 1):
        keys.update(conv_keys(f'{p}.convs.{i}', width, width, 3), **bn_keys(f'{p}.bns.{i}', width))
    if down is not None:
        keys.update(conv_keys(f'{p}.downsample.{down}', cin, cout, 1), **bn_keys(f'{p}.downsample.{down + 1}', cout))
    return keys


def test_mmcls_checkpoint_loads_strictly_with_the_same_logits(tmp_path):
    # Res2Net-50 at 16 base channels with mmcls's defaults: deep stem, and average-pool shortcuts that
    # start with an AvgPool2d even at stride 1 (so layer1's shortcut conv is downsample.1, as in mmcls)
    backbone = dict(type='Res2Net', depth=50, scales=4, base_width=8, stem_channels=16, base_channels=16)
    cfg = dict(type='ImageClassifier', backbone=backbone, neck=dict(type='GlobalAveragePooling'),
               head=dict(type='LinearClsHead', num_classes=3, in_channels=512))
    keys = {}
    for i, (cin, cout) in enumerate(((3, 8), (8, 8), (8, 16))):
        keys.update(conv_keys(f'backbone.stem.{i}.conv', cin, cout, 3), **bn_keys(f'backbone.stem.{i}.bn', cout))
    cin = 16
    for i, n in enumerate((3, 4, 6, 3)):
        width = 16 * 2**i * 8 // 16  # floor(mid * base_width / base_channels)
        for j in range(n):
            keys.update(_block_keys(f'backbone.layer{i + 1}.{j}', cin, width, 4, 64 * 2**i, 1 if j == 0 else None))
            cin = 64 * 2**i
    keys.update({'head.fc.weight': (3, 512), 'head.fc.bias': (3,)})
    check_mmcls_layout(tmp_path, cfg, keys, side=32)


def test_block_chains_the_scales():
    # identity-like weights make the arithmetic visible: with 1x1 and 3x3 "copy" convs, unit norms (eval,
    # zero mean, unit variance) and non-negative inputs, scale i of a 'normal' block carries the sum of
    # scales 0..i; in a 'stage' block each scale is only its own
    def block(stage_type):
        b = Bottle2neck(4, 4, scales=4, base_width=64, base_channels=64, stage_type=stage_type).eval()
        with torch.no_grad():
            b.conv1.weight.copy_(torch.eye(4).reshape(4, 4, 1, 1))
            for conv in b.convs:
                conv.weight.zero_()
                conv.weight[0, 0, 1, 1] = 1
            b.conv3.weight.copy_(torch.eye(4).reshape(4, 4, 1, 1))
            for m in b.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.eps = 0.0
        return b

    x = torch.tensor([1.0, 2.0, 4.0, 8.0]).reshape(1, 4, 1, 1).expand(1, 4, 3, 3).contiguous()
    with torch.no_grad():
        normal = block('normal')._residual(x)[0, :, 1, 1]
        stage = block('stage')._residual(x)[0, :, 1, 1]
    assert normal.tolist() == [1.0, 3.0, 7.0, 8.0]
    # 'stage': no chaining; the last scale is average-pooled (3x3, zero padding counted): 8 in the centre
    assert stage.tolist() == [1.0, 2.0, 4.0, 8.0]


def test_bad_arguments_name_the_key():
    with pytest.raises(ConfigError, match=r'Res2Net scales must be an int >= 2 \(1 is a plain ResNet\), got 1'):
        build_backbone(dict(type='Res2Net', depth=50, scales=1))
    with pytest.raises(ConfigError, match='invalid Res2Net depth 34'):
        build_backbone(dict(type='Res2Net', depth=34))
