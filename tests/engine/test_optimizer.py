"""Optimizers from config: any torch.optim class, paramwise_cfg multipliers, fused kernels."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from imgcls.engine import build_optimizer
from imgcls.errors import ConfigError


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.head = nn.Linear(4, 2)


def group_of(opt, param):
    return next(g for g in opt.param_groups if any(p is param for p in g['params']))


def test_any_torch_optimizer_by_name():
    for name in ('SGD', 'AdamW', 'RMSprop', 'Adagrad'):
        opt = build_optimizer(Net(), dict(type=name, lr=0.01))
        assert type(opt).__name__ == name


def test_paramwise_multipliers():
    net = Net()
    opt = build_optimizer(net, dict(type='SGD', lr=0.1, weight_decay=1e-4, paramwise_cfg=dict(
        norm_decay_mult=0.0, bias_decay_mult=0.5, custom_keys={'head': dict(lr_mult=10.0, decay_mult=2.0)})))
    assert group_of(opt, net.backbone[1].weight)['weight_decay'] == 0.0
    assert group_of(opt, net.backbone[0].bias)['weight_decay'] == pytest.approx(5e-5)
    assert group_of(opt, net.backbone[0].weight)['weight_decay'] == pytest.approx(1e-4)
    head = group_of(opt, net.head.weight)
    assert head['lr'] == pytest.approx(1.0) and head['weight_decay'] == pytest.approx(2e-4)


def test_frozen_parameters_are_left_out():
    net = Net()
    net.backbone.requires_grad_(False)
    opt = build_optimizer(net, dict(type='SGD', lr=0.1))
    assert sum(len(g['params']) for g in opt.param_groups) == 2


def test_fused_by_default_where_torch_has_it():
    assert build_optimizer(Net(), dict(type='SGD', lr=0.1, momentum=0.9)).defaults['fused'] is True
    assert build_optimizer(Net(), dict(type='SGD', lr=0.1, foreach=True)).defaults.get('fused') in (None, False)


@pytest.mark.parametrize('cfg, words', [(dict(type='SDG', lr=0.1), ['SDG', 'SGD']),
                                        (dict(lr=0.1), ['type']),
                                        (dict(type='SGD'), ['lr']),
                                        (dict(type='SGD', lr=0.1, paramwise_cfg=dict(norm_decay=0)), ['norm_decay'])])
def test_errors_name_the_problem(cfg, words):
    with pytest.raises(ConfigError) as e:
        build_optimizer(Net(), cfg)
    assert all(w in str(e.value) for w in words)


class TinyViT(nn.Module):
    """cls_token, two numbered blocks and a final norm in the backbone; a head after it."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Module()
        self.backbone.cls_token = nn.Parameter(torch.zeros(1, 4))
        self.backbone.layers = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4)])
        self.backbone.ln1 = nn.LayerNorm(4)
        self.head = nn.Linear(4, 2)


def test_layer_wise_lr_decay():
    net = TinyViT()
    opt = build_optimizer(net, dict(type='AdamW', lr=1.0, weight_decay=0.05,
                                    paramwise_cfg=dict(layer_decay_rate=0.5, norm_decay_mult=0.0)))
    # depths: cls_token 0, layers.0 1, layers.1 2, ln1 and head 3; lr = rate ** (3 - depth)
    assert group_of(opt, net.backbone.cls_token)['lr'] == pytest.approx(0.125)
    assert group_of(opt, net.backbone.layers[0].weight)['lr'] == pytest.approx(0.25)
    assert group_of(opt, net.backbone.layers[1].bias)['lr'] == pytest.approx(0.5)
    norm = group_of(opt, net.backbone.ln1.weight)
    assert norm['lr'] == pytest.approx(1.0) and norm['weight_decay'] == 0.0
    assert group_of(opt, net.head.weight)['lr'] == pytest.approx(1.0)


def test_layer_decay_needs_numbered_blocks():
    with pytest.raises(ConfigError, match='layer_decay_rate: the backbone Sequential has no numbered blocks'):
        build_optimizer(Net(), dict(type='SGD', lr=0.1, paramwise_cfg=dict(layer_decay_rate=0.5)))
    with pytest.raises(ConfigError, match=r'layer_decay_rate must be in \(0, 1\], got 2'):
        build_optimizer(TinyViT(), dict(type='SGD', lr=0.1, paramwise_cfg=dict(layer_decay_rate=2)))


def test_depthwise_conv_bias_takes_the_depthwise_rule_as_mmcv():
    net = nn.Module()
    net.dw = nn.Conv2d(4, 4, 3, groups=4)
    opt = build_optimizer(net, dict(type='SGD', lr=0.1, weight_decay=1.0, paramwise_cfg=dict(
        dwconv_decay_mult=0.5, bias_decay_mult=0.0, bias_lr_mult=2.0)))
    bias = group_of(opt, net.dw.bias)
    assert bias['weight_decay'] == pytest.approx(0.5) and bias['lr'] == pytest.approx(0.2)


def test_mmcls_misspelt_delete_in_paramwise_cfg_is_ignored_with_a_warning(caplog):
    # mmcls 0.25's Twins configs write paramwise_cfg=dict(_delete=True, ...): mmcv ignored the key
    import logging

    from imgcls.engine.warn import reset_warnings
    reset_warnings()
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    with caplog.at_level(logging.WARNING):
        opt = build_optimizer(model, dict(type='SGD', lr=0.1, weight_decay=1e-4,
                                          paramwise_cfg=dict(_delete=True, norm_decay_mult=0.0)))
    assert 'optimizer.paramwise_cfg._delete is not a config key (_delete_ is): ignored' in caplog.text
    decays = sorted(g['weight_decay'] for g in opt.param_groups)
    assert decays == [0.0, 1e-4]  # the BatchNorm's parameters without decay, the conv's with
    with pytest.raises(ConfigError, match=r"unknown keys \['norm_decay_mul'\]"):
        build_optimizer(model, dict(type='SGD', lr=0.1, paramwise_cfg=dict(norm_decay_mul=0.0)))
