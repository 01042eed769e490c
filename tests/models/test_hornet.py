"""HorNet (with depthwise and global-filter mixers): mmcls 0.25's configs, sizes and checkpoints."""

from __future__ import annotations

import pytest
import torch
from mmcls_family_checks import CONFIGS, check_mmcls_checkpoint, config_params

from imgcls import Config
from imgcls.analysis.complexity import get_complexity
from imgcls.errors import ConfigError
from imgcls.models.backbones.hornet import GlobalLocalFilter
from imgcls.models.builder import build_backbone, build_classifier

# config -> (parameters in millions, GFLOPs) from mmcls 0.25's configs/hornet/metafile.yml (published rounded)
PUBLISHED = {
    'hornet-tiny_8xb128_in1k.py': (22.41, 3.98),
    'hornet-tiny-gf_8xb128_in1k.py': (22.99, 3.9),
    'hornet-small_8xb64_in1k.py': (49.53, 8.83),
    'hornet-small-gf_8xb64_in1k.py': (50.4, 8.71),
    'hornet-base_8xb64_in1k.py': (87.26, 15.59),
    'hornet-base-gf_8xb64_in1k.py': (88.42, 15.42),
}
# both mixers: a 5x5 depthwise conv in the first two stages, global filters in the last two
TINY = dict(base_dim=8, depths=[1, 1, 2, 1], orders=[2, 2, 3, 3],
            dw_cfg=[dict(type='DW', kernel_size=5)] * 2 + [dict(type='GF', h=4, w=3), dict(type='GF', h=2, w=2)])


def test_every_mmcls_config_is_here():
    assert sorted(p.name for p in (CONFIGS / 'hornet').glob('*.py')) == sorted(PUBLISHED)


@pytest.mark.parametrize('config', sorted(PUBLISHED))
def test_parameters_equal_mmcls(config):
    assert round(config_params(f'hornet/{config}') / 1e6, 2) == PUBLISHED[config][0]


@pytest.mark.parametrize('config', ['hornet-tiny_8xb128_in1k.py', 'hornet-tiny-gf_8xb128_in1k.py'])
def test_macs_agree_with_the_published_flops(config):
    """Within 0.5%: mmcls also counts norms and activations, neither counts the FFTs of the global filters."""
    with torch.device('meta'):
        model = build_classifier(Config.fromfile(CONFIGS / 'hornet' / config).model)
    assert 0.995 < get_complexity(model, (3, 224, 224)).macs / (PUBLISHED[config][1] * 1e9) < 1.0


def test_outputs_pooled_or_maps():
    x = torch.randn(2, 3, 64, 64)
    pooled = build_backbone(dict(type='HorNet', arch=TINY, out_indices=(0, -1))).eval()
    maps = build_backbone(dict(type='HorNet', arch=TINY, out_indices=(0, 1, 2, 3), gap_before_final_norm=False))
    with torch.no_grad():
        assert [tuple(o.shape) for o in pooled(x)] == [(2, 8), (2, 64)]
        assert [tuple(o.shape[1:]) for o in maps.eval()(x)] == [(8, 16, 16), (16, 8, 8), (32, 4, 4), (64, 2, 2)]


def test_global_filter_resizes_its_weights_to_the_map():
    """A 4x4 map has a 4x3 half-spectrum: the (6, 5) filter is resized to it, and the output keeps the shape."""
    gf = GlobalLocalFilter(8, h=6, w=5).eval()
    with torch.no_grad():
        out = gf(torch.randn(2, 8, 4, 4))
    assert out.shape == (2, 8, 4, 4) and torch.isfinite(out).all()
    # with an all-ones filter the Fourier half is the identity: its channels come out as the normed input's
    gf.complex_weight.data.copy_(torch.stack([torch.ones(4, 6, 5), torch.zeros(4, 6, 5)], dim=-1))
    x = torch.randn(1, 8, 4, 4)
    with torch.no_grad():
        normed = gf.pre_norm(x)
        expected = gf.post_norm(torch.stack([gf.dw(normed[:, :4]), normed[:, 4:]], dim=2).flatten(1, 2))
        torch.testing.assert_close(gf(x), expected, atol=1e-5, rtol=1e-5)


def test_frozen_stages_freeze_downsampling_stages_and_norms():
    model = build_backbone(dict(type='HorNet', arch=TINY, frozen_stages=0, out_indices=(0, 3))).train()
    frozen = [model.downsample_layers[0], model.stages[0], model.norm0]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.requires_grad for m in (model.downsample_layers[1], model.stages[1], model.norm3)
               for p in m.parameters())


@pytest.mark.parametrize('kwargs, message', [
    (dict(arch='huge'), r"HorNet arch 'huge' is not one of t, tiny"),
    (dict(arch=dict(base_dim=8, depths=[1])), r"HorNet arch dict needs exactly the keys \['base_dim', 'depths'"),
    (dict(arch={**TINY, 'dw_cfg': [dict(type='FFT')] * 4}), r"HorNet dw_cfg type must be 'DW' .* or 'GF' .*'FFT'"),
    (dict(arch=TINY, out_indices=(4,)), r'HorNet out_indices=\(4,\): 4 is not a stage index; use 0..3'),
    (dict(arch=TINY, frozen_stages=4), r'HorNet frozen_stages must be an int in -1..3, got 4'),
])
def test_bad_arguments_are_reported(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        build_backbone(dict(type='HorNet', **kwargs))


def test_mmcls_checkpoint_loads_and_gives_the_same_logits(tmp_path):
    cfg = Config.fromfile(CONFIGS / 'hornet' / 'hornet-tiny-gf_8xb128_in1k.py')
    cfg.model.backbone.arch = TINY
    cfg.model.head.in_channels, cfg.model.head.num_classes = 64, 10
    check_mmcls_checkpoint(cfg, 'hornet_tiny_mmcls_keys.json', tmp_path)
