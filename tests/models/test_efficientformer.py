"""EfficientFormer and its distillation head: mmcls 0.25's configs, sizes and checkpoints."""

from __future__ import annotations

import pytest
import torch
from mmcls_family_checks import CONFIGS, check_mmcls_checkpoint, config_params

from imgcls import Config
from imgcls.analysis.complexity import get_complexity
from imgcls.errors import ConfigError, DataError
from imgcls.models.backbones.efficientformer import Flat, Meta3D, Meta4D
from imgcls.models.builder import build_backbone, build_classifier, build_head

# config -> (parameters, FLOPs) from mmcls 0.25's configs/efficientformer/metafile.yml. Its L1 count, 12,278,696,
# is 11,232 below what the L1 architecture has (timm's efficientformer_l1 also has 12,289,928), and its L3 FLOPs
# are about one attention block (0.17 G) below the count of the L3 layers; the L3 and L7 counts are exact.
PUBLISHED = {
    'efficientformer-l1_8xb128_in1k.py': (12_289_928, 1_304_601_088),
    'efficientformer-l3_8xb128_in1k.py': (31_406_000, 3_737_045_760),
    'efficientformer-l7_8xb128_in1k.py': (82_229_328, 10_163_951_616),
}
# two pooling blocks and one attention block in the last stage; the attention needs a 7x7 grid: 224x224 images
TINY = dict(layers=[1, 1, 1, 3], embed_dims=[8, 16, 24, 32], downsamples=[False, True, True, True], vit_num=1)


def test_every_mmcls_config_is_here():
    assert sorted(p.name for p in (CONFIGS / 'efficientformer').glob('*.py')) == sorted(PUBLISHED)


@pytest.mark.parametrize('config', sorted(PUBLISHED))
def test_parameters(config):
    assert config_params(f'efficientformer/{config}') == PUBLISHED[config][0]


@pytest.mark.parametrize('config', ['efficientformer-l1_8xb128_in1k.py', 'efficientformer-l7_8xb128_in1k.py'])
def test_macs_agree_with_the_published_flops(config):
    """Within 1.5%: mmcls also counts norms, activations and pooling, but not the attention products."""
    with torch.device('meta'):
        model = build_classifier(Config.fromfile(CONFIGS / 'efficientformer' / config).model)
    assert 0.985 < get_complexity(model, (3, 224, 224)).macs / PUBLISHED[config][1] < 1.0


def test_last_stage_ends_in_attention_blocks_on_tokens():
    model = build_backbone(dict(type='EfficientFormer', arch=TINY))
    assert [type(m) for m in model.network[3]][1:] == [Meta4D, Meta4D, Flat, Meta3D]
    all_attention = build_backbone(dict(type='EfficientFormer', arch={**TINY, 'vit_num': 3}))
    assert [type(m) for m in all_attention.network[3]][1:] == [Flat, Meta3D, Meta3D, Meta3D]


@pytest.mark.parametrize('kwargs, shapes', [
    (dict(), [(32, 49)]),
    (dict(out_indices=(0, 1, 2, 3), reshape_last_feat=True), [(8, 56, 56), (16, 28, 28), (24, 14, 14), (32, 7, 7)]),
])
def test_outputs(kwargs, shapes):
    model = build_backbone(dict(type='EfficientFormer', arch=TINY, **kwargs)).eval()
    with torch.no_grad():
        assert [tuple(o.shape[1:]) for o in model(torch.randn(1, 3, 224, 224))] == shapes


def test_other_image_sizes_are_refused_with_the_size_to_use():
    model = build_backbone(dict(type='EfficientFormer', arch=TINY)).eval()
    with pytest.raises(DataError, match=r'7x7 grid of tokens \(224x224 images\), got 4 tokens: resize .* 224x224'):
        model(torch.randn(1, 3, 64, 64))


def test_frozen_stages_zero_freezes_the_stem():
    model = build_backbone(dict(type='EfficientFormer', arch=TINY, frozen_stages=0)).train()
    assert all(not p.requires_grad for p in model.patch_embed.parameters())
    assert all(p.requires_grad for p in model.network.parameters())
    one = build_backbone(dict(type='EfficientFormer', arch=TINY, frozen_stages=1, out_indices=(0, 3))).train()
    assert all(not p.requires_grad for m in (one.network[0], one.norm0) for p in m.parameters())
    assert not one.network[0].training and one.network[1].training


def test_distillation_head_averages_both_heads_and_refuses_to_train():
    head = build_head(dict(type='EfficientFormerClsHead', num_classes=3, in_channels=4))
    x = (torch.randn(2, 4),)
    with torch.no_grad():
        want = (head.head(x[0]) + head.dist_head(x[0])) / 2
        torch.testing.assert_close(head.simple_test(x, softmax=False, post_process=False), want)
    with pytest.raises(ConfigError, match='set model.head.distillation=False to fine-tune'):
        head.forward_train(x, torch.tensor([0, 1]))
    plain = build_head(dict(type='EfficientFormerClsHead', num_classes=3, in_channels=4, distillation=False))
    assert not hasattr(plain, 'dist_head') and plain.forward_train(x, torch.tensor([0, 1]))['loss'] > 0


@pytest.mark.parametrize('kwargs, message', [
    (dict(arch='l5'), r"EfficientFormer arch 'l5' is not one of l1, l3, l7"),
    (dict(arch={k: v for k, v in TINY.items() if k != 'vit_num'}), r'needs exactly the keys'),
    (dict(arch={**TINY, 'vit_num': 4}), r'vit_num=4 must be in 0..3'),
    (dict(arch=TINY, out_indices=(4,)), r'EfficientFormer out_indices=\(4,\): 4 is not a stage index; use 0..3'),
    (dict(arch=TINY, frozen_stages=5), r'EfficientFormer frozen_stages must be an int in -1..4, got 5'),
])
def test_bad_arguments_are_reported(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        build_backbone(dict(type='EfficientFormer', **kwargs))


def test_mmcls_checkpoint_loads_and_gives_the_same_logits(tmp_path):
    cfg = Config.fromfile(CONFIGS / 'efficientformer' / 'efficientformer-l1_8xb128_in1k.py')
    cfg.model.backbone.arch = TINY
    cfg.model.head.in_channels, cfg.model.head.num_classes = 32, 10
    check_mmcls_checkpoint(cfg, 'efficientformer_tiny_mmcls_keys.json', tmp_path, side=224)


def test_logits_equal_timms_efficientformer():
    """timm's EfficientFormer (distilled head included) gives the same logits from the same weights."""
    pytest.importorskip('timm')
    from mmcls_family_checks import load_reference_weights, randomize
    from timm.models.efficientformer import EfficientFormer as TimmEfficientFormer
    reference = TimmEfficientFormer(depths=tuple(TINY['layers']), embed_dims=tuple(TINY['embed_dims']),
                                    num_vit=TINY['vit_num'], num_classes=10).eval()
    randomize(reference)
    cfg = Config.fromfile(CONFIGS / 'efficientformer' / 'efficientformer-l1_8xb128_in1k.py')
    cfg.model.backbone.arch = TINY
    cfg.model.head.in_channels, cfg.model.head.num_classes = 32, 10
    model = build_classifier(cfg.model).eval()
    fixed = {'stem.conv1': 'patch_embed.0.conv', 'stem.norm1': 'patch_embed.0.bn', 'stem.conv2': 'patch_embed.1.conv',
             'stem.norm2': 'patch_embed.1.bn', 'norm': 'norm3'}

    def rename(key: str) -> str:
        module, _, name = key.rpartition('.')
        if module in ('head', 'head_dist'):
            return f'head.{"dist_head" if module == "head_dist" else "head"}.{name}'
        if module in fixed:
            return f'backbone.{fixed[module]}.{name}'
        parts = module.split('.')  # stages.<i>.downsample.<conv|norm> or stages.<i>.blocks.<j>...
        stage = int(parts[1])
        if parts[2] == 'downsample':
            return f'backbone.network.{stage}.0.{"conv" if parts[3] == "conv" else "bn"}.{name}'
        # imgcls's stage starts with its downsampling conv, when it has one
        index = int(parts[3]) + int(TINY['downsamples'][stage])
        name = 'weight' if name == 'gamma' else name
        return '.'.join(['backbone.network', str(stage), str(index), *parts[4:], name])

    load_reference_weights(model, reference, rename)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(model.simple_test(x, softmax=False, post_process=False), reference(x),
                                   atol=1e-5, rtol=1e-5)
