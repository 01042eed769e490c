"""ResNet, ResNetV1c/V1d and ResNet_CIFAR backbones."""

import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from imgcls.errors import ConfigError, ImgclsError
from imgcls.models.backbones import (
    BasicBlock,
    Bottleneck,
    ResLayer,
    ResNet,
    ResNet_CIFAR,
    ResNetV1c,
    ResNetV1d,
)
from imgcls.models.builder import BACKBONES, build_backbone
from imgcls.models.layers import build_conv_layer, build_norm_layer


def _num_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize('depth, width', [(18, 512), (34, 512), (50, 2048), (101, 2048), (152, 2048)])
def test_resnet_output_shapes_every_depth(depth, width):
    model = build_backbone(dict(type='ResNet', depth=depth, out_indices=(0, 1, 2, 3))).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 64))
    assert isinstance(outs, tuple) and len(outs) == 4
    expansion = width // 512
    assert [o.shape for o in outs] == [(1, 64 * expansion, 16, 16), (1, 128 * expansion, 8, 8),
                                       (1, 256 * expansion, 4, 4), (1, width, 2, 2)]
    assert model.feat_dim == width


def test_published_parameter_counts():
    # torchvision resnet18 / resnet50 totals minus their 1000-class fc
    assert _num_params(ResNet(18)) == 11_689_512 - (512 * 1000 + 1000)
    assert _num_params(ResNet(50)) == 25_557_032 - (2048 * 1000 + 1000)
    assert _num_params(ResNet(50)) == 23_508_032


def test_matches_torchvision_resnet18_numerically():
    torchvision = pytest.importorskip('torchvision')
    ref = torchvision.models.resnet18().eval()
    model = ResNet(18).eval()
    missing, unexpected = model.load_state_dict(ref.state_dict(), strict=False)
    assert missing == [] and sorted(unexpected) == ['fc.bias', 'fc.weight']
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        feats = ref.layer4(ref.layer3(ref.layer2(ref.layer1(ref.maxpool(ref.relu(ref.bn1(ref.conv1(x))))))))
        assert torch.allclose(model(x)[0], feats, atol=1e-5)


def test_out_indices_and_default():
    model = ResNet(18, out_indices=(1, 3)).eval()
    outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [128, 512]
    default = ResNet(18).eval()(torch.randn(1, 3, 64, 64))
    assert isinstance(default, tuple) and len(default) == 1
    assert ResNet(18, out_indices=(-1, -4)).out_indices == (3, 0)
    assert ResNet(18, num_stages=2, strides=(1, 2), dilations=(1, 1), out_indices=(1,)).res_layers == \
        ['layer1', 'layer2']


def test_invalid_arguments_have_clear_messages():
    with pytest.raises(ConfigError, match=r'depth 20.*18, 34, 50, 101, 152'):
        ResNet(20)
    with pytest.raises(ConfigError, match='num_stages'):
        ResNet(18, num_stages=5)
    with pytest.raises(ConfigError, match='one stride'):
        ResNet(18, num_stages=3, out_indices=(2,))
    with pytest.raises(ConfigError, match='out_indices'):
        ResNet(18, out_indices=(4,))
    with pytest.raises(ConfigError, match='frozen_stages'):
        ResNet(18, frozen_stages=5)
    with pytest.raises(ConfigError, match='style'):
        ResNet(50, style='tf')
    with pytest.raises(ImgclsError, match='backbone.*depth'):
        build_backbone(dict(type='ResNet', depth=11), path='model.backbone')


def test_strides_and_dilations():
    model = ResNet(18, strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2), out_indices=(3,)).eval()
    assert model(torch.randn(1, 3, 64, 64))[0].shape == (1, 512, 4, 4)
    assert model.layer4[0].conv1.dilation == (2, 2) and model.layer4[0].conv1.padding == (2, 2)
    assert model.layer4[0].conv1.stride == (1, 1)


def test_style_caffe_vs_pytorch():
    pytorch = ResNet(50, style='pytorch').layer2[0]
    assert pytorch.conv1.stride == (1, 1) and pytorch.conv2.stride == (2, 2)
    caffe = ResNet(50, style='caffe').layer2[0]
    assert caffe.conv1.stride == (2, 2) and caffe.conv2.stride == (1, 1)


def test_frozen_stages_stay_frozen_after_train():
    model = ResNet(18, frozen_stages=2)
    assert model.train() is model
    for module in (model.conv1, model.norm1, model.layer1, model.layer2):
        assert all(not p.requires_grad for p in module.parameters())
        assert all(not m.training for m in module.modules())
    assert all(p.requires_grad for p in model.layer3.parameters()) and model.layer3.training
    bn = model.layer1[0].bn1
    before = bn.running_mean.clone()
    model(torch.randn(2, 3, 32, 32))
    assert torch.equal(bn.running_mean, before)  # frozen BN statistics do not move
    stem_only = ResNet(18, frozen_stages=0).train()
    assert not stem_only.bn1.training and stem_only.layer1.training
    deep = ResNetV1c(depth=18, frozen_stages=0).train()
    assert all(not p.requires_grad for p in deep.stem.parameters()) and not deep.stem[0].bn.training


def test_norm_eval_and_train_eval_return_self():
    model = ResNet(18, norm_eval=True)
    assert model.train() is model
    assert all(not m.training for m in model.modules() if isinstance(m, _BatchNorm))
    assert model.layer1.training  # only the norms are in eval mode
    assert model.eval() is model and not model.training
    plain = ResNet(18).train()
    assert all(m.training for m in plain.modules() if isinstance(m, _BatchNorm))


def test_init_weights_zero_init_residual():
    model = ResNet(50)
    model.init_weights()
    for block in model.modules():
        if isinstance(block, Bottleneck):
            assert torch.all(block.norm3.weight == 0) and torch.all(block.norm1.weight == 1)
    basic = ResNet(18)
    basic.init_weights()
    assert all(torch.all(b.norm2.weight == 0) for b in basic.modules() if isinstance(b, BasicBlock))
    off = ResNet(18, zero_init_residual=False)
    off.init_weights()
    assert torch.all(off.layer1[0].bn2.weight == 1)


def test_init_weights_pretrained(tmp_path, imgcls_log):
    src = ResNet(18)
    src.init_weights()
    path = tmp_path / 'classifier.pth'
    state = {f'backbone.{k}': v for k, v in src.state_dict().items()}
    state['head.fc.weight'] = torch.zeros(10, 512)
    torch.save({'state_dict': state}, path)
    dst = ResNet(18)
    dst.init_weights(pretrained=str(path))
    assert torch.equal(dst.layer1[0].conv1.weight, src.layer1[0].conv1.weight)
    via_cfg = ResNet(18, init_cfg=dict(type='Pretrained', checkpoint=str(path), prefix='backbone'))
    via_cfg.init_weights()
    assert torch.equal(via_cfg.layer2[0].bn2.weight, src.layer2[0].bn2.weight)
    ResNet(50).init_weights(pretrained=str(path))  # shape mismatches and missing keys are reported
    assert 'model weights are not in the checkpoint' in imgcls_log.text and 'another shape' in imgcls_log.text
    with pytest.raises(ImgclsError, match='does not exist'):
        dst.init_weights(pretrained=str(tmp_path / 'missing.pth'))


def test_state_dict_keys_resnet():
    keys = set(ResNet(50).state_dict())
    for key in ('conv1.weight', 'bn1.weight', 'bn1.running_mean', 'layer1.0.conv1.weight',
                'layer1.0.bn1.running_mean', 'layer1.0.conv3.weight', 'layer1.0.bn3.weight',
                'layer1.0.downsample.0.weight', 'layer1.0.downsample.1.weight', 'layer4.2.bn3.bias'):
        assert key in keys, key
    assert not any('drop_path' in k for k in keys)


def test_deep_stem_and_avg_down_keys():
    v1c = ResNetV1c(depth=50)
    keys = set(v1c.state_dict())
    assert {'stem.0.conv.weight', 'stem.0.bn.weight', 'stem.2.conv.weight', 'stem.2.bn.running_var'} <= keys
    assert 'conv1.weight' not in keys and 'layer2.0.downsample.0.weight' in keys
    assert v1c.stem[0].conv.out_channels == 32 and v1c.stem[2].conv.out_channels == 64
    v1d = ResNetV1d(depth=50)
    down = v1d.layer2[0].downsample
    assert isinstance(down[0], nn.AvgPool2d) and isinstance(down[1], nn.Conv2d)
    assert isinstance(down[2], _BatchNorm)
    assert down[1].stride == (1, 1)
    keys = set(v1d.state_dict())
    assert {'layer2.0.downsample.1.weight', 'layer2.0.downsample.2.weight'} <= keys
    # layer1 has stride 1, so (as in mmcls) its shortcut has no pooling: conv then norm
    assert {'layer1.0.downsample.0.weight', 'layer1.0.downsample.1.weight'} <= keys
    outs = v1d.eval()(torch.randn(1, 3, 64, 64))
    assert outs[0].shape == (1, 2048, 2, 2)
    assert 'ResNetV1c' in BACKBONES and 'ResNetV1d' in BACKBONES


def test_with_cp_gives_same_output_and_grads():
    torch.manual_seed(0)
    plain = ResNet(18, out_indices=(0,), num_stages=1, strides=(1,), dilations=(1,))
    cp = ResNet(18, out_indices=(0,), num_stages=1, strides=(1,), dilations=(1,), with_cp=True)
    cp.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    out_plain, out_cp = plain(x)[0], cp(x)[0]
    assert torch.allclose(out_plain, out_cp, atol=1e-6)
    out_cp.sum().backward()
    grad_cp = cp.layer1[0].conv1.weight.grad.clone()
    out_plain.sum().backward()
    assert torch.allclose(grad_cp, plain.layer1[0].conv1.weight.grad, atol=1e-5)


def test_drop_path_rate():
    model = ResNet(18, drop_path_rate=0.3, out_indices=(3,))
    rates = [b.drop_path.drop_prob for b in model.modules()
             if isinstance(b, BasicBlock) and hasattr(b.drop_path, 'drop_prob')]
    assert rates == pytest.approx([0.3 * i / 7 for i in range(1, 8)])  # the first block's rate is 0
    assert set(model.state_dict()) == set(ResNet(18).state_dict())
    x = torch.randn(4, 3, 32, 32)
    torch.manual_seed(0)
    a = model.train()(x)[0]
    b = model(x)[0]
    assert not torch.allclose(a, b)
    model.eval()
    assert torch.equal(model(x)[0], model(x)[0])
    blocks = [b for b in ResNet(18).modules() if isinstance(b, BasicBlock)]
    assert all(isinstance(b.drop_path, nn.Identity) for b in blocks)


def test_res_layer_and_blocks():
    layer = ResLayer(Bottleneck, 2, 64, 256, stride=2)
    assert len(layer) == 2 and layer[0].downsample is not None and layer[1].downsample is None
    assert layer(torch.randn(1, 64, 8, 8)).shape == (1, 256, 4, 4)
    block = BasicBlock(8, 8)
    assert block.norm1 is block.bn1 and block.norm2 is block.bn2 and block.downsample is None
    bottleneck = Bottleneck(16, 16)
    assert bottleneck.mid_channels == 4 and bottleneck.norm3 is bottleneck.bn3
    with pytest.raises(ConfigError):
        BasicBlock(8, 8, expansion=2)


def test_resnet_cifar():
    model = build_backbone(dict(type='ResNet_CIFAR', depth=18, out_indices=(0, 3))).eval()
    assert isinstance(model, ResNet_CIFAR) and not hasattr(model, 'maxpool')
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    outs = model(torch.randn(2, 3, 32, 32))
    assert outs[0].shape == (2, 64, 32, 32) and outs[1].shape == (2, 512, 4, 4)
    assert 'bn1.weight' in model.state_dict()
    with pytest.raises(ImgclsError, match='deep_stem'):
        build_backbone(dict(type='ResNet_CIFAR', depth=18, deep_stem=True))


def test_seed_tutorial_subclass():
    """The seed tutorial's ResNet_CIFAR: override _make_stem_layer(in_channels, base_channels)."""

    @BACKBONES.register_module(force=True)
    class SeedResNetCIFAR(ResNet):
        def __init__(self, depth, deep_stem, **kwargs):
            super().__init__(depth, deep_stem=deep_stem, **kwargs)
            assert not self.deep_stem, 'ResNet_CIFAR do not support deep_stem'

        def _make_stem_layer(self, in_channels, base_channels):
            self.conv1 = build_conv_layer(self.conv_cfg, in_channels, base_channels, kernel_size=3, stride=1,
                                          padding=1, bias=False)
            self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, base_channels, postfix=1)
            self.add_module(self.norm1_name, norm1)
            self.relu = nn.ReLU(inplace=True)

    try:
        model = build_backbone(dict(type='SeedResNetCIFAR', depth=18, deep_stem=False, frozen_stages=1))
    finally:  # keep the registry as other tests expect it
        BACKBONES._module_dict.pop('SeedResNetCIFAR', None)
    model.init_weights()
    model.train()
    assert model.norm1 is model.bn1 and not model.bn1.training
    # without a max-pool of its own, the inherited forward skips it
    assert model.eval()(torch.randn(1, 3, 32, 32))[0].shape == (1, 512, 4, 4)
