"""ShuffleNetV1: mmcls's configs and size, its checkpoint layout, the unit's two combine modes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mmcls_layout import bn_keys, check_mmcls_layout, conv_keys

from imgcls import Config
from imgcls.analysis.complexity import get_complexity
from imgcls.errors import ConfigError
from imgcls.models.backbones.shufflenet_v1 import ShuffleUnit
from imgcls.models.builder import build_backbone, build_classifier

CONFIGS = Path(__file__).resolve().parents[2] / 'configs' / 'shufflenet_v1'


@pytest.mark.parametrize('stem', ['shufflenet-v1-1x_16xb64_in1k', 'shufflenet_v1_1x_b64x16_linearlr_bn_nowd_imagenet'])
def test_params_and_macs_match_mmcls(stem):
    with torch.device('meta'):
        model = build_classifier(Config.fromfile(str(CONFIGS / f'{stem}.py'))['model']).eval()
    # mmcls's metafile: 1.87M parameters, 0.146 GFLOPs. mmcv's counter also counts the BatchNorms (2 per
    # element), ReLUs and pools: 9.3M of them here, which ours (convs and linear layers only) leaves out
    assert sum(p.numel() for p in model.parameters()) == 1_865_728
    assert round(get_complexity(model, (3, 224, 224)).macs / 1e6, 1) == 137.5


def _conv_module(prefix: str, cin: int, cout: int, k: int, groups: int = 1):
    return {**conv_keys(f'{prefix}.conv', cin, cout, k, groups), **bn_keys(f'{prefix}.bn', cout)}


def test_mmcls_checkpoint_loads_strictly_with_the_same_logits(tmp_path):
    # 0.25x with 2 groups: stages of make_divisible(50, 8), (100, 8), (200, 8) = 48, 104, 200 channels
    cfg = dict(type='ImageClassifier', backbone=dict(type='ShuffleNetV1', groups=2, widen_factor=0.25),
               neck=dict(type='GlobalAveragePooling'),
               head=dict(type='LinearClsHead', num_classes=3, in_channels=200))
    keys = _conv_module('backbone.conv1', 3, 6, 3)
    cin = 6
    for i, (cout, n) in enumerate(zip((48, 104, 200), (4, 8, 4))):
        for j in range(n):
            p, mid = f'backbone.layers.{i}.{j}', cout // 4
            branch = cout - cin if j == 0 else cout  # the first unit concatenates its pooled input
            keys.update(_conv_module(f'{p}.g_conv_1x1_compress', cin, mid, 1, groups=1 if i == j == 0 else 2),
                        **_conv_module(f'{p}.depthwise_conv3x3_bn', mid, mid, 3, groups=mid),
                        **_conv_module(f'{p}.g_conv_1x1_expand', mid, branch, 1, groups=2))
            cin = cout
    keys.update({'head.fc.weight': (3, 200), 'head.fc.bias': (3,)})
    check_mmcls_layout(tmp_path, cfg, keys, side=64)


def test_units_add_or_concatenate_the_input():
    add = ShuffleUnit(24, 24, groups=3, first_block=False, combine='add').eval()
    concat = ShuffleUnit(24, 48, groups=3, first_block=False, combine='concat').eval()
    x = torch.rand(1, 24, 8, 8)
    with torch.no_grad():
        for m in (add, concat):  # zero the last conv's norm: the branch then adds or concatenates zeros
            m.g_conv_1x1_expand.bn.weight.zero_()
            m.g_conv_1x1_expand.bn.bias.zero_()
        assert torch.equal(add(x), x)  # relu(x + 0) for x >= 0
        out = concat(x)
    assert out.shape == (1, 48, 4, 4)
    assert torch.allclose(out[:, :24], torch.nn.functional.avg_pool2d(x, 3, 2, 1)) and not out[:, 24:].any()


def test_bad_arguments_name_the_key():
    with pytest.raises(ConfigError, match=r'ShuffleNetV1 groups must be one of \[1, 2, 3, 4, 8\], got 5'):
        build_backbone(dict(type='ShuffleNetV1', groups=5))
    with pytest.raises(ConfigError, match=r"ShuffleUnit with combine='add' needs in_channels == out_channels"):
        ShuffleUnit(24, 48, combine='add')
    with pytest.raises(ConfigError, match=r'ShuffleNetV1 out_indices=\(3,\): 3 is not a stage index; use 0..2'):
        build_backbone(dict(type='ShuffleNetV1', out_indices=(3,)))
