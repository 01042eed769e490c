"""RepMLPNet: mmcls's configs and sizes, its checkpoint layout, and merging the conv branches into the FCs."""

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
from imgcls.models.backbones.repmlp import RepMLPBlock
from imgcls.models.builder import build_backbone, build_classifier

CONFIGS = Path(__file__).resolve().parents[2] / 'configs' / 'repmlp'

# config -> (params, GFLOPs at its image size) of mmcls 0.25's metafile, and the deploy config of each
PUBLISHED = {
    'repmlp-base_8xb64_in1k': (68_242_712, 224, 6.71),
    'repmlp-base_8xb64_in1k-256px': (96_447_512, 256, 9.69),
}
# the deploy form: every fc3 gains a bias, its norm and conv branches go
DEPLOY = {'repmlp-base_delopy_8xb64_in1k': ('repmlp-base_8xb64_in1k', 68_332_664),
          'repmlp-base_deploy_8xb64_in1k-256px': ('repmlp-base_8xb64_in1k-256px', 96_568_184)}

TINY = dict(channels=[8, 16, 16, 32], depths=[1, 2, 1, 1], sharesets_nums=[1, 2, 4, 8])


def _model(stem: str):
    with torch.device('meta'):
        return build_classifier(Config.fromfile(str(CONFIGS / f'{stem}.py'))['model']).eval()


@pytest.mark.parametrize('stem', sorted(PUBLISHED))
def test_params_and_macs_match_mmcls(stem):
    params, side, gflops = PUBLISHED[stem]
    model = _model(stem)
    assert sum(p.numel() for p in model.parameters()) == params
    # mmcv's counter also counts BatchNorms, GELUs and the SE gates, which ours leaves out: within 1%
    assert gflops * 0.99 <= get_complexity(model, (3, side, side)).macs / 1e9 <= gflops


@pytest.mark.parametrize('stem', sorted(DEPLOY))
def test_deploy_configs_build_the_merged_form(stem):
    train_stem, params = DEPLOY[stem]
    deploy = _model(stem)
    assert deploy.backbone.deploy and sum(p.numel() for p in deploy.parameters()) == params
    model = _model(train_stem)
    model.backbone.switch_to_deploy()
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in deploy.state_dict().items()}


def _tiny_keys(deploy: bool, kernels=(1, 3)):
    """TINY at 32x32: patch grid 8, so stage partitions of 8, 4, 2, 1 pixels a side."""
    ch, s = TINY['channels'], TINY['sharesets_nums']
    keys = {**conv_keys('backbone.patch_embed.projection', 3, ch[0], 4), **bn_keys('backbone.patch_embed.norm', ch[0])}
    for i, depth in enumerate(TINY['depths']):
        c, pixels = ch[i], (8 >> i) ** 2
        squeeze = 8  # make_divisible(c // 4, 8)
        for j in range(depth):
            p = f'backbone.stages.{i}.{j}'
            b = f'{p}.repmlp_block'
            keys.update(conv_keys(f'{b}.gp.conv1.conv', c, squeeze, 1, bias=True),
                        **conv_keys(f'{b}.gp.conv2.conv', squeeze, c, 1, bias=True),
                        **conv_keys(f'{b}.fc3', pixels * s[i], pixels * s[i], 1, groups=s[i], bias=deploy),
                        **conv_keys(f'{p}.ffn_block.ffn_fc1.conv', c, 4 * c, 1),
                        **bn_keys(f'{p}.ffn_block.ffn_fc1.bn', 4 * c),
                        **conv_keys(f'{p}.ffn_block.ffn_fc2.conv', 4 * c, c, 1),
                        **bn_keys(f'{p}.ffn_block.ffn_fc2.bn', c), **bn_keys(f'{p}.norm1', c),
                        **bn_keys(f'{p}.norm2', c))
            if not deploy:
                keys.update(bn_keys(f'{b}.fc3_bn', s[i]))
                for k in kernels:
                    keys.update(conv_keys(f'{b}.repconv{k}.conv', s[i], s[i], k, groups=s[i]),
                                **bn_keys(f'{b}.repconv{k}.bn', s[i]))
        if i < 3:
            keys.update(conv_keys(f'backbone.downsample_layers.{i}.conv', c, ch[i + 1], 2),
                        **bn_keys(f'backbone.downsample_layers.{i}.bn', ch[i + 1]))
    keys.update(bn_keys('backbone.final_norm', ch[-1]), **{'head.fc.weight': (3, ch[-1]), 'head.fc.bias': (3,)})
    return keys


def _tiny_cfg(deploy: bool = False) -> dict:
    backbone = dict(type='RepMLPNet', arch=TINY, img_size=32, reparam_conv_kernels=(1, 3), deploy=deploy)
    return dict(type='ImageClassifier', backbone=backbone, neck=dict(type='GlobalAveragePooling'),
                head=dict(type='LinearClsHead', num_classes=3, in_channels=32))


@pytest.mark.parametrize('deploy', [False, True])
def test_mmcls_checkpoint_loads_strictly_with_the_same_logits(tmp_path, deploy):
    check_mmcls_layout(tmp_path, _tiny_cfg(deploy), _tiny_keys(deploy), side=32)


@pytest.mark.parametrize('kernels', [(1, 3), (3,), None])
def test_switch_to_deploy_keeps_the_eval_output(kernels):
    block = RepMLPBlock(16, 4, 4, reparam_conv_kernels=kernels, num_sharesets=4)
    block.load_state_dict(random_state({k: tuple(v.shape) for k, v in block.state_dict().items()}, scale=0.3))
    block.eval()
    x = torch.randn(2, 16, 8, 8)
    with torch.no_grad():
        before = block(x)
        block.switch_to_deploy()
        after = block(x)
    assert block.deploy and not hasattr(block, 'repconv3') and isinstance(block.fc3_bn, torch.nn.Identity)
    assert before.abs().max() > 0.1 and torch.allclose(after, before, atol=1e-5)


def test_convert_reparam_writes_a_deploy_checkpoint(tmp_path):
    config = write_config(tmp_path / 'tiny.py', _tiny_cfg())
    src = save_mmcls_checkpoint(tmp_path / 'trained.pth', random_state(_tiny_keys(False), scale=0.3))
    dst = tmp_path / 'deploy.pth'
    assert main(['convert', str(src), str(dst), '--reparam', str(config)]) == 0
    trained = init_model(str(config), str(src), cfg_options={'amp': 'fp32', 'fuse_conv_bn': False})
    deploy = init_model(str(config), str(dst), cfg_options={'amp': 'fp32', 'model.backbone.deploy': True})
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    ref, got = logits(trained, x), logits(deploy, x)
    assert ref.abs().max() > 0.1 and (got - ref).abs().max().item() <= 1e-4 * max(1.0, ref.abs().max().item())


def test_bad_arguments_and_inputs_name_the_problem():
    with pytest.raises(ConfigError, match=r"RepMLPNet arch 'l' is unknown; choose one of \['b', 'base'\]"):
        build_backbone(dict(type='RepMLPNet', arch='l'))
    with pytest.raises(ConfigError, match="RepMLPNet arch dict needs exactly the keys"):
        build_backbone(dict(type='RepMLPNet', arch=dict(channels=[8], depths=[1])))
    with pytest.raises(ConfigError, match='RepMLPNet: 8 channels do not split into 3 sharesets'):
        build_backbone(dict(type='RepMLPNet', arch=dict(channels=[8], depths=[1], sharesets_nums=[3]), img_size=8,
                            out_indices=(0,)))
    model = build_backbone(dict(type='RepMLPNet', arch=TINY, img_size=32))
    with pytest.raises(ConfigError, match='RepMLPNet takes only 32x32 images .*, got 64x64'):
        model(torch.randn(1, 3, 64, 64))
