"""The CNN zoo (ResNet, ResNeXt, SE-ResNe(X)t, Wide ResNet, VGG, RegNetX): configs, published sizes, weights.

Every torchvision / timm model of these families is converted onto its imgcls config with strict key and
shape checks (on the ``meta`` device, so nothing is allocated); one model per block type and converter is
also compared numerically with random weights.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from imgcls import Config
from imgcls.analysis.complexity import get_complexity
from imgcls.convert import convert_state_dict
from imgcls.errors import CheckpointError, ConfigError, DataError
from imgcls.models.builder import build_backbone, build_classifier
from imgcls.models.layers import SELayer, make_divisible

torchvision = pytest.importorskip('torchvision')
timm = pytest.importorskip('timm')

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'

# config -> (params, GMACs at 224x224 as published, with the published precision).
# torchvision: the weights' meta (num_params, _ops); timm: its models' parameter counts (the SE and
# ResNet-C/D configs, whose published GFLOPs count norms and activations too, so are not compared);
# RegNetX: pycls's model zoo (GF to one decimal; timm regnetx_0xx parameters).
PUBLISHED = {
    'resnet/resnet18_8xb32_in1k.py': (11_689_512, '1.814'),
    'resnet/resnet34_8xb32_in1k.py': (21_797_672, '3.664'),
    'resnet/resnet50_8xb32_in1k.py': (25_557_032, '4.089'),
    'resnet/resnet101_8xb32_in1k.py': (44_549_160, '7.801'),
    'resnet/resnet152_8xb32_in1k.py': (60_192_808, '11.514'),
    'resnet/resnetv1c50_8xb32_in1k.py': (25_576_264, None),
    'resnet/resnetv1d50_8xb32_in1k.py': (25_576_264, None),
    'resnet/resnetv1d101_8xb32_in1k.py': (44_568_392, None),
    'resnext/resnext50-32x4d_8xb32_in1k.py': (25_028_904, '4.23'),
    'resnext/resnext101-32x4d_8xb32_in1k.py': (44_177_704, None),
    'resnext/resnext101-32x8d_8xb32_in1k.py': (88_791_336, '16.414'),
    'wrn/wide-resnet50_8xb32_in1k.py': (68_883_240, '11.398'),
    'wrn/wide-resnet101_8xb32_in1k.py': (126_886_696, '22.753'),
    'seresnet/seresnet50_8xb32_in1k.py': (28_088_024, None),
    'seresnet/seresnet101_8xb32_in1k.py': (49_326_872, None),
    'seresnet/seresnext50-32x4d_8xb32_in1k.py': (27_559_896, None),
    'seresnet/seresnext101-32x4d_8xb32_in1k.py': (48_955_416, None),
    'vgg/vgg11_8xb32_in1k.py': (132_863_336, '7.609'),
    'vgg/vgg11bn_8xb32_in1k.py': (132_868_840, '7.609'),
    'vgg/vgg13_8xb32_in1k.py': (133_047_848, '11.308'),
    'vgg/vgg13bn_8xb32_in1k.py': (133_053_736, '11.308'),
    'vgg/vgg16_8xb32_in1k.py': (138_357_544, '15.47'),
    'vgg/vgg16bn_8xb32_in1k.py': (138_365_992, '15.47'),
    'vgg/vgg19_8xb32_in1k.py': (143_667_240, '19.632'),
    'vgg/vgg19bn_8xb32_in1k.py': (143_678_248, '19.632'),
    'regnet/regnetx-400mf_8xb128_in1k.py': (5_157_512, '0.4'),
    'regnet/regnetx-800mf_8xb128_in1k.py': (7_259_656, '0.800'),
    'regnet/regnetx-1.6gf_8xb128_in1k.py': (9_190_136, '1.603'),
    'regnet/regnetx-3.2gf_8xb64_in1k.py': (15_296_552, '3.177'),
    'regnet/regnetx-4.0gf_8xb64_in1k.py': (22_118_248, '4.0'),
    'regnet/regnetx-6.4gf_8xb64_in1k.py': (26_209_256, '6.5'),
    'regnet/regnetx-8.0gf_8xb64_in1k.py': (39_572_648, '7.995'),
    'regnet/regnetx-12gf_8xb64_in1k.py': (46_106_056, '12.1'),
}

REGNET = {p.split('-')[1].split('_')[0]: p for p in PUBLISHED if p.startswith('regnet/')}
# (config, source, reference model) for every model of these families torchvision or timm has
REFERENCES = [(f'resnet/resnet{d}_8xb32_in1k.py', 'torchvision', f'resnet{d}') for d in (18, 34, 50, 101, 152)] + [
    ('resnext/resnext50-32x4d_8xb32_in1k.py', 'torchvision', 'resnext50_32x4d'),
    ('resnext/resnext101-32x8d_8xb32_in1k.py', 'torchvision', 'resnext101_32x8d'),
    ('resnext/resnext101-32x4d_8xb32_in1k.py', 'timm', 'resnext101_32x4d'),
    ('wrn/wide-resnet50_8xb32_in1k.py', 'torchvision', 'wide_resnet50_2'),
    ('wrn/wide-resnet101_8xb32_in1k.py', 'torchvision', 'wide_resnet101_2'),
    *[(f'resnet/resnetv1{v}{d}_8xb32_in1k.py', 'timm', f'resnet{d}{v}') for v in 'cd' for d in (50, 101, 152)],
    *[(f'seresnet/seresnet{d}_8xb32_in1k.py', 'timm', f'seresnet{d}') for d in (50, 101)],
    *[(f'seresnet/seresnext{d}-32x4d_8xb32_in1k.py', 'timm', f'seresnext{d}_32x4d') for d in (50, 101)],
    *[(f'vgg/vgg{d}{bn}_8xb32_in1k.py', src, f'vgg{d}{"_" + bn if bn else ""}')
      for d in (11, 13, 16, 19) for bn in ('', 'bn') for src in ('torchvision', 'timm')],
    *[(REGNET[n], 'torchvision', f'regnet_x_{t}') for n, t in (('800mf', '800mf'), ('1.6gf', '1_6gf'),
                                                                 ('3.2gf', '3_2gf'), ('8.0gf', '8gf'))],
    *[(REGNET[n], 'timm', f'regnetx_{t}') for n, t in (('400mf', '004'), ('800mf', '008'), ('1.6gf', '016'),
                                                       ('3.2gf', '032'), ('4.0gf', '040'), ('6.4gf', '064'),
                                                       ('8.0gf', '080'), ('12gf', '120'))],
]
FAMILY = {'resnet': 'resnet', 'resnext': 'resnet', 'wrn': 'resnet', 'seresnet': 'resnet', 'vgg': 'vgg',
          'regnet': 'regnet'}
# one per block type and converter: compared numerically with random weights
NUMERIC = ['resnet18', 'resnext50_32x4d', 'resnet50d', 'seresnext50_32x4d', 'regnet_x_800mf', 'regnetx_004']
TINY_REGNET = dict(w0=8, wa=12, wm=1.5, group_w=8, depth=4, bot_mul=1.0)  # four one-block stages: 8, 16, 24, 40


def _model_cfg(config: str):
    return Config.fromfile(str(CONFIGS / config))['model']


def _build(config: str, meta: bool = False):
    """The classifier of ``config`` in eval mode (on the meta device: shapes only, nothing allocated)."""
    with torch.device('meta' if meta else 'cpu'):
        return build_classifier(_model_cfg(config)).eval()


@pytest.fixture(autouse=True)
def _torchvision_regnet_widths_on_cpu(monkeypatch):
    """torchvision computes RegNet widths with tensors: keep them off the meta device (and readable)."""
    block_params = torchvision.models.regnet.BlockParams
    from_init_params = block_params.from_init_params.__func__

    def on_cpu(cls, *args, **kwargs):
        with torch.device('cpu'):
            return from_init_params(cls, *args, **kwargs)

    monkeypatch.setattr(block_params, 'from_init_params', classmethod(on_cpu))


def _reference(source: str, name: str, meta: bool = False):
    with torch.device('meta' if meta else 'cpu'):
        if source == 'torchvision':
            return getattr(torchvision.models, name)().eval()
        return timm.create_model(name, pretrained=False).eval()


def _randomize_norms(model):
    """Non-trivial BN statistics and affine parameters, so that swapped norms would show."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            for t, lo, hi in ((m.weight, 0.5, 1.5), (m.bias, -0.1, 0.1), (m.running_mean, -0.1, 0.1),
                              (m.running_var, 0.5, 1.5)):
                t.data.copy_(torch.rand(t.shape, generator=g) * (hi - lo) + lo)


def _logits(model, x):
    return model.simple_test(x, softmax=False, post_process=False)


def _assert_close(ours, ref):
    scale = max(1.0, ref.abs().max().item())
    assert (ours - ref).abs().max().item() <= 1e-5 * scale


@pytest.mark.parametrize('config', sorted(PUBLISHED))
def test_published_params_and_macs(config):
    params, gmacs = PUBLISHED[config]
    model = _build(config, meta=True)
    assert sum(p.numel() for p in model.parameters()) == params
    if gmacs is not None:
        cx = get_complexity(model, (3, 224, 224))
        decimals = len(gmacs.split('.')[1])
        assert f'{cx.macs / 1e9:.{decimals}f}' == gmacs


@pytest.mark.parametrize('config, source, name', REFERENCES, ids=[f'{s}-{n}' for _, s, n in REFERENCES])
def test_reference_weights_load_strictly(config, source, name):
    ref = _reference(source, name, meta=True)
    family, sd = convert_state_dict(ref.state_dict(), source)
    assert family == FAMILY[config.split('/')[0]]
    _build(config, meta=True).load_state_dict(sd, strict=True, assign=True)


@pytest.mark.parametrize('config, source, name', [r for r in REFERENCES if r[2] in NUMERIC],
                         ids=lambda v: v if v in NUMERIC else '')
def test_converted_weights_give_the_same_logits(config, source, name):
    torch.manual_seed(0)
    ref = _reference(source, name)
    _randomize_norms(ref)
    ours = _build(config, meta=True)
    ours.load_state_dict(convert_state_dict(ref.state_dict(), source)[1], strict=True, assign=True)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        _assert_close(_logits(ours, x), ref(x))


def test_vgg_bn_features_match_torchvision():
    torch.manual_seed(0)
    ref = _reference('torchvision', 'vgg11_bn', meta=True)
    # real weights for the convs only: the 120M-parameter classifier stays on the meta device
    ref.features.to_empty(device='cpu')
    for m in ref.features.modules():
        if hasattr(m, 'reset_parameters'):
            m.reset_parameters()
    _randomize_norms(ref)
    ours = _build('vgg/vgg11bn_8xb32_in1k.py', meta=True)
    ours.load_state_dict(convert_state_dict(ref.state_dict(), 'torchvision')[1], strict=True, assign=True)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        _assert_close(ours.backbone.features(x), ref.features(x))


def test_vgg_from_timm_gives_the_same_logits_at_224():
    torch.manual_seed(0)
    ref = timm.create_model('vgg11', pretrained=False).eval()
    ours = _build('vgg/vgg11_8xb32_in1k.py', meta=True)
    ours.load_state_dict(convert_state_dict(ref.state_dict(), 'timm')[1], strict=True, assign=True)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        _assert_close(_logits(ours, x), ref(x))


def test_mmcls_key_names():
    keys = set(_build('seresnet/seresnext50-32x4d_8xb32_in1k.py', meta=True).state_dict())
    assert {'backbone.layer1.0.se_layer.conv1.conv.weight', 'backbone.layer1.0.se_layer.conv2.conv.bias',
            'backbone.layer1.0.conv2.weight', 'head.fc.weight'} <= keys
    keys = set(_build('vgg/vgg16bn_8xb32_in1k.py', meta=True).state_dict())
    assert {'backbone.features.0.conv.weight', 'backbone.features.0.bn.running_var',
            'backbone.features.3.conv.bias', 'backbone.classifier.6.weight'} <= keys
    keys = set(_build('regnet/regnetx-400mf_8xb128_in1k.py', meta=True).state_dict())
    assert {'backbone.conv1.weight', 'backbone.bn1.weight', 'backbone.layer1.0.downsample.0.weight',
            'backbone.layer4.11.bn3.weight'} <= keys


@pytest.mark.slow
def test_every_config_of_these_families_builds():
    families = ('resnet', 'resnext', 'seresnet', 'wrn', 'vgg', 'regnet')
    # the ones with published MACs already ran a forward pass above
    paths = [p for d in families for p in (CONFIGS / d).glob('*.py')
             if PUBLISHED.get(f'{d}/{p.name}', (0, None))[1] is None]
    assert len(paths) >= 15
    for path in paths:
        cfg = Config.fromfile(str(path))
        with torch.device('meta'):
            model = build_classifier(cfg['model'])
        side = 224 if 'vgg' in path.name else 32
        channels = cfg['model']['backbone'].get('in_channels', 3)
        assert _logits(model.eval(), torch.zeros(1, channels, side, side, device='meta')).shape[1] == \
            cfg['model']['head'].get('num_classes', 1000)


def test_resnext_widths_and_groups():
    model = build_backbone(dict(type='ResNeXt', depth=50, groups=32, width_per_group=4, base_channels=8,
                                stem_channels=8))
    block = model.layer2[0]
    # mid width: groups * width_per_group * (resnet mid 16) / base 8 = 256, in 32 groups
    assert (block.conv2.in_channels, block.conv2.groups, block.conv3.out_channels) == (256, 32, 64)
    with pytest.raises(ConfigError, match='depth 18'):
        build_backbone(dict(type='ResNeXt', depth=18))


def test_se_layer_and_make_divisible():
    assert [make_divisible(v, 8) for v in (3, 10, 16, 37, 128)] == [8, 16, 16, 40, 128]
    assert make_divisible(3, 8, min_value=4) == 4 and make_divisible(30, 16, min_ratio=0.5) == 32
    se = SELayer(64, ratio=16)
    assert (se.conv1.conv.out_channels, se.conv1.conv.bias is not None) == (8, True)
    for p in se.parameters():
        torch.nn.init.zeros_(p)
    x = torch.randn(2, 64, 3, 3)
    assert torch.allclose(se(x), x * 0.5)  # a zero gate input gives sigmoid(0) = 0.5 everywhere
    assert SELayer(64, squeeze_channels=4, return_weight=True)(x).shape == (2, 64, 1, 1)
    with pytest.raises(ConfigError, match='se_ratio'):
        build_backbone(dict(type='SEResNet', depth=50, se_ratio=0))


def test_regnet_arch_names_and_dicts():
    model = build_backbone(dict(type='RegNet', arch='regnetx_400mf'))
    assert (model.stage_widths, model.stage_blocks, model.feat_dim) == ([32, 64, 160, 384], [1, 2, 7, 12], 384)
    small = build_backbone(dict(type='RegNet', arch=TINY_REGNET, out_indices=(0, 1))).eval()
    assert [o.shape[1] for o in small(torch.randn(1, 3, 16, 16))] == small.stage_widths[:2] == [8, 16]
    with pytest.raises(ConfigError, match="'regnetx_401mf'.*regnetx_400mf"):
        build_backbone(dict(type='RegNet', arch='regnetx_401mf'))
    with pytest.raises(ConfigError, match='group_w'):
        build_backbone(dict(type='RegNet', arch=dict(w0=16, wa=8.0, wm=2.0, depth=4, bot_mul=1.0)))


def test_torchvision_regnet_x_400mf_is_refused_with_the_reason():
    ref = _reference('torchvision', 'regnet_x_400mf', meta=True)
    with pytest.raises(CheckpointError, match='regnetx_004'):
        convert_state_dict(ref.state_dict(), 'torchvision')


def test_vgg_outputs_and_errors():
    model = build_backbone(dict(type='VGG', depth=11, out_indices=(0, 2, 4))).eval()
    assert [tuple(o.shape[1:]) for o in model(torch.randn(1, 3, 32, 32))] == [(64, 16, 16), (256, 4, 4),
                                                                               (512, 1, 1)]
    assert build_backbone(dict(type='VGG', depth=11, with_last_pool=False)).eval()(
        torch.randn(1, 3, 32, 32))[0].shape[-1] == 2
    with pytest.raises(ConfigError, match=r'depth 12.*11, 13, 16, 19'):
        build_backbone(dict(type='VGG', depth=12))
    with torch.device('meta'):
        with_classifier = build_backbone(dict(type='VGG', depth=11, num_classes=10))
    with pytest.raises(DataError, match='224x224'):
        with_classifier(torch.zeros(1, 3, 64, 64, device='meta'))


SMALL_BACKBONES = {
    'ResNeXt': dict(type='ResNeXt', depth=50, groups=4, width_per_group=2, base_channels=8, stem_channels=8),
    'SEResNet': dict(type='SEResNet', depth=50, base_channels=8, stem_channels=8),
    'SEResNeXt': dict(type='SEResNeXt', depth=50, groups=4, width_per_group=2, base_channels=8, stem_channels=8),
    'WideResNet': dict(type='ResNet', depth=50, base_channels=16, expansion=2, stem_channels=8),
    'RegNet': dict(type='RegNet', arch=TINY_REGNET),
}


@pytest.mark.parametrize('name', sorted(SMALL_BACKBONES))
def test_frozen_stages_and_norm_eval(name):
    model = build_backbone(dict(SMALL_BACKBONES[name], frozen_stages=1, norm_eval=True))
    assert model.train() is model
    frozen = [model.conv1, model.bn1, model.layer1]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert all(not m.training for m in model.modules() if isinstance(m, _BatchNorm))
    assert model.layer2.training
    model.init_weights()
    out = model(torch.randn(2, 3, 32, 32))
    assert isinstance(out, tuple) and len(out) == 1


def test_vgg_frozen_stages_and_norm_eval():
    model = build_backbone(dict(type='VGG', depth=11, norm_cfg=dict(type='BN'), frozen_stages=2, norm_eval=True))
    model.init_weights()
    assert model.train() is model
    first, _ = model.range_sub_modules[2]
    assert all(not p.requires_grad for p in model.features[:first].parameters())
    assert all(p.requires_grad for p in model.features[first:].parameters())
    assert not any(m.training for m in model.modules() if isinstance(m, _BatchNorm))
    assert model.features[first].training
