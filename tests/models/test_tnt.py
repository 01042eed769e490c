"""TNT: sizes of mmcls's configs, mmcls checkpoints (torch MultiheadAttention's layout), pixel-to-patch flow."""

from __future__ import annotations

import pytest
import torch
from zoo_checks import check_mmcls_fixture, macs_breakdown, meta_params, model_cfg

from imgcls.errors import ConfigError
from imgcls.models.backbones.tnt import PackedInProjAttention
from imgcls.models.builder import build_backbone, build_classifier

TINY = dict(arch=dict(embed_dims_outer=16, embed_dims_inner=8, num_layers=2, num_heads_outer=2, num_heads_inner=2),
            img_size=32, patch_size=8)


@pytest.mark.parametrize('name', ['tnt-s-p16_16xb64_in1k', 'tnt_s_patch16_224_evalonly_imagenet'])
def test_parameter_count_equals_mmcls(name):
    assert meta_params(model_cfg(f'configs/tnt/{name}.py')) == 23_755_336


def test_macs_match_the_metafile():
    with torch.device('meta'):
        model = build_classifier(model_cfg('configs/tnt/tnt-s-p16_16xb64_in1k.py'))
    p = macs_breakdown(model, (3, 224, 224), functional_linears=(PackedInProjAttention,))
    assert round(p['macs'] / 1e9, 2) == 5.22
    # mmcv's counter sees nothing inside torch's MultiheadAttention (whose layout TNT keeps): neither the
    # products nor the in-projection (3C x C a token, counted as functional_linear) nor the out-projection (C x C)
    mmcv_count = p['macs'] - p['attention'] - p['functional_linear'] * 4 // 3 + p['elementwise']
    assert round(mmcv_count / 1e9, 2) == 3.36


def test_mmcls_checkpoint_loads_strictly_with_the_same_logits(tmp_path):
    model = check_mmcls_fixture('tnt', tmp_path)
    keys = model.state_dict()
    assert 'backbone.layers.0.inner_block.attn.attn.in_proj_weight' in keys
    assert 'backbone.layers.0.inner_block.attn.attn.in_proj_bias' not in keys  # qkv_bias=False


def test_class_token_output_fixed_size_and_arch_errors():
    torch.manual_seed(0)
    model = build_backbone(dict(type='TNT', **TINY, qkv_bias=True)).eval()
    assert model.layers[0].inner_block.attn.attn.in_proj_bias is not None
    (out,) = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 16)
    with pytest.raises(ValueError, match='TNT takes 32x32 images only'):
        model(torch.randn(1, 3, 48, 48))
    with pytest.raises(ConfigError, match=r"TNT arch dict needs exactly the keys"):
        build_backbone(dict(type='TNT', arch=dict(embed_dims_outer=16)))


def test_pixel_tokens_reach_their_patch_only_through_the_projection():
    # with the outer blocks' attention zeroed, a change in one patch's pixels moves that patch token only
    torch.manual_seed(0)
    model = build_backbone(dict(type='TNT', **TINY)).eval()
    x = torch.randn(1, 3, 32, 32)
    y = x.clone()
    y[..., :5, :5] += 1  # inside the first patch, beyond the reach of its neighbours' 7x7/4 pixel convolutions
    seen = {}
    model.norm.register_forward_hook(lambda m, i, o: seen.__setitem__('tokens', i[0]))
    with torch.no_grad():
        for layer in model.layers:
            layer.outer_block.attn.attn.out_proj.weight.zero_()
            layer.outer_block.attn.attn.out_proj.bias.zero_()
        model(x)
        a = seen['tokens']
        model(y)
        b = seen['tokens']
    changed = (a - b).abs().amax(dim=-1)[0] > 1e-6
    assert changed.tolist() == [False, True] + [False] * 15  # class token, the first patch, the others
