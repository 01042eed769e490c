"""Swin Transformer V2: sizes of mmcls's configs, mmcls checkpoints, window changes, checkpointing."""

from __future__ import annotations

import logging

import pytest
import torch
from zoo_checks import check_mmcls_fixture, meta_params, mmcv_convention_macs, model_cfg

from imgcls.errors import ConfigError
from imgcls.models.builder import build_backbone, build_classifier
from imgcls.models.utils.attention import WindowMSAV2, log_spaced_coords_table

# exact parameter totals of mmcls 0.25's models, and its metafile's FLOPs (G)
SIZES = {
    'swinv2-tiny-w8_16xb64_in1k-256px': (28_347_154, 4.35),
    'swinv2-tiny-w16_16xb64_in1k-256px': (28_347_154, 4.40),
    'swinv2-small-w8_16xb64_in1k-256px': (49_728_418, 8.45),
    'swinv2-small-w16_16xb64_in1k-256px': (49_728_418, 8.57),
    'swinv2-base-w8_16xb64_in1k-256px': (87_918_816, 14.99),
    'swinv2-base-w16_16xb64_in1k-256px': (87_918_816, 15.14),
    'swinv2-base-w16_in21k-pre_16xb64_in1k-256px': (87_918_816, 15.14),
    'swinv2-base-w24_in21k-pre_16xb64_in1k-384px': (87_918_816, 34.07),
    'swinv2-large-w16_in21k-pre_16xb64_in1k-256px': (196_739_932, 33.86),
    'swinv2-large-w24_in21k-pre_16xb64_in1k-384px': (196_739_932, 76.20),
}
# our MACs of the tiny models: the paper's 5.9G (w8) counts what mmcv's counter leaves out
TINY_MACS = {'swinv2-tiny-w8_16xb64_in1k-256px': 5_939_690_496, 'swinv2-tiny-w16_16xb64_in1k-256px': 6_660_619_264}
SMALL = dict(arch=dict(embed_dims=8, depths=[2, 1, 2], num_heads=[1, 2, 2], extra_norm_every_n_blocks=2),
             img_size=32, window_size=[4, 2, 2], out_indices=(0, 1, 2), drop_path_rate=0.0)


@pytest.mark.parametrize('name', SIZES)
def test_parameter_counts_equal_mmcls(name):
    assert meta_params(model_cfg(f'configs/swin_transformer_v2/{name}.py')) == SIZES[name][0]


# counting runs every window op on the meta device: a few seconds per model, so the fast set is the smallest
FAST_MACS = ['swinv2-tiny-w8_16xb64_in1k-256px', 'swinv2-tiny-w16_16xb64_in1k-256px']


@pytest.mark.parametrize('name', [n if n in FAST_MACS else pytest.param(n, marks=pytest.mark.slow) for n in SIZES])
def test_macs_match_the_metafile_in_mmcvs_convention(name):
    with torch.device('meta'):
        model = build_classifier(model_cfg(f'configs/swin_transformer_v2/{name}.py'))
    side = 384 if '384' in name else 256
    macs, mmcv_count = mmcv_convention_macs(model, (3, side, side), skipped_modules=(WindowMSAV2,))
    assert round(mmcv_count / 1e9, 2) == SIZES[name][1]
    if name in TINY_MACS:
        assert macs == TINY_MACS[name]


def test_mmcls_checkpoint_loads_strictly_with_the_same_logits(tmp_path):
    model = check_mmcls_fixture('swinv2', tmp_path)
    keys = model.state_dict()
    assert 'backbone.stages.0.blocks.1.norm3.weight' in keys  # extra norm every 2 blocks
    assert 'backbone.stages.1.downsample.norm.weight' in keys and keys[
        'backbone.stages.1.downsample.norm.weight'].shape == (16,)  # post-norm merging: norm of the output


def test_stages_shapes_and_extra_norms():
    model = build_backbone(dict(type='SwinTransformerV2', **SMALL)).eval()
    outs = model(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, 8, 8, 8), (2, 16, 4, 4), (2, 32, 2, 2)]
    assert [hasattr(b, 'norm3') for s in model.stages for b in s.blocks] == [False, True, False, False, True]
    with pytest.raises(ConfigError, match=r"window_size=\[4, 2\] must be an int or 3 ints"):
        build_backbone(dict(type='SwinTransformerV2', **{**SMALL, 'window_size': [4, 2]}))
    with pytest.raises(ConfigError, match='extra_norm_every_n_blocks'):
        build_backbone(dict(type='SwinTransformerV2', arch=dict(embed_dims=8, depths=[1], num_heads=[1])))


def test_coords_table_is_log_spaced_and_scaled_by_the_pretrained_window():
    table = log_spaced_coords_table((3, 3), (0, 0))
    # offsets -2..2 over (3 - 1) -> -1..1, times 8 -> -8, -4, 0, 4, 8, then sign * log2(1 + |t|) / 3
    expected = torch.log2(torch.tensor([9.0, 5.0, 1.0, 5.0, 9.0])) * torch.tensor([-1, -1, 0, 1, 1]) / 3
    torch.testing.assert_close(table[0, :, 0, 0], expected)
    torch.testing.assert_close(table[0, 0, :, 1], expected)
    # a 5x5 window fine-tuned from a 3x3 one keeps the 3x3 offsets' values where they overlap
    wide = log_spaced_coords_table((5, 5), (3, 3))
    torch.testing.assert_close(wide[0, 2:7, 4, 0], expected)


def test_attention_matches_the_explicit_cosine_formula():
    torch.manual_seed(0)
    msa = WindowMSAV2(embed_dims=8, window_size=(2, 2), num_heads=2).eval()
    with torch.no_grad():
        for p in msa.parameters():
            p.normal_(0, 0.5)
    x = torch.randn(3, 4, 8)
    qkv = x @ msa.qkv.weight.T + torch.cat((msa.q_bias, torch.zeros(8), msa.v_bias))
    q, k, v = qkv.reshape(3, 4, 3, 2, 4).permute(2, 0, 3, 1, 4)
    cos = torch.nn.functional.normalize(q, dim=-1) @ torch.nn.functional.normalize(k, dim=-1).transpose(-2, -1)
    attn = cos * msa.logit_scale.clamp(max=torch.log(torch.tensor(100.0))).exp() + msa.position_bias()
    expected = msa.proj((attn.softmax(-1) @ v).transpose(1, 2).reshape(3, 4, 8))
    with torch.no_grad():
        torch.testing.assert_close(msa(x), expected, atol=1e-5, rtol=0)


def test_checkpoint_of_another_window_size_loads_with_the_bias_mlp_carried_over(caplog):
    small = build_backbone(dict(type='SwinTransformerV2', **SMALL))
    big = build_backbone(dict(type='SwinTransformerV2', **{**SMALL, 'window_size': [8, 4, 2],
                                                          'pretrained_window_sizes': [4, 2, 0]}))
    with caplog.at_level(logging.INFO, logger='imgcls'):
        big.load_state_dict(small.state_dict(), strict=True)
    assert 'Resized stages.0.blocks.0.attn.w_msa from a 4x4 window (checkpoint) to 8x8 (model)' in caplog.text
    block = big.stages[0].blocks[0].attn.w_msa
    assert block.relative_coords_table.shape == (1, 15, 15, 2)
    torch.testing.assert_close(block.cpb_mlp[0].weight, small.stages[0].blocks[0].attn.w_msa.cpb_mlp[0].weight)
    # the big window's offsets within +-3 equal the pre-training window's, so the bias there is the same
    inner = block.relative_coords_table[0, 4:11, 4:11]
    torch.testing.assert_close(inner, small.stages[0].blocks[0].attn.w_msa.relative_coords_table[0])


def test_with_cp_gives_the_same_outputs_and_gradients():
    torch.manual_seed(0)
    plain = build_backbone(dict(type='SwinTransformerV2', **SMALL))
    checkpointed = build_backbone(dict(type='SwinTransformerV2', **SMALL, with_cp=True))
    checkpointed.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32)
    results = []
    for model in (plain, checkpointed):
        model.train()
        out = model(x)
        sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum() for o in out).backward()
        results.append((out, model.stages[0].blocks[0].attn.w_msa.qkv.weight.grad))
    for a, b in zip(results[0][0], results[1][0]):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(results[0][1], results[1][1])
