"""VAN (Visual Attention Network): mmcls 0.25's configs, sizes and checkpoints."""

from __future__ import annotations

import pytest
import torch
from mmcls_family_checks import CONFIGS, check_mmcls_checkpoint, config_params

from imgcls import Config
from imgcls.analysis.complexity import get_complexity
from imgcls.errors import ConfigError
from imgcls.models.builder import build_backbone, build_classifier

# config -> (parameters in millions, GFLOPs) from mmcls 0.25's configs/van/metafile.yml (published rounded)
PUBLISHED = {
    'van-b0_8xb128_in1k.py': (4.11, 0.88),
    'van-b1_8xb128_in1k.py': (13.86, 2.52),
    'van-b2_8xb128_in1k.py': (26.58, 5.03),
    'van-b3_8xb128_in1k.py': (44.77, 8.99),
    'van-b4_8xb128_in1k.py': (60.28, 12.22),
    # the older names of b0..b3
    'van-tiny_8xb128_in1k.py': (4.11, 0.88),
    'van-small_8xb128_in1k.py': (13.86, 2.52),
    'van-base_8xb128_in1k.py': (26.58, 5.03),
    'van-large_8xb128_in1k.py': (44.77, 8.99),
}
TINY = dict(embed_dims=[8, 16, 24, 32], depths=[1, 1, 2, 1], ffn_ratios=[2, 2, 2, 2])


def test_every_mmcls_config_is_here():
    assert sorted(p.name for p in (CONFIGS / 'van').glob('*.py')) == sorted(PUBLISHED)


@pytest.mark.parametrize('config', sorted(PUBLISHED))
def test_parameters_equal_mmcls(config):
    assert round(config_params(f'van/{config}') / 1e6, 2) == PUBLISHED[config][0]


def test_macs_agree_with_the_published_flops():
    """mmcls's FLOPs also count norms, activations and the attention product: conv/linear MACs are ~2% fewer."""
    with torch.device('meta'):
        model = build_classifier(Config.fromfile(CONFIGS / 'van' / 'van-b0_8xb128_in1k.py').model)
    assert 0.97 < get_complexity(model, (3, 224, 224)).macs / 0.88e9 < 1.0


@pytest.mark.parametrize('out_indices, shapes', [
    ((0, 1, 2, 3), [(8, 16, 16), (16, 8, 8), (24, 4, 4), (32, 2, 2)]),
    (-1, [(32, 2, 2)]),
    ((-4, 2), [(8, 16, 16), (24, 4, 4)]),
])
def test_stage_outputs(out_indices, shapes):
    model = build_backbone(dict(type='VAN', arch=TINY, out_indices=out_indices)).eval()
    with torch.no_grad():
        assert [tuple(o.shape[1:]) for o in model(torch.randn(2, 3, 64, 64))] == shapes


def test_frozen_stages_freeze_embedding_blocks_and_norm():
    model = build_backbone(dict(type='VAN', arch=TINY, frozen_stages=1)).train()
    for i, frozen in ((1, True), (2, True), (3, False), (4, False)):
        for part in ('patch_embed', 'blocks', 'norm'):
            module = getattr(model, f'{part}{i}')
            assert all(p.requires_grad is not frozen for p in module.parameters())
            assert module.training is not frozen


def test_drop_path_rises_linearly_over_all_blocks():
    model = build_backbone(dict(type='VAN', arch=TINY, drop_path_rate=0.4))
    rates = [getattr(b.drop_path, 'drop_prob', 0.0) for i in range(1, 5) for b in getattr(model, f'blocks{i}')]
    assert rates == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_block_cfgs_reach_every_block():
    model = build_backbone(dict(type='VAN', arch=TINY, block_cfgs=dict(layer_scale_init_value=0.0)))
    assert all(b.layer_scale_1 is None for i in range(1, 5) for b in getattr(model, f'blocks{i}'))


@pytest.mark.parametrize('kwargs, message', [
    (dict(arch='b9'), r"VAN arch 'b9' is not one of b0, t, tiny"),
    (dict(arch=dict(embed_dims=[8], depths=[1])), r"VAN arch dict needs exactly the keys \['depths', 'embed_dims'"),
    (dict(arch=TINY, out_indices=(4,)), r'VAN out_indices=\(4,\): 4 is not a stage index; use 0..3'),
    (dict(arch=TINY, frozen_stages=4), r'VAN frozen_stages must be an int in -1..3, got 4'),
    (dict(arch=TINY, patch_sizes=(7, 3)), r'VAN patch_sizes=\(7, 3\) needs one size per stage \(4\)'),
])
def test_bad_arguments_are_reported(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        build_backbone(dict(type='VAN', **kwargs))


def test_mmcls_checkpoint_loads_and_gives_the_same_logits(tmp_path):
    cfg = Config.fromfile(CONFIGS / 'van' / 'van-b0_8xb128_in1k.py')
    cfg.model.backbone = dict(type='VAN', arch=TINY)
    cfg.model.head.in_channels, cfg.model.head.num_classes = 32, 10
    check_mmcls_checkpoint(cfg, 'van_tiny_mmcls_keys.json', tmp_path)
