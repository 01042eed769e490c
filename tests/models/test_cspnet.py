"""CSPNet (CSPDarkNet, CSPResNet, CSPResNeXt): mmcls's configs and sizes, its checkpoint layout, freezing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mmcls_layout import bn_keys, check_mmcls_layout, conv_keys

from imgcls import Config
from imgcls.analysis.complexity import get_complexity
from imgcls.errors import ConfigError
from imgcls.models.builder import build_backbone, build_classifier

CONFIGS = Path(__file__).resolve().parents[2] / 'configs' / 'cspnet'

# config -> (params, GFLOPs) of mmcls 0.25's metafile (params exact: timm's cspdarknet53 etc. agree)
PUBLISHED = {
    'cspdarknet50_8xb32_in1k': (27_642_184, 5.04),
    'cspresnet50_8xb32_in1k': (21_616_168, 3.48),
    'cspresnext50_8xb32_in1k': (20_569_896, 3.11),
}


def _cfg(stem: str) -> dict:
    return Config.fromfile(str(CONFIGS / f'{stem}.py'))['model']


@pytest.mark.parametrize('stem', sorted(PUBLISHED))
def test_params_and_macs_match_mmcls(stem):
    params, gflops = PUBLISHED[stem]
    with torch.device('meta'):
        model = build_classifier(_cfg(stem)).eval()
    assert sum(p.numel() for p in model.parameters()) == params
    # mmcv's counter also counts BatchNorms, activations and sums, which ours leaves out: within 1.5%
    assert gflops * 0.985 <= get_complexity(model, (3, 224, 224)).macs / 1e9 <= gflops


def _conv_module(prefix: str, cin: int, cout: int, k: int, groups: int = 1):
    return {**conv_keys(f'{prefix}.conv', cin, cout, k, groups), **bn_keys(f'{prefix}.bn', cout)}


def _bottleneck(p: str, channels: int, mid: int, groups: int = 1):
    """mmcls's ResNet / ResNeXt Bottleneck with in == out channels (no shortcut conv)."""
    return {**conv_keys(f'{p}.conv1', channels, mid, 1), **bn_keys(f'{p}.bn1', mid),
            **conv_keys(f'{p}.conv2', mid, mid, 3, groups), **bn_keys(f'{p}.bn2', mid),
            **conv_keys(f'{p}.conv3', mid, channels, 1), **bn_keys(f'{p}.bn3', channels)}


def _keys(kind: str):
    """mmcls's CSPNet layout: stem, stages.i.{downsample_conv, expand_conv, blocks.j, atfer_blocks_conv,
    final_conv}, all ConvModules (conv + bn) but the ResNe(X)t blocks."""
    if kind == 'darknet':
        keys = _conv_module('backbone.stem', 3, 32, 3)
        ins, outs, depths = (32, 64, 128, 256, 512), (64, 128, 256, 512, 1024), (1, 2, 8, 8, 4)
        ratios = (2, 1, 1, 1, 1)
    else:
        keys = _conv_module('backbone.stem.0', 3, 64, 7)
        ins, depths = ((64, 128, 256, 512), (3, 3, 5, 2)) if kind == 'resnet' else ((64, 256, 512, 1024), (3, 3, 5, 2))
        outs = ins[1:] + (ins[-1] * 2,)
        ratios = (4, 4, 4, 4) if kind == 'resnet' else (4, 2, 2, 2)
    for i, (cin, cout, depth) in enumerate(zip(ins, outs, depths)):
        p = f'backbone.stages.{i}'
        down = cout if kind == 'darknet' else cin  # only Darknet widens while downsampling
        if kind == 'darknet' or i > 0:
            keys.update(_conv_module(f'{p}.downsample_conv', cin, down, 3, groups=32 if kind == 'resnext' else 1))
        half = down * ratios[i] // 2
        keys.update(_conv_module(f'{p}.expand_conv', down, half * 2, 1))
        for j in range(depth):
            b = f'{p}.blocks.{j}'
            if kind == 'darknet':  # hidden width half / bottle_ratio (2 in stage 0, else 1)
                hidden = half // (2 if i == 0 else 1)
                keys.update(_conv_module(f'{b}.conv1', half, hidden, 1), **_conv_module(f'{b}.conv2', hidden, half, 3))
            elif kind == 'resnet':
                keys.update(_bottleneck(b, half, half // 2))
            else:  # ResNeXt, 32 groups of 4 per 32 base channels: the mid width equals the block width
                keys.update(_bottleneck(b, half, half, groups=32))
        keys.update(_conv_module(f'{p}.atfer_blocks_conv', half, half, 1),
                    **_conv_module(f'{p}.final_conv', 2 * half, cout, 1))
    keys.update({'head.fc.weight': (1000, outs[-1]), 'head.fc.bias': (1000,)})
    return keys


@pytest.mark.parametrize('stem, kind', [('cspdarknet50_8xb32_in1k', 'darknet'), ('cspresnet50_8xb32_in1k', 'resnet'),
                                        ('cspresnext50_8xb32_in1k', 'resnext')])
def test_state_dict_has_mmcls_keys_and_shapes(stem, kind):
    with torch.device('meta'):
        model = build_classifier(_cfg(stem))
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == _keys(kind)


@pytest.mark.slow  # 21M random weights written and read back
def test_mmcls_checkpoint_loads_strictly_with_the_same_logits(tmp_path):
    check_mmcls_layout(tmp_path, _cfg('cspresnext50_8xb32_in1k'), _keys('resnext'), side=32)


def test_frozen_stages_include_the_stem_and_stage_0_as_mmcls():
    model = build_backbone(dict(type='CSPResNet', depth=50, frozen_stages=0, out_indices=(0, -1)))
    model.train()
    frozen = {n.split('.')[0] + ('.' + n.split('.')[1] if n.startswith('stages') else '')
              for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {'stem', 'stages.0'} and not model.stages[0].training and model.stages[1].training
    with torch.no_grad():
        outs = model.eval()(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 128, 16, 16), (1, 1024, 2, 2)]


def test_bad_arguments_name_the_key():
    with pytest.raises(ConfigError, match=r'CSPDarkNet depth must be one of \[53\], got 50'):
        build_backbone(dict(type='CSPDarkNet', depth=50))
    with pytest.raises(ConfigError, match='CSPResNet frozen_stages must be an int in -1..3, got 4'):
        build_backbone(dict(type='CSPResNet', depth=50, frozen_stages=4))
    with pytest.raises(ConfigError, match=r'CSPResNeXt out_indices=\(4,\): 4 is not a stage index; use 0..3'):
        build_backbone(dict(type='CSPResNeXt', depth=50, out_indices=(4,)))
