"""Twins (PCPVT, SVT): sizes of mmcls's configs, mmcls checkpoints, local attention padding, any input size."""

from __future__ import annotations

import pytest
import torch
from zoo_checks import check_mmcls_fixture, meta_params, mmcv_convention_macs, model_cfg

from imgcls.errors import ConfigError
from imgcls.models.backbones.twins import LocallyGroupedSelfAttention
from imgcls.models.builder import build_backbone, build_classifier

# exact parameter totals of mmcls 0.25's models and its metafile's FLOPs (G)
SIZES = {
    'twins-pcpvt-small_8xb128_in1k': (24_106_216, 3.67),
    'twins-pcpvt-base_8xb128_in1k': (43_828_456, 6.45),
    'twins-pcpvt-large_16xb64_in1k': (60_989_672, 9.51),
    'twins-svt-small_8xb128_in1k': (24_060_776, 2.82),
    'twins-svt-base_8xb128_in1k': (56_070_952, 8.35),
    'twins-svt-large_16xb64_in1k': (99_271_400, 14.82),
}
ARCH = dict(embed_dims=[8, 16, 16, 32], depths=[2, 1, 2, 1], num_heads=[1, 2, 2, 4], patch_sizes=[4, 2, 2, 2],
            strides=[4, 2, 2, 2], mlp_ratios=[2, 2, 2, 2], sr_ratios=[4, 2, 2, 1])


@pytest.mark.parametrize('name', SIZES)
def test_parameter_counts_equal_mmcls(name):
    assert meta_params(model_cfg(f'configs/twins/{name}.py')) == SIZES[name][0]


@pytest.mark.parametrize('name', [n if 'small' in n else pytest.param(n, marks=pytest.mark.slow) for n in SIZES])
def test_macs_match_the_metafile_in_mmcvs_convention(name):
    with torch.device('meta'):
        model = build_classifier(model_cfg(f'configs/twins/{name}.py'))
    _, mmcv_count = mmcv_convention_macs(model, (3, 224, 224))
    assert round(mmcv_count / 1e9, 2) == SIZES[name][1]


@pytest.mark.parametrize('name', ['pcpvt', 'svt'])
def test_mmcls_checkpoint_loads_strictly_with_the_same_logits(name, tmp_path):
    check_mmcls_fixture(name, tmp_path)


def test_svt_alternates_local_and_global_attention_and_takes_any_size():
    model = build_backbone(dict(type='SVT', arch=dict(ARCH, window_sizes=[3, 3, 3, 3]), out_indices=(0, 1, 2, 3)))
    kinds = [type(layer.attn).__name__[0] for stage in model.stages for layer in stage]
    assert kinds == ['L', 'G', 'L', 'L', 'G', 'L']
    outs = model.eval()(torch.randn(1, 3, 40, 56))  # a size no window divides: padded and masked
    assert [tuple(o.shape) for o in outs] == [(1, 8, 10, 14), (1, 16, 5, 7), (1, 16, 3, 4), (1, 32, 2, 2)]
    with pytest.raises(ConfigError, match=r"SVT arch dict needs exactly the keys"):
        build_backbone(dict(type='SVT', arch=ARCH))
    with pytest.raises(ConfigError, match=r'norm_after_stage=\[True\] must be a bool or 4 bools'):
        build_backbone(dict(type='PCPVT', arch=ARCH, norm_after_stage=[True]))


def test_local_attention_ignores_the_padding():
    # a 2x3 map in 2x2 windows: the right window holds one real column; its output must not depend on
    # what the padding would hold, so it equals attention over that column alone
    torch.manual_seed(0)
    lsa = LocallyGroupedSelfAttention(8, num_heads=2, qkv_bias=True, window_size=2).eval()
    x = torch.randn(1, 6, 8)
    with torch.no_grad():
        out = lsa(x, (2, 3)).view(1, 2, 3, 8)
        column = lsa(x.view(1, 2, 3, 8)[:, :, 2:].reshape(1, 2, 8), (2, 1)).view(1, 2, 1, 8)
    torch.testing.assert_close(out[:, :, 2:], column, atol=1e-5, rtol=0)
