"""T2T-ViT: sizes of mmcls's configs, mmcls checkpoints, the tokens-to-token steps, position table resizing."""

from __future__ import annotations

import logging

import pytest
import torch
from zoo_checks import check_mmcls_fixture, meta_params, mmcv_convention_macs, model_cfg

from imgcls.models.backbones.t2t_vit import get_sinusoid_encoding
from imgcls.models.builder import build_backbone, build_classifier

# exact parameter totals of mmcls 0.25's models and its metafile's FLOPs (G)
SIZES = {
    't2t-vit-t-14_8xb64_in1k': (21_465_422, 4.34),
    't2t-vit-t-19_8xb64_in1k': (39_084_686, 7.80),
    't2t-vit-t-24_8xb64_in1k': (64_000_590, 12.69),
}
TINY = dict(img_size=32, embed_dims=16, num_layers=2, t2t_cfg=dict(token_dims=8),
            layer_cfgs=dict(num_heads=2, feedforward_channels=32))


@pytest.mark.parametrize('name', SIZES)
def test_parameter_counts_equal_mmcls(name):
    assert meta_params(model_cfg(f'configs/t2t_vit/{name}.py')) == SIZES[name][0]


def test_macs_match_the_metafile():
    with torch.device('meta'):
        model = build_classifier(model_cfg('configs/t2t_vit/t2t-vit-t-14_8xb64_in1k.py'))
    macs, mmcv_count = mmcv_convention_macs(model, (3, 224, 224))
    assert round(macs / 1e9, 2) == 6.09 and round(mmcv_count / 1e9, 2) == SIZES['t2t-vit-t-14_8xb64_in1k'][1]


def test_mmcls_checkpoint_loads_strictly_with_the_same_logits(tmp_path):
    model = check_mmcls_fixture('t2t', tmp_path)
    assert 'backbone.pos_embed' in model.state_dict()  # a buffer, saved in mmcls checkpoints


def test_sinusoid_table_by_hand():
    table = get_sinusoid_encoding(3, 4)[0]
    # position p, channels (sin(p), cos(p), sin(p / 100), cos(p / 100)) for d = 4
    p = torch.arange(3.0)
    expected = torch.stack([p.sin(), p.cos(), (p / 100).sin(), (p / 100).cos()], dim=1)
    torch.testing.assert_close(table, expected)


def test_tokens_to_token_shapes_and_resized_position_table(caplog):
    model = build_backbone(dict(type='T2T_ViT', **TINY, out_indices=(0, 1))).eval()
    outs = model(torch.randn(1, 3, 64, 48))  # 16x downsampling: a 4x3 grid, the table interpolated
    assert [[tuple(t.shape) for t in out] for out in outs] == [[(1, 16, 4, 3), (1, 16)]] * 2
    big = build_backbone(dict(type='T2T_ViT', **{**TINY, 'img_size': 64}))
    with caplog.at_level(logging.INFO, logger='imgcls'):
        big.load_state_dict(model.state_dict(), strict=True)
    assert 'Resized pos_embed from a 2x2 patch grid (checkpoint) to 4x4 (model)' in caplog.text
