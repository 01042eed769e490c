"""MLP-Mixer: sizes of mmcls's configs, mmcls checkpoints, outputs and the fixed input size."""

from __future__ import annotations

import pytest
import torch
from zoo_checks import check_mmcls_fixture, meta_params, mmcv_convention_macs, model_cfg

from imgcls.errors import ConfigError
from imgcls.models.builder import build_backbone, build_classifier

# exact parameter totals of mmcls 0.25's models and its metafile's FLOPs (G)
SIZES = {
    'mlp-mixer-base-p16_64xb64_in1k': (59_880_472, 12.61),
    'mlp-mixer-large-p16_64xb64_in1k': (208_196_168, 44.57),
}
TINY = dict(arch=dict(embed_dims=16, num_layers=2, tokens_mlp_dims=8, channels_mlp_dims=32), img_size=32,
            patch_size=8)


@pytest.mark.parametrize('name', SIZES)
def test_parameter_counts_and_macs_equal_mmcls(name):
    cfg = model_cfg(f'configs/mlp_mixer/{name}.py')
    assert meta_params(cfg) == SIZES[name][0]
    with torch.device('meta'):
        model = build_classifier(cfg)
    _, mmcv_count = mmcv_convention_macs(model, (3, 224, 224))
    assert round(mmcv_count / 1e9, 2) == SIZES[name][1]


def test_mmcls_checkpoint_loads_strictly_with_the_same_logits(tmp_path):
    check_mmcls_fixture('mixer', tmp_path)


def test_outputs_frozen_layers_and_input_size():
    model = build_backbone(dict(type='MlpMixer', **TINY, out_indices=(0, -1), frozen_stages=1))
    outs = model(torch.randn(2, 3, 32, 32))
    assert model.out_indices == (0, 1) and [tuple(o.shape) for o in outs] == [(2, 16, 16)] * 2
    assert not any(p.requires_grad for p in model.layers[0].parameters())
    assert all(p.requires_grad for p in model.layers[1].parameters())
    with pytest.raises(ValueError, match='MlpMixer takes 32x32 images only'):
        model(torch.randn(1, 3, 64, 64))
    with pytest.raises(ConfigError, match=r'MlpMixer out_indices=\(2,\): 2 is not a stage index; use 0..1'):
        build_backbone(dict(type='MlpMixer', **TINY, out_indices=2))


def test_token_mixing_mixes_across_patches_only():
    # changing one patch changes every token's output through the token MLP, but with the token MLP's
    # output zeroed the patches stay independent
    torch.manual_seed(0)
    model = build_backbone(dict(type='MlpMixer', **TINY)).eval()
    x = torch.randn(1, 3, 32, 32)
    y = x.clone()
    y[..., :8, :8] += 1  # the first patch
    with torch.no_grad():
        a, b = model(x)[0], model(y)[0]
        assert not torch.allclose(a[..., 5], b[..., 5])
        for layer in model.layers:
            layer.token_mix.layers[1].weight.zero_()
            layer.token_mix.layers[1].bias.zero_()
        a, b = model(x)[0], model(y)[0]
    torch.testing.assert_close(a[..., 1:], b[..., 1:])
