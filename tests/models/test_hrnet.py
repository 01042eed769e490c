"""HRNet (classification variant) and its HRFuseScales neck: mmcls 0.25's configs, sizes and checkpoints."""

from __future__ import annotations

import pytest
import torch
from mmcls_family_checks import CONFIGS, check_mmcls_checkpoint, config_params

from imgcls import Config
from imgcls.analysis.complexity import get_complexity
from imgcls.errors import ConfigError
from imgcls.models.backbones.resnet import BasicBlock, Bottleneck
from imgcls.models.builder import build_backbone, build_classifier, build_neck

# config -> (parameters, FLOPs) from mmcls 0.25's configs/hrnet/metafile.yml
PUBLISHED = {
    'hrnet-w18_4xb32_in1k.py': (21_295_164, 4_330_397_932),
    'hrnet-w30_4xb32_in1k.py': (37_708_380, 8_168_305_684),
    'hrnet-w32_4xb32_in1k.py': (41_228_840, 8_986_267_584),
    'hrnet-w40_4xb32_in1k.py': (57_553_320, 12_767_574_064),
    'hrnet-w44_4xb32_in1k.py': (67_061_144, 14_963_902_632),
    'hrnet-w48_4xb32_in1k.py': (77_466_024, 17_364_014_752),
    'hrnet-w64_4xb32_in1k.py': (128_056_104, 29_002_298_752),
}
# one module per stage and one block per branch, 4..32 channels: every kind of path, small
TINY = dict(stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(1,), num_channels=(8,)),
            stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(1, 1), num_channels=(4, 8)),
            stage3=dict(num_modules=2, num_branches=3, block='BASIC', num_blocks=(1, 1, 1),
                        num_channels=(4, 8, 16)),
            stage4=dict(num_modules=1, num_branches=4, block='BASIC', num_blocks=(1, 1, 1, 1),
                        num_channels=(4, 8, 16, 32)))


def test_every_mmcls_config_is_here():
    assert sorted(p.name for p in (CONFIGS / 'hrnet').glob('*.py')) == sorted(PUBLISHED)


@pytest.mark.parametrize('config', sorted(PUBLISHED))
def test_parameters_equal_mmcls(config):
    assert config_params(f'hrnet/{config}') == PUBLISHED[config][0]


@pytest.mark.parametrize('config', ['hrnet-w18_4xb32_in1k.py'])
def test_macs_agree_with_the_published_flops(config):
    """mmcls's FLOPs also count norms, activations and upsampling: the conv/linear MACs are up to 1.5% fewer."""
    with torch.device('meta'):
        model = build_classifier(Config.fromfile(CONFIGS / 'hrnet' / config).model)
    ratio = get_complexity(model, (3, 224, 224)).macs / PUBLISHED[config][1]
    assert 0.985 < ratio < 1.0


def test_branch_outputs_and_single_scale():
    x = torch.randn(1, 3, 64, 64)
    model = build_backbone(dict(type='HRNet', arch='w18')).eval()
    with torch.no_grad():
        assert [tuple(o.shape[1:]) for o in model(x)] == [(18, 16, 16), (36, 8, 8), (72, 4, 4), (144, 2, 2)]
        single = build_backbone(dict(type='HRNet', extra=TINY, multiscale_output=False)).eval()
        assert [tuple(o.shape[1:]) for o in single(x)] == [(4, 16, 16)]
    # only the last module drops the other scales: the stage's earlier modules still fuse into all of them
    assert len(single.stage4[-1].fuse_layers) == 1 and len(single.stage3[-1].fuse_layers) == 3


def test_fuse_neck_merges_the_branches():
    neck = build_neck([dict(type='HRFuseScales', in_channels=(4, 8, 16, 32), out_channels=64),
                       dict(type='GlobalAveragePooling')]).eval()
    feats = build_backbone(dict(type='HRNet', extra=TINY)).eval()(torch.randn(2, 3, 64, 64))
    with torch.no_grad():
        out = neck(feats)
    assert len(out) == 1 and out[0].shape == (2, 64)
    with pytest.raises(ValueError, match=r'needs one map per HRNet branch, got 1 maps'):
        neck[0](feats[:1])


def test_zero_init_residual_zeroes_the_branch_blocks_only():
    model = build_backbone(dict(type='HRNet', extra=TINY, zero_init_residual=True))
    model.init_weights()
    blocks = [m for i in (2, 3, 4) for m in getattr(model, f'stage{i}').modules() if isinstance(m, BasicBlock)]
    assert blocks and all(b.norm2.weight.abs().sum() == 0 for b in blocks)
    # the stem stage (layer1) keeps its unit norms, as in mmcls
    assert all(b.norm3.weight.eq(1).all() for b in model.layer1 if isinstance(b, Bottleneck))


@pytest.mark.parametrize('kwargs, message', [
    (dict(arch='w20'), r"HRNet arch 'w20' is not one of w18, w30, w32, w40, w44, w48, w64"),
    (dict(extra={k: v for k, v in TINY.items() if k != 'stage3'}), 'HRNet extra lacks stage3'),
    (dict(extra={**TINY, 'stage2': {**TINY['stage2'], 'block': 'BIG'}}), r"extra.stage2.block must be 'BASIC'"),
    (dict(extra={**TINY, 'stage2': {**TINY['stage2'], 'num_channels': (4,)}}),
     r'extra.stage2: .*num_channels=\(4,\) need one entry per branch \(num_branches=2\)'),
])
def test_bad_arguments_are_reported(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        build_backbone(dict(type='HRNet', **kwargs))


def test_mmcls_checkpoint_loads_and_gives_the_same_logits(tmp_path):
    cfg = Config.fromfile(CONFIGS / 'hrnet' / 'hrnet-w18_4xb32_in1k.py')
    cfg.model.backbone = dict(type='HRNet', extra=TINY)
    cfg.model.neck[0] = dict(type='HRFuseScales', in_channels=(4, 8, 16, 32), out_channels=64)
    cfg.model.head.in_channels, cfg.model.head.num_classes = 64, 10
    check_mmcls_checkpoint(cfg, 'hrnet_tiny_mmcls_keys.json', tmp_path)


def test_logits_equal_timms_hrnet():
    """timm's classification HRNet (the same network; its neck convs have biases, folded here) gives the same
    logits from the same weights: the forward pass, not only the key layout, is HRNet's."""
    pytest.importorskip('timm')
    from mmcls_family_checks import load_reference_weights, randomize
    from timm.models.hrnet import HighResolutionNet
    stages = {name: dict(block_type=stage['block'], fuse_method='SUM',
                         **{k: v for k, v in stage.items() if k != 'block'}) for name, stage in TINY.items()}
    torch.manual_seed(0)
    reference = HighResolutionNet(dict(stem_width=64, **stages), num_classes=10).eval()
    randomize(reference)
    cfg = Config.fromfile(CONFIGS / 'hrnet' / 'hrnet-w18_4xb32_in1k.py')
    cfg.model.backbone = dict(type='HRNet', extra=TINY)
    cfg.model.neck[0].in_channels = (4, 8, 16, 32)
    cfg.model.head.num_classes = 10
    model = build_classifier(cfg.model).eval()

    def rename(key: str) -> str:
        for old, new in (('incre_modules.', 'neck.0.increase_layers.'), ('classifier.', 'head.fc.'),
                         ('final_layer.0.', 'neck.0.final_layer.conv.'), ('final_layer.1.', 'neck.0.final_layer.bn.')):
            if key.startswith(old):
                return new + key[len(old):]
        if key.startswith('downsamp_modules.'):
            _, i, part, rest = key.split('.', 3)
            return f'neck.0.downsample_layers.{i}.{"conv" if part == "0" else "bn"}.{rest}'
        return 'backbone.' + key

    folds = tuple((f'downsamp_modules.{i}.0', f'downsamp_modules.{i}.1') for i in range(3)) + \
        (('final_layer.0', 'final_layer.1'),)
    load_reference_weights(model, reference, rename, folds)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model.simple_test(x, softmax=False, post_process=False), reference(x),
                                   atol=1e-4, rtol=1e-4)
