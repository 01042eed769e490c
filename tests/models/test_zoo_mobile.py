"""MobileNetV2/V3, ShuffleNetV2 and EfficientNet: published sizes, torchvision/timm weights, freezing."""

import copy
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm

from imgcls import Config
from imgcls.analysis.complexity import get_complexity
from imgcls.convert import convert_state_dict
from imgcls.errors import ConfigError
from imgcls.models.builder import build_backbone, build_classifier
from imgcls.models.layers import build_conv_layer
from imgcls.models.utils import ChannelShuffle, channel_shuffle

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = {
    'mobilenet_v2': 'configs/mobilenet_v2/mobilenet-v2_8xb32_in1k.py',
    'mobilenet_v3_small': 'configs/mobilenet_v3/mobilenet-v3-small_8xb128_in1k.py',
    'mobilenet_v3_large': 'configs/mobilenet_v3/mobilenet-v3-large_8xb128_in1k.py',
    'shufflenet_v2_x1_0': 'configs/shufflenet_v2/shufflenet-v2-1x_16xb64_in1k.py',
    **{f'efficientnet_b{i}': f'configs/efficientnet/efficientnet-b{i}_8xb32_in1k.py' for i in range(4)},
}
# torchvision / timm efficientnet_b*: symmetric padding and BN eps 1e-5 (the configs pad like TF, eps 1e-3)
TORCH_EFFNET = dict(conv_cfg=None, norm_cfg=dict(type='BN'))


@pytest.fixture(autouse=True, scope='module')
def _one_thread():
    """One intra-op thread: on tiny tensors thread hand-offs cost more than the arithmetic (3-4x here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _classifier(name: str, **backbone_overrides):
    """The ImageClassifier of ``name``'s config, with backbone arguments overridden."""
    model_cfg = copy.deepcopy(Config.fromfile(ROOT / CONFIGS[name])['model'])
    model_cfg['backbone'].update(backbone_overrides)
    return build_classifier(model_cfg)


def _randomize_norms(model: torch.nn.Module) -> None:
    """Give every BatchNorm non-trivial statistics and affine weights, so a wrong mapping shows."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.weight.copy_(1 + torch.randn(m.num_features, generator=gen) * 0.1)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


def _check_same_logits(ref, source: str, family: str, model) -> None:
    """Convert ``ref``'s weights, load them strictly into ``model`` and compare logits on one image."""
    torch.manual_seed(0)
    _randomize_norms(ref)
    found, state = convert_state_dict(ref.state_dict(), source)
    assert found == family
    model.load_state_dict(state, strict=True)
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        expected = ref.eval()(x)
        got = model.eval().simple_test(x, softmax=False, post_process=False)
    assert expected.std() > 1e-3  # not a degenerate comparison
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize('name, family, overrides', [
    ('mobilenet_v2', 'mobilenet_v2', {}),
    ('mobilenet_v3_small', 'mobilenet_v3', {}),
    ('mobilenet_v3_large', 'mobilenet_v3', {}),
    ('shufflenet_v2_x1_0', 'shufflenet_v2', {}),
    ('efficientnet_b0', 'efficientnet', TORCH_EFFNET),
    ('efficientnet_b1', 'efficientnet', TORCH_EFFNET),
    ('efficientnet_b2', 'efficientnet', TORCH_EFFNET),
    ('efficientnet_b3', 'efficientnet', TORCH_EFFNET),
])
def test_torchvision_weights_give_the_same_logits(name, family, overrides):
    torchvision = pytest.importorskip('torchvision')
    _check_same_logits(torchvision.models.get_model(name), 'torchvision', family, _classifier(name, **overrides))


@pytest.mark.parametrize('timm_name, name, family, overrides', [
    ('mobilenetv2_100', 'mobilenet_v2', 'mobilenet_v2', {}),
    ('mobilenetv3_large_100', 'mobilenet_v3_large', 'mobilenet_v3', dict(norm_cfg=dict(type='BN'))),
    # tf_* weights pad like TF: the same layers with Conv2dAdaptivePadding
    ('tf_mobilenetv3_small_100', 'mobilenet_v3_small', 'mobilenet_v3',
     dict(conv_cfg=dict(type='Conv2dAdaptivePadding'))),
    ('efficientnet_b0', 'efficientnet_b0', 'efficientnet', TORCH_EFFNET),
    ('tf_efficientnet_b0', 'efficientnet_b0', 'efficientnet', {}),  # exactly mmcls's defaults
])
def test_timm_weights_give_the_same_logits(timm_name, name, family, overrides):
    timm = pytest.importorskip('timm')
    _check_same_logits(timm.create_model(timm_name), 'timm', family, _classifier(name, **overrides))


# params and GMACs (at torchvision's evaluation size) published in torchvision's weight tables
PUBLISHED = [
    ('mobilenet_v2', 224, 3_504_872, 0.301),
    ('mobilenet_v3_large', 224, 5_483_032, 0.217),
    ('mobilenet_v3_small', 224, 2_542_856, 0.057),
    ('shufflenet_v2_x1_0', 224, 2_278_604, 0.145),
    ('efficientnet_b0', 224, 5_288_548, 0.386),
    ('efficientnet_b1', 240, 7_794_184, 0.687),
    ('efficientnet_b2', 288, 9_109_994, 1.088),
    ('efficientnet_b3', 300, 12_233_232, 1.827),
]


@pytest.mark.parametrize('name, size, params, gmacs', PUBLISHED)
def test_published_parameter_and_mac_counts(name, size, params, gmacs):
    with torch.device('meta'):  # shapes only: counting needs no real weights or arithmetic
        model = _classifier(name)
    result = get_complexity(model, (3, size, size))
    assert result.params == params
    assert round(result.macs / 1e9, 3) == gmacs


def test_state_dict_keys_are_mmcls_names():
    expected = {
        'mobilenet_v2': ['backbone.conv1.conv.weight', 'backbone.layer1.0.conv.0.conv.weight',
                         'backbone.layer2.0.conv.2.bn.running_var', 'backbone.conv2.conv.weight', 'head.fc.weight'],
        'mobilenet_v3_small': ['backbone.layer0.conv.weight', 'backbone.layer1.se.conv1.conv.bias',
                               'backbone.layer2.expand_conv.bn.weight', 'backbone.layer11.linear_conv.conv.weight',
                               'backbone.layer12.conv.weight', 'head.layers.0.fc.weight', 'head.layers.1.fc.bias'],
        'shufflenet_v2_x1_0': ['backbone.conv1.conv.weight', 'backbone.layers.0.0.branch1.1.bn.weight',
                               'backbone.layers.2.3.branch2.2.conv.weight', 'backbone.layers.3.conv.weight'],
        'efficientnet_b0': ['backbone.layers.0.conv.weight', 'backbone.layers.1.0.depthwise_conv.conv.weight',
                            'backbone.layers.1.0.se.conv2.conv.bias', 'backbone.layers.4.5.expand_conv.conv.weight',
                            'backbone.layers.5.3.linear_conv.bn.weight', 'backbone.layers.6.conv.weight'],
    }
    for name, keys in expected.items():
        with torch.device('meta'):
            state = _classifier(name).state_dict()
        assert set(keys) <= set(state), name


# ---- the backbones as users configure them ------------------------------------------------------------------

def _shapes(backbone: dict, size: int = 32) -> list[tuple[int, int]]:
    model = build_backbone(backbone).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, size, size))
    assert isinstance(outs, tuple)
    return [(o.shape[1], o.shape[2]) for o in outs]


def test_out_indices_select_the_stage_outputs():
    assert _shapes(dict(type='MobileNetV2', out_indices=tuple(range(8)))) == [
        (16, 16), (24, 8), (32, 4), (64, 2), (96, 2), (160, 1), (320, 1), (1280, 1)]
    assert _shapes(dict(type='MobileNetV3', arch='small', out_indices=(0, 1, 3, 12))) == [
        (16, 16), (16, 8), (24, 4), (576, 1)]
    assert _shapes(dict(type='MobileNetV3', arch='large')) == [(960, 1)]
    assert _shapes(dict(type='ShuffleNetV2', out_indices=(0, 1, 2, 3))) == [(116, 4), (232, 2), (464, 1),
                                                                           (1024, 1)]
    assert _shapes(dict(type='EfficientNet', out_indices=tuple(range(7)))) == [
        (32, 16), (16, 16), (24, 8), (40, 4), (112, 2), (320, 1), (1280, 1)]


def test_mobilenet_v2_widen_factor():
    assert _shapes(dict(type='MobileNetV2', widen_factor=0.5, out_indices=(0, 7))) == [(8, 16), (1280, 1)]
    assert _shapes(dict(type='MobileNetV2', widen_factor=1.5, out_indices=(0, 7))) == [(24, 16), (1920, 1)]


def test_efficientnet_edgetpu_builds():
    assert _shapes(dict(type='EfficientNet', arch='es', conv_cfg=None)) == [(1280, 1)]
    head = dict(type='LinearClsHead', num_classes=1000, in_channels=1280)
    with torch.device('meta'):
        model = build_classifier(dict(type='ImageClassifier', backbone=dict(type='EfficientNet', arch='es'),
                                      neck=dict(type='GlobalAveragePooling'), head=head))
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 2) == 5.44  # mmcls's model zoo


@pytest.mark.parametrize('backbone, message', [
    (dict(type='MobileNetV2', out_indices=(8,)), '0..7'),
    (dict(type='MobileNetV2', frozen_stages=8), 'frozen_stages'),
    (dict(type='MobileNetV3', arch='tiny'), "'tiny'"),
    (dict(type='MobileNetV3', arch='large', out_indices=(17,)), '0..16'),
    (dict(type='ShuffleNetV2', widen_factor=0.75), '0.75'),
    (dict(type='ShuffleNetV2', frozen_stages=4), 'frozen_stages'),
    (dict(type='EfficientNet', arch='b9'), "'b9'"),
    (dict(type='EfficientNet', out_indices=(7,)), '0..6'),
    (dict(type='EfficientNet', frozen_stages=-1), 'frozen_stages'),
])
def test_invalid_arguments_are_reported(backbone, message):
    with pytest.raises(ConfigError, match=message):
        build_backbone(backbone)


# backbone config, names of the modules frozen_stages freezes, name of the first module left trainable
FROZEN = [
    (dict(type='MobileNetV2', frozen_stages=2), ['conv1', 'layer1', 'layer2'], 'layer3'),
    (dict(type='MobileNetV3', frozen_stages=1), ['layer0', 'layer1'], 'layer2'),
    (dict(type='ShuffleNetV2', frozen_stages=2), ['conv1', 'layers.0', 'layers.1'], 'layers.2'),
    (dict(type='EfficientNet', frozen_stages=2), ['layers.0', 'layers.1'], 'layers.2'),
]


def _bn_states(module):
    return [m.training for m in module.modules() if isinstance(m, _BatchNorm)]


@pytest.mark.parametrize('backbone, frozen, first_trainable', FROZEN)
def test_frozen_stages(backbone, frozen, first_trainable):
    model = build_backbone(backbone)
    assert model.train() is model
    for name in frozen:
        part = model.get_submodule(name)
        assert not any(p.requires_grad for p in part.parameters()), name
        assert not any(_bn_states(part)), name
    part = model.get_submodule(first_trainable)
    assert all(p.requires_grad for p in part.parameters()) and all(_bn_states(part))
    # a training step leaves the frozen statistics as they were
    before = copy.deepcopy(model.get_submodule(frozen[-1]).state_dict())
    model(torch.randn(2, 3, 16, 16))[-1].mean().backward()
    after = model.get_submodule(frozen[-1]).state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize('backbone', [f[0]['type'] for f in FROZEN])
def test_norm_eval_keeps_batchnorm_statistics(backbone):
    model = build_backbone(dict(type=backbone, norm_eval=True))
    assert model.train() is model and model.training
    assert not any(_bn_states(model))
    before = copy.deepcopy(model.state_dict())
    model(torch.randn(2, 3, 16, 16))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(_bn_states(build_backbone(dict(type=backbone)).train()))


def test_with_cp_gives_the_same_outputs_and_gradients():
    torch.manual_seed(0)
    plain = build_backbone(dict(type='MobileNetV3', arch='small', out_indices=(4,))).eval()
    checkpointed = build_backbone(dict(type='MobileNetV3', arch='small', out_indices=(4,), with_cp=True)).eval()
    checkpointed.load_state_dict(plain.state_dict())
    outs = []
    for model in (plain, checkpointed):
        x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(1), requires_grad=True)
        model(x)[0].sum().backward()
        outs.append(x.grad)
    torch.testing.assert_close(outs[0], outs[1])


def test_efficientnet_drop_path_rises_linearly_to_the_rate():
    model = build_backbone(dict(type='EfficientNet', drop_path_rate=0.2))
    blocks = [b for stage in model.layers[1:-1] for b in stage]
    rates = [getattr(b.drop_path, 'drop_prob', 0.0) for b in blocks]
    assert len(blocks) == 16 and rates[0] == 0.0 and rates[-1] == pytest.approx(0.2)
    assert rates == sorted(rates)


def test_init_weights():
    model = build_backbone(dict(type='ShuffleNetV2'))
    model.init_weights()
    bn = model.conv1.bn
    assert torch.all(bn.weight == 1) and torch.allclose(bn.bias, torch.full_like(bn.bias, 1e-4))
    assert model.conv1.conv.weight.std() < 0.02  # normal(0, 0.01) in the stem
    model = build_backbone(dict(type='MobileNetV2'))
    with torch.no_grad():
        model.conv1.bn.weight.zero_()
    model.init_weights()  # the default init_cfg: Kaiming convs, unit norms
    assert torch.all(model.conv1.bn.weight == 1)


# ---- shared layers ------------------------------------------------------------------------------------------

@pytest.mark.parametrize('size, pads', [(5, (1, 1)), (4, (0, 1)), (7, (1, 1))])
def test_conv2d_adaptive_padding_pads_like_tensorflow(size, pads):
    conv = build_conv_layer(dict(type='Conv2dAdaptivePadding'), 2, 3, 3, stride=2, padding=5)
    x = torch.randn(1, 2, size, size)
    expected = F.conv2d(F.pad(x, [pads[0], pads[1], pads[0], pads[1]]), conv.weight, conv.bias, stride=2)
    out = conv(x)
    assert out.shape[-1] == -(-size // 2)  # ceil(size / stride), whatever the padding argument says
    torch.testing.assert_close(out, expected)


def test_channel_shuffle_interleaves_groups():
    x = torch.arange(6.).view(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]
    assert ChannelShuffle(3)(x).flatten().tolist() == [0, 2, 4, 1, 3, 5]
    with pytest.raises(ValueError, match='4 groups'):
        channel_shuffle(x, 4)
