"""Layer builders, ConvModule, init helpers and DropPath."""

import pytest
import torch
import torch.nn as nn

from imgcls.errors import ConfigError, ImgclsError
from imgcls.models.layers import (
    ACTIVATION_LAYERS,
    NORM_LAYERS,
    ConvModule,
    DropPath,
    build_activation_layer,
    build_conv_layer,
    build_norm_layer,
    constant_init,
    initialize,
    kaiming_init,
    load_pretrained,
    normal_init,
    trunc_normal_init,
    xavier_init,
)


def test_build_conv_layer_default_and_types():
    conv = build_conv_layer(None, 3, 8, 3, padding=1, bias=False)
    assert type(conv) is nn.Conv2d and conv.bias is None and conv.padding == (1, 1)
    assert type(build_conv_layer(dict(type='Conv'), 3, 8, 1)) is nn.Conv2d
    assert type(build_conv_layer(dict(type='Conv1d'), 3, 8, 1)) is nn.Conv1d
    assert type(build_conv_layer(dict(type='Conv3d'), 3, 8, 1)) is nn.Conv3d
    with pytest.raises(ImgclsError, match='Conv2d'):
        build_conv_layer(dict(type='Conv4d'), 3, 8, 1)


@pytest.mark.parametrize('cfg, postfix, name, cls', [
    (dict(type='BN'), 1, 'bn1', nn.BatchNorm2d),
    (dict(type='BN1d'), '', 'bn', nn.BatchNorm1d),
    (dict(type='BN3d'), 2, 'bn2', nn.BatchNorm3d),
    (dict(type='SyncBN'), 1, 'bn1', nn.SyncBatchNorm),
    (dict(type='GN', num_groups=4), 1, 'gn1', nn.GroupNorm),
    (dict(type='LN'), 3, 'ln3', nn.LayerNorm),
    (dict(type='IN'), 1, 'in1', nn.InstanceNorm2d),
    (dict(type='IN1d'), '', 'in', nn.InstanceNorm1d),
    (dict(type='IN3d'), 'x', 'inx', nn.InstanceNorm3d),
])
def test_build_norm_layer_names(cfg, postfix, name, cls):
    got_name, layer = build_norm_layer(cfg, 8, postfix=postfix)
    assert got_name == name and type(layer) is cls


def test_build_norm_layer_options():
    _, bn = build_norm_layer(dict(type='BN', requires_grad=False, eps=1e-3, momentum=0.3), 4)
    assert all(not p.requires_grad for p in bn.parameters())
    assert bn.eps == 1e-3 and bn.momentum == 0.3
    _, bn = build_norm_layer(dict(type='BN'), 4)
    assert all(p.requires_grad for p in bn.parameters()) and bn.eps == 1e-5
    _, gn = build_norm_layer(dict(type='GN', num_groups=2), 8)
    assert gn.num_groups == 2 and gn.num_channels == 8


def test_build_norm_layer_errors():
    with pytest.raises(ConfigError, match='num_groups'):
        build_norm_layer(dict(type='GN'), 8)
    with pytest.raises(ConfigError, match='num_groups=3'):
        build_norm_layer(dict(type='GN', num_groups=3), 8)
    with pytest.raises(ImgclsError, match=r"'BNN'.*BN, BN1d"):
        build_norm_layer(dict(type='BNN'), 8)
    with pytest.raises(ConfigError, match='type'):
        build_norm_layer(dict(eps=1e-3), 8)
    with pytest.raises(ConfigError):
        build_norm_layer('BN', 8)


def test_user_norm_layer_registration():
    @NORM_LAYERS.register_module(name='MyNormForTest')
    class MyNorm(nn.BatchNorm2d):
        _abbr_ = 'mn'

    name, layer = build_norm_layer(dict(type='MyNormForTest'), 4, postfix=1)
    assert name == 'mn1' and isinstance(layer, MyNorm)


@pytest.mark.parametrize('type_name', ['ReLU', 'LeakyReLU', 'PReLU', 'ReLU6', 'ELU', 'Sigmoid', 'Tanh',
                                       'GELU', 'SiLU', 'Swish', 'HSigmoid', 'HSwish'])
def test_build_activation_layer(type_name):
    act = build_activation_layer(dict(type=type_name))
    assert isinstance(act, nn.Module) and type_name in ACTIVATION_LAYERS
    assert act(torch.randn(2, 3)).shape == (2, 3)


def test_activation_values():
    x = torch.tensor([-4.0, -1.0, 0.0, 1.0, 4.0])
    hsig = build_activation_layer(dict(type='HSigmoid'))(x)
    assert torch.allclose(hsig, torch.tensor([0.0, 2 / 6, 0.5, 4 / 6, 1.0]))
    hswish = build_activation_layer(dict(type='HSwish'))(x)
    assert torch.allclose(hswish, x * torch.tensor([0.0, 2 / 6, 0.5, 4 / 6, 1.0]))
    assert torch.allclose(build_activation_layer(dict(type='Swish'))(x), x * torch.sigmoid(x))
    leaky = build_activation_layer(dict(type='LeakyReLU', negative_slope=0.1))
    assert torch.allclose(leaky(x), torch.tensor([-0.4, -0.1, 0.0, 1.0, 4.0]))
    with pytest.raises(ImgclsError, match='ReLU'):
        build_activation_layer(dict(type='Relu'))


def test_conv_module_default_children_and_keys():
    m = ConvModule(3, 8, 3, padding=1, norm_cfg=dict(type='BN'))
    assert [n for n, _ in m.named_children()] == ['conv', 'bn', 'activate']
    assert m.norm is m.bn and m.conv.bias is None  # bias='auto' drops the bias before a norm
    assert set(m.state_dict()) == {'conv.weight', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var',
                                   'bn.num_batches_tracked'}
    assert m(torch.randn(2, 3, 5, 5)).min() >= 0  # ReLU last
    bare = ConvModule(3, 8, 1, act_cfg=None)
    assert bare.norm is None and bare.conv.bias is not None and not hasattr(bare, 'activate')
    x = torch.randn(1, 3, 4, 4)
    assert torch.allclose(bare(x), bare.conv(x))


def test_conv_module_orders():
    x = torch.randn(2, 4, 6, 6)
    m = ConvModule(4, 8, 3, padding=1, norm_cfg=dict(type='BN'), order=('norm', 'act', 'conv')).eval()
    assert m.bn.num_features == 4  # the norm before the conv sees the input channels
    assert torch.allclose(m(x), m.conv(m.activate(m.bn(x))))
    m = ConvModule(4, 8, 3, padding=1, norm_cfg=dict(type='GN', num_groups=2), order=('conv', 'act', 'norm'))
    assert m.gn.num_channels == 8
    assert torch.allclose(m(x), m.gn(m.activate(m.conv(x))))
    assert torch.allclose(m(x, activate=False, norm=False), m.conv(x))
    with pytest.raises(ConfigError, match='permutation'):
        ConvModule(4, 8, 3, order=('conv', 'norm'))


def test_conv_module_act_options():
    assert ConvModule(3, 4, 1, inplace=False).activate.inplace is False
    m = ConvModule(3, 4, 1, act_cfg=dict(type='LeakyReLU', negative_slope=0.2))
    assert m.activate.negative_slope == 0.2
    assert isinstance(ConvModule(3, 4, 1, act_cfg=dict(type='GELU')).activate, nn.GELU)


def test_init_functions():
    conv = nn.Conv2d(3, 4, 3)
    constant_init(conv, 0.5, bias=0.25)
    assert torch.all(conv.weight == 0.5) and torch.all(conv.bias == 0.25)
    nobias = nn.Conv2d(3, 4, 3, bias=False)
    constant_init(nobias, 2.0)  # a missing bias is skipped
    assert torch.all(nobias.weight == 2.0)

    torch.manual_seed(0)
    big = nn.Linear(1000, 1000)
    normal_init(big, mean=1.0, std=0.1, bias=3)
    assert abs(big.weight.mean().item() - 1.0) < 0.01 and abs(big.weight.std().item() - 0.1) < 0.01
    assert torch.all(big.bias == 3)
    trunc_normal_init(big, std=1.0, a=-0.5, b=0.5)
    assert big.weight.abs().max() <= 0.5
    conv = nn.Conv2d(64, 256, 3)
    kaiming_init(conv)  # fan_out, relu gain: std = sqrt(2 / (256 * 9))
    assert abs(conv.weight.std().item() - (2 / (256 * 9)) ** 0.5) < 0.002 and torch.all(conv.bias == 0)
    kaiming_init(conv, mode='fan_in', distribution='uniform')
    bound = (6 / (64 * 9)) ** 0.5
    assert conv.weight.abs().max() <= bound
    xavier_init(big, distribution='uniform')
    assert big.weight.abs().max() <= (6 / 2000) ** 0.5
    with pytest.raises(ConfigError, match='distribution'):
        kaiming_init(conv, distribution='gaussian')


def test_initialize_init_cfg():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.Linear(4, 2))
    initialize(model, [dict(type='Constant', val=0.5, layer='Conv2d'),
                       dict(type='Constant', val=2.0, bias=1.0, layer='_BatchNorm'),
                       dict(type='Normal', layer='Linear', std=0.01, override=dict(name='2', type='Constant',
                                                                                 val=3.0))])
    assert torch.all(model[0].weight == 0.5) and torch.all(model[1].weight == 2.0)
    assert torch.all(model[1].bias == 1.0) and torch.all(model[2].weight == 3.0)
    with pytest.raises(ConfigError, match='Kaiming'):
        initialize(model, dict(type='Kaimin', layer='Conv2d'))


def test_load_pretrained(tmp_path):
    src = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    path = tmp_path / 'ckpt.pth'
    state = {f'backbone.{k}': v for k, v in src.state_dict().items()}
    state['head.fc.weight'] = torch.zeros(2, 4)
    torch.save({'state_dict': state, 'meta': {}}, path)
    dst = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    missing, unexpected = load_pretrained(dst, str(path))  # 'backbone.' is stripped, the head dropped
    assert missing == [] and unexpected == []
    assert torch.equal(dst[0].weight, src[0].weight)
    with pytest.raises(ImgclsError, match='does not exist'):
        load_pretrained(dst, str(tmp_path / 'nope.pth'))
    with pytest.raises(ImgclsError, match='shares no weights'):
        load_pretrained(nn.Linear(2, 2), str(path))


def test_drop_path():
    x = torch.ones(1000, 3, 2, 2)
    dp = DropPath(0.5)
    torch.manual_seed(0)
    out = dp.train()(x)
    per_sample = out.flatten(1)
    # each sample is either dropped whole or scaled by 1/(1-p)
    assert torch.all((per_sample == 0).all(1) | (per_sample == 2).all(1))
    assert 0.4 < (per_sample[:, 0] == 0).float().mean().item() < 0.6
    assert torch.equal(dp.eval()(x), x)
    assert torch.equal(DropPath(0.0).train()(x), x)
    assert list(DropPath(0.3).parameters()) == []
    with pytest.raises(ValueError):
        DropPath(1.0)
