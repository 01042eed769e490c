"""PoolFormer: mmcls 0.25's configs, sizes and checkpoints."""

from __future__ import annotations

import pytest
import torch
from mmcls_family_checks import CONFIGS, check_mmcls_checkpoint, config_params

from imgcls import Config
from imgcls.analysis.complexity import get_complexity
from imgcls.errors import ConfigError
from imgcls.models.builder import build_backbone, build_classifier

# config -> (parameters, FLOPs) from mmcls 0.25's configs/poolformer/metafile.yml
PUBLISHED = {
    'poolformer-s12_32xb128_in1k.py': (11_915_176, 1_871_399_424),
    'poolformer-s24_32xb128_in1k.py': (21_388_968, 3_510_411_008),
    'poolformer-s36_32xb128_in1k.py': (30_862_760, 5_149_422_592),
    'poolformer-m36_32xb128_in1k.py': (56_172_520, 8_960_175_744),
    'poolformer-m48_32xb128_in1k.py': (73_473_448, 11_801_805_696),
}
TINY = dict(layers=[1, 1, 2, 1], embed_dims=[8, 16, 24, 32], mlp_ratios=[2, 2, 2, 2])


def test_every_mmcls_config_is_here():
    assert sorted(p.name for p in (CONFIGS / 'poolformer').glob('*.py')) == sorted(PUBLISHED)


@pytest.mark.parametrize('config', sorted(PUBLISHED))
def test_parameters_equal_mmcls(config):
    assert config_params(f'poolformer/{config}') == PUBLISHED[config][0]


def test_macs_agree_with_the_published_flops():
    """mmcls's FLOPs also count the pooling, GroupNorms and GELUs: the conv/linear MACs are ~3.5% fewer."""
    config = 'poolformer-s12_32xb128_in1k.py'
    with torch.device('meta'):
        model = build_classifier(Config.fromfile(CONFIGS / 'poolformer' / config).model)
    assert 0.96 < get_complexity(model, (3, 224, 224)).macs / PUBLISHED[config][1] < 0.975


@pytest.mark.parametrize('out_indices, shapes', [
    (-1, [(32, 2, 2)]),
    ((0, 1, 2, 3, 4, 5, 6), [(8, 16, 16), (16, 8, 8), (16, 8, 8), (24, 4, 4), (24, 4, 4), (32, 2, 2), (32, 2, 2)]),
    ((0, 2, 4, 6), [(8, 16, 16), (16, 8, 8), (24, 4, 4), (32, 2, 2)]),
])
def test_outputs_and_their_norms(out_indices, shapes):
    model = build_backbone(dict(type='PoolFormer', arch=TINY, out_indices=out_indices)).eval()
    with torch.no_grad():
        assert [tuple(o.shape[1:]) for o in model(torch.randn(2, 3, 64, 64))] == shapes
    assert sorted(k.split('.')[0] for k in model.state_dict() if k.startswith('norm') and k.endswith('weight')) == \
        [f'norm{i % 7}' for i in sorted(model.out_indices)]


def test_frozen_stages_freeze_the_stem_and_the_first_entries():
    model = build_backbone(dict(type='PoolFormer', arch=TINY, frozen_stages=2, out_indices=(0, 6))).train()
    frozen = [model.patch_embed, model.network[0], model.network[1], model.norm0]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.requires_grad for m in (*model.network[2:], model.norm6) for p in m.parameters())
    # the default (0) freezes nothing, not even the stem
    assert all(p.requires_grad for p in build_backbone(dict(type='PoolFormer', arch=TINY)).parameters())


def test_pooling_mixer_is_zero_on_a_constant_map():
    """The token mixer subtracts the token from its neighbourhood mean (edges included, padding excluded)."""
    block = build_backbone(dict(type='PoolFormer', arch=TINY)).network[0][0]
    with torch.no_grad():
        assert block.token_mixer(torch.full((1, 8, 5, 5), 3.0)).abs().max() == 0


@pytest.mark.parametrize('kwargs, message', [
    (dict(arch='s6'), r"PoolFormer arch 's6' is not one of s12, s24, s36, m36, m48"),
    (dict(arch=dict(layers=[1, 1])), r'PoolFormer arch dict needs the keys layers and embed_dims'),
    (dict(arch=TINY, out_indices=(7,)), r'PoolFormer out_indices=\(7,\): 7 is not a stage index; use 0..6'),
    (dict(arch=TINY, frozen_stages=-1), r'PoolFormer frozen_stages must be an int in 0..7, got -1'),
])
def test_bad_arguments_are_reported(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        build_backbone(dict(type='PoolFormer', **kwargs))


def test_mmcls_checkpoint_loads_and_gives_the_same_logits(tmp_path):
    cfg = Config.fromfile(CONFIGS / 'poolformer' / 'poolformer-s12_32xb128_in1k.py')
    cfg.model.backbone.arch = TINY
    cfg.model.head.in_channels, cfg.model.head.num_classes = 32, 10
    check_mmcls_checkpoint(cfg, 'poolformer_tiny_mmcls_keys.json', tmp_path)


def test_blocks_equal_timms_poolformer():
    """timm's PoolFormer runs the same stem, blocks and downsampling (its head pools before the norm, mmcls's
    norms before pooling): from the same weights the last stage's maps are equal."""
    timm = pytest.importorskip('timm')
    from mmcls_family_checks import randomize
    reference = timm.create_model('poolformer_s12', pretrained=False, num_classes=10).eval()
    randomize(reference)
    model = build_backbone(dict(type='PoolFormer', arch='s12')).eval()
    weights = {}
    for key, value in reference.state_dict().items():
        if key.startswith('head.'):
            continue
        key = key.replace('layer_scale1.scale', 'layer_scale_1').replace('layer_scale2.scale', 'layer_scale_2')
        if key.startswith('stem.'):
            key = 'patch_embed.proj.' + key.split('.')[-1]
        elif '.downsample.' in key:
            key = f'network.{2 * int(key.split(".")[1]) - 1}.proj.{key.split(".")[-1]}'
        else:  # stages.<i>.blocks.<j>.<rest>
            _, stage, _, rest = key.split('.', 3)
            key = f'network.{2 * int(stage)}.{rest}'
        weights[key] = value
    missing, unexpected = model.load_state_dict(weights, strict=False)
    assert not unexpected and missing == ['norm6.weight', 'norm6.bias']
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ours = model.patch_embed(x)
        for module in model.network:
            ours = module(ours)
        torch.testing.assert_close(ours, reference.forward_features(x), atol=1e-5, rtol=1e-5)
