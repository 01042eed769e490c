"""Conformer + ConformerHead: sizes of mmcls's configs, mmcls checkpoints, outputs, frozen stages, the loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from zoo_checks import check_mmcls_fixture, meta_params, mmcv_convention_macs, model_cfg

from imgcls.errors import ConfigError
from imgcls.models.builder import build_backbone, build_classifier

# exact parameter totals of mmcls 0.25's models and its metafile's FLOPs
SIZES = {
    'conformer-tiny-p16_8xb128_in1k': (23_524_704, 4_899_611_328),
    'conformer-small-p16_8xb128_in1k': (37_673_424, 10_311_309_312),
    'conformer-small-p32_8xb128_in1k': (38_853_072, 7_087_281_792),
    'conformer-base-p16_8xb128_in1k': (83_289_136, 22_892_078_080),
}
TINY = dict(arch=dict(embed_dims=16, depths=3, num_heads=2, channel_ratio=1), base_channels=8)


@pytest.mark.parametrize('name', SIZES)
def test_parameter_counts_equal_mmcls(name):
    assert meta_params(model_cfg(f'configs/conformer/{name}.py')) == SIZES[name][0]


@pytest.mark.parametrize('name', ['conformer-tiny-p16_8xb128_in1k',
                                  pytest.param('conformer-small-p32_8xb128_in1k', marks=pytest.mark.slow)])
def test_macs_match_the_metafile(name):
    with torch.device('meta'):
        model = build_classifier(model_cfg(f'configs/conformer/{name}.py'))
    _, mmcv_count = mmcv_convention_macs(model, (3, 224, 224))
    head = model.head.conv_cls_head.weight.numel() + model.head.trans_cls_head.weight.numel()
    # mmcls's figures are exact: mmcv's count of the backbone alone (its get_flops leaves the head out)
    assert mmcv_count - head == SIZES[name][1]


def test_mmcls_checkpoint_loads_strictly_with_the_same_logits(tmp_path):
    # mmcls's simple_test(softmax=False) gives the two branches' scores; the fixture holds their sum
    check_mmcls_fixture('conformer', tmp_path)


def test_outputs_are_numbered_after_transformer_layers():
    model = build_backbone(dict(type='Conformer', **TINY, out_indices=(0, 1, 2, -1))).eval()
    outs = model(torch.randn(2, 3, 32, 32))
    # 0: embeddings (64-channel stem), 1: after conv_1/trans_1, 2 and 3: the blocks (8 -> 16 -> 32 channels)
    assert [[tuple(t.shape) for t in out] for out in outs] == [[(2, 64), (2, 16)], [(2, 8), (2, 16)],
                                                               [(2, 16), (2, 16)], [(2, 32), (2, 16)]]
    with pytest.raises(ConfigError, match=r'Conformer out_indices=\(4,\): 4 is not a stage index; use 0..3'):
        build_backbone(dict(type='Conformer', **TINY, out_indices=4))
    with pytest.raises(ConfigError, match='must be a multiple of 16'):
        build_backbone(dict(type='Conformer', **TINY, patch_size=8))


def test_frozen_stages_freeze_the_stem_and_blocks():
    model = build_backbone(dict(type='Conformer', **TINY, frozen_stages=2)).train()
    assert not any(p.requires_grad for p in model.trans_1.parameters())
    assert not any(p.requires_grad for p in model.conv_trans_2.parameters()) and not model.conv_trans_2.training
    assert all(p.requires_grad for p in model.conv_trans_3.parameters()) and model.conv_trans_3.training


def test_head_sums_the_branches_and_averages_their_losses():
    torch.manual_seed(0)
    model = build_classifier(dict(type='ImageClassifier', backbone=dict(type='Conformer', **TINY),
                                  head=dict(type='ConformerHead', num_classes=5, in_channels=[32, 16])))
    model.init_weights()
    img, label = torch.randn(2, 3, 32, 32), torch.tensor([1, 3])
    model.eval()
    with torch.no_grad():
        feats = model.extract_feat(img)
        conv, trans = model.head.conv_cls_head(feats[-1][0]), model.head.trans_cls_head(feats[-1][1])
        torch.testing.assert_close(model.simple_test(img, softmax=False, post_process=False), conv + trans)
        losses = model.head.forward_train(feats, label)
    expected = (F.cross_entropy(conv, label) + F.cross_entropy(trans, label)) / 2
    torch.testing.assert_close(losses['loss'], expected)
    with pytest.raises(ConfigError, match=r'in_channels=\[32\] must be \[cnn_channels, transformer_channels\]'):
        build_classifier(dict(type='ImageClassifier', backbone=dict(type='Conformer', **TINY),
                              head=dict(type='ConformerHead', num_classes=5, in_channels=[32])))
