"""DenseNet: mmcls's configs and sizes, its checkpoint layout, dense connectivity and freezing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mmcls_layout import bn_keys, check_mmcls_layout, conv_keys

from imgcls import Config
from imgcls.analysis.complexity import get_complexity
from imgcls.errors import ConfigError
from imgcls.models.builder import build_backbone, build_classifier

CONFIGS = Path(__file__).resolve().parents[2] / 'configs' / 'densenet'

# config -> (params, FLOPs) of mmcls 0.25's metafile (the params are also torchvision's densenet121 etc.)
PUBLISHED = {
    'densenet121_4xb256_in1k': (7_978_856, 2_881_695_488),
    'densenet161_4xb256_in1k': (28_681_000, 7_816_363_968),
    'densenet169_4xb256_in1k': (14_149_480, 3_416_860_160),
    'densenet201_4xb256_in1k': (20_013_928, 4_365_236_736),
}
TINY = dict(growth_rate=4, depths=[2, 3, 2, 1], init_channels=8)


@pytest.mark.parametrize('stem', sorted(PUBLISHED))
def test_params_and_macs_match_mmcls(stem):
    params, flops = PUBLISHED[stem]
    with torch.device('meta'):
        model = build_classifier(Config.fromfile(str(CONFIGS / f'{stem}.py'))['model']).eval()
    assert sum(p.numel() for p in model.parameters()) == params
    # mmcv's counter also counts the many BatchNorms, ReLUs and pools, which ours leaves out: within 2%
    assert flops * 0.98 <= get_complexity(model, (3, 224, 224)).macs <= flops


def _tiny_keys():
    keys = {**conv_keys('backbone.stem.0', 3, 8, 7), **bn_keys('backbone.stem.1', 8)}
    channels = 8
    for i, depth in enumerate(TINY['depths']):
        for j in range(depth):
            p = f'backbone.stages.{i}.block.{j}'
            cin = channels + j * 4
            keys.update(bn_keys(f'{p}.norm1', cin), **conv_keys(f'{p}.conv1', cin, 16, 1),
                        **bn_keys(f'{p}.norm2', 16), **conv_keys(f'{p}.conv2', 16, 4, 3))
        channels += depth * 4
        if i < 3:
            keys.update(bn_keys(f'backbone.transitions.{i}.norm', channels),
                        **conv_keys(f'backbone.transitions.{i}.conv', channels, channels // 2, 1))
            channels //= 2
        else:
            keys.update(bn_keys(f'backbone.transitions.{i}.0', channels))
    keys.update({'head.fc.weight': (3, channels), 'head.fc.bias': (3,)})
    return keys, channels


def test_mmcls_checkpoint_loads_strictly_with_the_same_logits(tmp_path):
    keys, channels = _tiny_keys()
    assert channels == 13  # 8 +8 =16 ->8, +12 =20 ->10, +8 =18 ->9, +4 =13
    cfg = dict(type='ImageClassifier', backbone=dict(type='DenseNet', arch=TINY),
               neck=dict(type='GlobalAveragePooling'),
               head=dict(type='LinearClsHead', num_classes=3, in_channels=channels))
    check_mmcls_layout(tmp_path, cfg, keys, side=64)


def test_a_block_outputs_its_input_and_every_new_feature():
    model = build_backbone(dict(type='DenseNet', arch=TINY)).eval()
    x = torch.randn(1, 8, 8, 8)
    with torch.no_grad():
        out = model.stages[0](x)
        first = model.stages[0].block[0]([x])
    assert out.shape == (1, 16, 8, 8)
    assert torch.equal(out[:, :8], x) and torch.allclose(out[:, 8:12], first)


def test_out_indices_count_from_the_end_and_frozen_stages_leave_the_stem():
    model = build_backbone(dict(type='DenseNet', arch=TINY, out_indices=(0, -1), frozen_stages=2))
    with torch.no_grad():
        outs = model.eval()(torch.randn(1, 3, 64, 64))
    # the stem divides by 4, each transition but the last by 2
    assert [tuple(o.shape) for o in outs] == [(1, 8, 8, 8), (1, 13, 2, 2)]
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(n.startswith(('stages.0.', 'stages.1.', 'transitions.0.', 'transitions.1.'))
                          for n in frozen)
    assert len(frozen) == sum(1 for n, _ in model.named_parameters()
                              if n.startswith(('stages.0.', 'stages.1.', 'transitions.0.', 'transitions.1.')))


def test_memory_efficient_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = build_backbone(dict(type='DenseNet', arch=TINY))
    lean = build_backbone(dict(type='DenseNet', arch=TINY, memory_efficient=True))
    lean.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32)
    for model in (plain, lean):
        model(x)[0].pow(2).sum().backward()
    for (name, a), b in zip(plain.named_parameters(), lean.parameters()):
        assert torch.allclose(a.grad, b.grad, rtol=1e-4, atol=1e-6), name


def test_bad_arguments_name_the_key():
    with pytest.raises(ConfigError, match=r"DenseNet arch '122' is unknown; choose one of \['121', '161'"):
        build_backbone(dict(type='DenseNet', arch='122'))
    with pytest.raises(ConfigError, match=r"DenseNet arch dict lacks \['init_channels'\]"):
        build_backbone(dict(type='DenseNet', arch=dict(growth_rate=4, depths=[1])))
    with pytest.raises(ConfigError, match=r'DenseNet frozen_stages must be an int in 0..4, got -1'):
        build_backbone(dict(type='DenseNet', arch=TINY, frozen_stages=-1))
