"""ConvMixer: mmcls 0.25's configs, sizes and checkpoints."""

from __future__ import annotations

import pytest
import torch
from mmcls_family_checks import CONFIGS, check_mmcls_checkpoint, config_params

from imgcls import Config
from imgcls.analysis.complexity import get_complexity
from imgcls.errors import ConfigError
from imgcls.models.builder import build_backbone, build_classifier

# config -> (parameters, FLOPs) from mmcls 0.25's configs/convmixer/metafile.yml
PUBLISHED = {
    'convmixer-768-32_10xb64_in1k.py': (21_110_248, 19_623_051_264),
    'convmixer-1024-20_10xb64_in1k.py': (24_383_464, 5_550_112_768),
    'convmixer-1536-20_10xb64_in1k.py': (51_625_960, 48_713_170_944),
}
TINY = dict(embed_dims=8, depth=3, patch_size=4, kernel_size=3)


def test_every_mmcls_config_is_here():
    assert sorted(p.name for p in (CONFIGS / 'convmixer').glob('*.py')) == sorted(PUBLISHED)


@pytest.mark.parametrize('config', sorted(PUBLISHED))
def test_parameters_equal_mmcls(config):
    assert config_params(f'convmixer/{config}') == PUBLISHED[config][0]


@pytest.mark.parametrize('config', ['convmixer-1024-20_10xb64_in1k.py'])
def test_macs_agree_with_the_published_flops(config):
    """mmcls's figure leaves out the depthwise convs (padding='same') and counts norms and activations:
    without the depthwise MACs, imgcls's count is within 1% of it."""
    with torch.device('meta'):
        model = build_classifier(Config.fromfile(CONFIGS / 'convmixer' / config).model)
    backbone = model.backbone
    side = 224 // backbone.patch_size
    depthwise = backbone.depth * backbone.embed_dims * side * side * backbone.kernel_size ** 2
    ratio = (get_complexity(model, (3, 224, 224)).macs - depthwise) / PUBLISHED[config][1]
    assert 0.99 < ratio < 1.0


def test_outputs_keep_the_patch_resolution():
    model = build_backbone(dict(type='ConvMixer', arch=TINY, out_indices=(0, -1))).eval()
    with torch.no_grad():
        assert [tuple(o.shape[1:]) for o in model(torch.randn(2, 3, 32, 32))] == [(8, 8, 8), (8, 8, 8)]
    assert model.out_indices == (0, 2)


def test_frozen_stages_freeze_the_stem_and_the_first_layers():
    model = build_backbone(dict(type='ConvMixer', arch=TINY, frozen_stages=2)).train()
    assert all(not p.requires_grad for m in (model.stem, *model.stages[:2]) for p in m.parameters())
    assert all(p.requires_grad for p in model.stages[2].parameters())
    assert not model.stages[1].training and model.stages[2].training


@pytest.mark.parametrize('kwargs, message', [
    (dict(arch='512/16'), r"ConvMixer arch '512/16' is not one of 768/32, 1024/20, 1536/20"),
    (dict(arch=dict(embed_dims=8, depth=2)), r"ConvMixer arch dict needs the keys \['depth', 'embed_dims'"),
    (dict(arch=TINY, out_indices=(3,)), r'ConvMixer out_indices=\(3,\): 3 is not a stage index; use 0..2'),
    (dict(arch=TINY, frozen_stages=4), r'ConvMixer frozen_stages must be an int in 0..3, got 4'),
])
def test_bad_arguments_are_reported(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        build_backbone(dict(type='ConvMixer', **kwargs))


def test_mmcls_checkpoint_loads_and_gives_the_same_logits(tmp_path):
    cfg = Config.fromfile(CONFIGS / 'convmixer' / 'convmixer-768-32_10xb64_in1k.py')
    cfg.model.backbone.arch = TINY
    cfg.model.head.in_channels, cfg.model.head.num_classes = 8, 10
    check_mmcls_checkpoint(cfg, 'convmixer_tiny_mmcls_keys.json', tmp_path, side=32)


def test_logits_equal_timms_convmixer():
    """timm's ConvMixer gives the same logits from the same weights (its ``blocks`` are imgcls's ``stages``)."""
    pytest.importorskip('timm')
    from mmcls_family_checks import load_reference_weights, randomize
    from timm.models.convmixer import ConvMixer as TimmConvMixer
    reference = TimmConvMixer(dim=8, depth=3, kernel_size=3, patch_size=4, num_classes=10).eval()
    randomize(reference)
    cfg = Config.fromfile(CONFIGS / 'convmixer' / 'convmixer-1024-20_10xb64_in1k.py')  # GELU, as timm's default
    cfg.model.backbone.arch = TINY
    cfg.model.head.in_channels, cfg.model.head.num_classes = 8, 10
    model = build_classifier(cfg.model).eval()

    def rename(key: str) -> str:
        if key.startswith('head.'):
            return 'head.fc.' + key[len('head.'):]
        return 'backbone.' + key.replace('blocks.', 'stages.', 1)

    load_reference_weights(model, reference, rename)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.simple_test(x, softmax=False, post_process=False), reference(x),
                                   atol=1e-5, rtol=1e-5)
