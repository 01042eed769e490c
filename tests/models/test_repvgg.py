"""RepVGG: mmcls's configs and sizes, its checkpoint layout, and re-parameterization to the deploy form."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mmcls_layout import (
    bn_keys,
    check_mmcls_layout,
    conv_keys,
    logits,
    random_state,
    save_mmcls_checkpoint,
    write_config,
)

from imgcls import Config
from imgcls.analysis.complexity import get_complexity
from imgcls.apis import init_model
from imgcls.cli.main import main
from imgcls.errors import ConfigError
from imgcls.models.builder import build_backbone, build_classifier

CONFIGS = Path(__file__).resolve().parents[2] / 'configs' / 'repvgg'

# config stem -> (params, GFLOPs) of mmcls 0.25's metafile. From A2 on the metafile swaps the two columns
# (e.g. A2: "FLOPs 28.21e9, Parameters 5.70e6"); these are the values put back in place (the paper's table).
PUBLISHED = {
    'repvgg-A0_4xb64-coslr-120e_in1k': (9_108_968, 1.52),
    'repvgg-A1_4xb64-coslr-120e_in1k': (14_092_264, 2.64),
    'repvgg-A2_4xb64-coslr-120e_in1k': (28_210_600, 5.70),
    'repvgg-B0_4xb64-coslr-120e_in1k': (15_817_960, 3.42),
    'repvgg-B1_4xb64-coslr-120e_in1k': (57_415_016, 13.16),
    'repvgg-B1g2_4xb64-coslr-120e_in1k': (45_782_376, 9.82),
    'repvgg-B1g4_4xb64-coslr-120e_in1k': (39_966_056, 8.15),
    'repvgg-B2_4xb64-coslr-120e_in1k': (89_022_376, 20.42),
    'repvgg-B2g4_4xb64-autoaug-lbs-mixup-coslr-200e_in1k': (61_758_376, 12.63),
    'repvgg-B3_4xb64-autoaug-lbs-mixup-coslr-200e_in1k': (123_085_288, 29.17),
    'repvgg-B3g4_4xb64-autoaug-lbs-mixup-coslr-200e_in1k': (83_825_128, 17.90),
    'repvgg-D2se_4xb64-autoaug-lbs-mixup-coslr-200e_in1k': (133_334_836, 36.56),
}
# the deploy form: one 3x3 conv with bias per block (RepVGG paper, table 2: A0 8.30M, B0 14.33M, ...)
DEPLOY_PARAMS = {
    'A0': 8_309_384, 'A1': 12_789_864, 'A2': 25_499_944, 'B0': 14_339_048, 'B1': 51_829_480,
    'B1g2': 41_360_104, 'B1g4': 36_125_416, 'B2': 80_315_112, 'B2g4': 55_777_512, 'B3': 110_960_872,
    'B3g4': 75_626_728, 'D2se': 120_387_572,
}

# a small arch with every kind of block: identity branches, grouped convs (block 2), SE
TINY = dict(num_blocks=[1, 2, 1, 1], width_factor=[0.25, 0.25, 0.25, 0.25], group_layer_map={2: 2, 4: 4},
            se_cfg=dict(ratio=4, divisor=1), stem_channels=16)


def _model(config: Path, meta: bool = True):
    with torch.device('meta' if meta else 'cpu'):
        return build_classifier(Config.fromfile(str(config))['model']).eval()


def _randomize_norms(model: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial BatchNorm statistics, so that a mistake in folding them would show."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) * 0.2 - 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=g) * 0.2 - 0.1)


@pytest.mark.parametrize('stem', sorted(PUBLISHED))
def test_params_and_macs_match_mmcls(stem):
    params, gflops = PUBLISHED[stem]
    model = _model(CONFIGS / f'{stem}.py')
    assert sum(p.numel() for p in model.parameters()) == params
    # mmcv's counter also counts the BatchNorms, ReLUs and branch sums that ours leaves out: within 1%
    macs = get_complexity(model, (3, 224, 224)).macs / 1e9
    assert gflops * 0.99 <= macs <= gflops


@pytest.mark.parametrize('stem', sorted(PUBLISHED))
def test_deploy_config_builds_the_merged_form(stem):
    arch = stem.split('_')[0].split('-')[1]
    deploy = _model(CONFIGS / 'deploy' / f"{stem.replace(f'-{arch}_', f'-{arch}_deploy_')}.py")
    assert deploy.backbone.deploy and sum(p.numel() for p in deploy.parameters()) == DEPLOY_PARAMS[arch]
    # switching the training form gives the same parameters (on the meta device: shapes only)
    model = _model(CONFIGS / f'{stem}.py')
    model.backbone.switch_to_deploy()
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in deploy.state_dict().items()}


def _block_keys(prefix: str, cin: int, cout: int, stride: int, groups: int, se: int | None, deploy: bool):
    """mmcls's RepVGGBlock: branch_norm (shape-keeping blocks only), branch_3x3/branch_1x1 conv+norm, se_layer."""
    if deploy:
        keys = conv_keys(f'{prefix}.branch_reparam', cin, cout, 3, groups, bias=True)
    else:
        keys = bn_keys(f'{prefix}.branch_norm', cin) if cin == cout and stride == 1 else {}
        for name, k in (('branch_3x3', 3), ('branch_1x1', 1)):
            keys.update(conv_keys(f'{prefix}.{name}.conv', cin, cout, k, groups))
            keys.update(bn_keys(f'{prefix}.{name}.norm', cout))
    if se:
        keys.update(conv_keys(f'{prefix}.se_layer.conv1.conv', cout, se, 1, bias=True),
                    **conv_keys(f'{prefix}.se_layer.conv2.conv', se, cout, 1, bias=True))
    return keys


def _tiny_keys(deploy: bool, num_classes: int = 5):
    """TINY's keys: stem 3->16, stages of 16, 32, 64, 128 channels."""
    keys = _block_keys('backbone.stem', 3, 16, 2, 1, 4, deploy)
    cin, index = 16, 1
    for i, n in enumerate(TINY['num_blocks']):
        cout = 16 * 2**i
        for j in range(n):
            keys.update(_block_keys(f'backbone.stage_{i + 1}.{j}', cin, cout, 2 if j == 0 else 1,
                                    TINY['group_layer_map'].get(index, 1), cout // 4, deploy))
            cin, index = cout, index + 1
    keys.update({'head.fc.weight': (num_classes, 128), 'head.fc.bias': (num_classes,)})
    return keys


def _tiny_cfg(deploy: bool = False) -> dict:
    return dict(type='ImageClassifier', backbone=dict(type='RepVGG', arch=TINY, deploy=deploy),
                neck=dict(type='GlobalAveragePooling'), head=dict(type='LinearClsHead', num_classes=5, in_channels=128))


@pytest.mark.parametrize('deploy', [False, True])
def test_mmcls_checkpoint_loads_strictly_with_the_same_logits(tmp_path, deploy):
    check_mmcls_layout(tmp_path, _tiny_cfg(deploy), _tiny_keys(deploy), side=32)


@pytest.mark.parametrize('arch', ['A0', 'B1g4', 'D2se'])
def test_named_archs_have_mmcls_stage_widths(arch):
    with torch.device('meta'):
        model = build_backbone(dict(type='RepVGG', arch=arch, out_indices=(0, 1, 2, 3)))
    widths = [getattr(model, f'stage_{i}')[-1].out_channels for i in range(1, 5)]
    assert widths == {'A0': [48, 96, 192, 1280], 'B1g4': [128, 256, 512, 2048], 'D2se': [160, 320, 640, 2560]}[arch]
    # the stem is min(64, first stage width) wide
    assert model.stem.out_channels == {'A0': 48, 'B1g4': 64, 'D2se': 64}[arch]
    assert len(model.stage_3) == {'A0': 14, 'B1g4': 16, 'D2se': 24}[arch]
    assert model.stage_1[1].branch_3x3.conv.groups == (4 if arch == 'B1g4' else 1)


@pytest.mark.parametrize('dilations', [(1, 1, 1, 1), (1, 1, 2, 4)])
def test_switch_to_deploy_keeps_the_eval_output(dilations):
    torch.manual_seed(0)
    strides = (2, 2, 2, 2) if dilations[-1] == 1 else (2, 2, 1, 1)
    model = build_backbone(dict(type='RepVGG', arch=TINY, out_indices=(0, 1, 2, 3), strides=strides,
                                dilations=dilations))
    model.load_state_dict(random_state({k: tuple(v.shape) for k, v in model.state_dict().items()}, scale=0.3))
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        before = model(x)
        model.switch_to_deploy()
        after = model(x)
    assert model.deploy and not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    for b, a in zip(before, after):
        assert b.shape == a.shape and b.abs().max() > 0.1
        assert (a - b).abs().max().item() <= 1e-5 * max(1.0, b.abs().max().item())


def test_convert_reparam_writes_a_deploy_checkpoint(tmp_path, capsys):
    config = write_config(tmp_path / 'tiny.py', _tiny_cfg())
    src = save_mmcls_checkpoint(tmp_path / 'trained.pth', random_state(_tiny_keys(False), scale=0.3))
    dst = tmp_path / 'deploy.pth'
    assert main(['convert', str(src), str(dst), '--reparam', str(config)]) == 0
    assert 'model.backbone.deploy=True' in capsys.readouterr().out
    trained = init_model(str(config), str(src), cfg_options={'amp': 'fp32', 'fuse_conv_bn': False})
    deploy = init_model(str(config), str(dst), cfg_options={'amp': 'fp32', 'model.backbone.deploy': True})
    assert set(torch.load(dst, weights_only=True)['state_dict']) == set(_tiny_keys(True))
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    ref, got = logits(trained, x), logits(deploy, x)
    assert ref.abs().max() > 0.1 and (got - ref).abs().max().item() <= 1e-4 * max(1.0, ref.abs().max().item())


def test_convert_reparam_refuses_a_deploy_config_and_other_models(tmp_path):
    deploy_cfg = write_config(tmp_path / 'deploy.py', _tiny_cfg(deploy=True))
    ckpt = save_mmcls_checkpoint(tmp_path / 'deploy.pth', random_state(_tiny_keys(True)))
    with pytest.raises(ConfigError, match='needs the training-time config, but model.backbone.deploy=True'):
        main(['--debug', 'convert', str(ckpt), str(tmp_path / 'out.pth'), '--reparam', str(deploy_cfg)])
    resnet = dict(type='ImageClassifier', backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8),
                  neck=dict(type='GlobalAveragePooling'),
                  head=dict(type='LinearClsHead', num_classes=2, in_channels=64))
    cfg = write_config(tmp_path / 'resnet.py', resnet)
    model = build_classifier(resnet)
    torch.save({'state_dict': model.state_dict()}, tmp_path / 'resnet.pth')
    with pytest.raises(ConfigError, match='ResNet has nothing to re-parameterize'):
        main(['--debug', 'convert', str(tmp_path / 'resnet.pth'), str(tmp_path / 'out.pth'), '--reparam', str(cfg)])
    assert not (tmp_path / 'out.pth').exists()


def test_bad_arguments_name_the_key():
    with pytest.raises(ConfigError, match=r"RepVGG arch 'A9' is unknown; choose one of \['A0'"):
        build_backbone(dict(type='RepVGG', arch='A9'))
    with pytest.raises(ConfigError, match=r"RepVGG arch dict lacks \['group_layer_map', 'se_cfg'\]"):
        build_backbone(dict(type='RepVGG', arch=dict(num_blocks=[1], width_factor=[1])))
    with pytest.raises(ConfigError, match='group_layer_map names block 9, but there are only 5 blocks'):
        build_backbone(dict(type='RepVGG', arch={**TINY, 'group_layer_map': {9: 2}}))
    with pytest.raises(ConfigError, match=r'RepVGG out_indices=\(4,\): 4 is not a stage index; use 0..3'):
        build_backbone(dict(type='RepVGG', arch='A0', out_indices=(4,)))


def test_convert_reparam_refuses_pickled_objects_unless_unsafe_load(tmp_path, capsys):
    import argparse
    config = write_config(tmp_path / 'tiny.py', _tiny_cfg())
    ckpt = tmp_path / 'pickled.pth'
    torch.save({'state_dict': random_state(_tiny_keys(False)), 'meta': {'args': argparse.Namespace(lr=0.1)}}, ckpt)
    assert main(['convert', str(ckpt), str(tmp_path / 'a.pth'), '--reparam', str(config)]) == 1
    assert '--unsafe-load' in capsys.readouterr().err and not (tmp_path / 'a.pth').exists()
    assert main(['convert', str(ckpt), str(tmp_path / 'b.pth'), '--reparam', str(config), '--unsafe-load']) == 0
