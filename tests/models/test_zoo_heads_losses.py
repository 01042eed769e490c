"""Model-zoo necks, heads and losses: mmcls names and keys, and values computed by hand."""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from imgcls.errors import ConfigError
from imgcls.models.builder import HEADS, LOSSES, NECKS, build_head, build_loss, build_neck


def softplus(z):
    return math.log1p(math.exp(z))


def log_softmax(z, i):
    return z[i] - math.log(sum(math.exp(v) for v in z))


def sigmoid(z):
    return 1 / (1 + math.exp(-z))


def test_everything_is_registered():
    assert 'GeneralizedMeanPooling' in NECKS
    assert {'StackedLinearClsHead', 'MultiLabelClsHead', 'MultiLabelLinearClsHead'} <= set(HEADS.keys())
    assert {'LabelSmoothLoss', 'FocalLoss', 'AsymmetricLoss', 'SoftTargetCrossEntropy',
            'SeesawLoss'} <= set(LOSSES.keys())


# ---------------------------------------------------------------- GeM

def test_gem_values_tuple_and_learnable_p():
    gem = build_neck(dict(type='GeneralizedMeanPooling'))
    assert list(gem.state_dict()) == ['p'] and gem.p.shape == (1,) and gem.p.requires_grad
    x = torch.tensor([[[[1., 2.], [3., 4.]]]])
    out = gem(x)
    assert out.shape == (1, 1)
    assert torch.allclose(out, torch.tensor([[25. ** (1 / 3)]]))  # ((1 + 8 + 27 + 64) / 4) ** (1/3)
    outs = gem((x, torch.ones(2, 3, 5, 5)))
    assert isinstance(outs, tuple) and outs[1].shape == (2, 3) and torch.allclose(outs[1], torch.ones(2, 3))
    out.sum().backward()
    assert gem.p.grad is not None and torch.isfinite(gem.p.grad).all()
    avg = build_neck(dict(type='GeneralizedMeanPooling', p=1.))
    assert torch.allclose(avg(x), torch.tensor([[2.5]]), atol=1e-6)  # p=1: average pooling
    # clamp: non-positive features are lifted to eps before the power
    assert torch.allclose(avg(torch.tensor([[[[-1., 1.]]]])), torch.tensor([[(1e-6 + 1) / 2]]))


def test_gem_fixed_p_and_errors():
    gem = build_neck(dict(type='GeneralizedMeanPooling', p=2., p_trainable=False))
    assert not gem.p.requires_grad and list(gem.state_dict()) == ['p']
    with pytest.raises(ConfigError, match='p must be a number >= 1'):
        build_neck(dict(type='GeneralizedMeanPooling', p=0.5))
    with pytest.raises(ValueError, match=r'\(2, 3\)'):
        gem(torch.ones(2, 3))


# ---------------------------------------------------------------- StackedLinearClsHead

MBV3_HEAD = dict(type='StackedLinearClsHead', num_classes=5, in_channels=6, mid_channels=[8], dropout_rate=0.2,
                 act_cfg=dict(type='HSwish'), loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
                 init_cfg=dict(type='Normal', layer='Linear', mean=0., std=0.01, bias=0.), topk=(1, 5))


def test_stacked_head_keys_and_layers():
    head = build_head(MBV3_HEAD)
    assert list(head.state_dict()) == ['layers.0.fc.weight', 'layers.0.fc.bias',
                                       'layers.1.fc.weight', 'layers.1.fc.bias']
    assert head.layers[0].fc.weight.shape == (8, 6) and head.layers[1].fc.weight.shape == (5, 8)
    assert isinstance(head.layers[0].dropout, nn.Dropout) and head.layers[0].dropout.p == 0.2
    assert head.layers[1].act is None and head.layers[1].dropout is None and head.fc is head.layers[1]
    head.init_weights()
    assert torch.equal(head.layers[1].fc.bias, torch.zeros(5)) and head.layers[1].fc.weight.std() < 0.05
    normed = build_head(dict(type='StackedLinearClsHead', num_classes=3, in_channels=4, mid_channels=[6, 7],
                             norm_cfg=dict(type='BN1d')))
    keys = set(normed.state_dict())
    assert {'layers.0.norm.weight', 'layers.0.norm.running_mean', 'layers.1.fc.weight',
            'layers.2.fc.weight'} <= keys and 'layers.2.norm.weight' not in keys


def test_stacked_head_outputs_match_the_layers():
    head = build_head(MBV3_HEAD).eval()
    x = torch.randn(2, 6)
    hidden = head.layers[0].fc(x)
    hidden = hidden * torch.clamp(hidden + 3, 0, 6) / 6  # HSwish
    logits = head.layers[1].fc(hidden)
    assert torch.allclose(head.pre_logits((torch.zeros(1), x)), hidden, atol=1e-6)
    assert torch.allclose(head(x), logits, atol=1e-6)
    probs = head.simple_test(x)
    assert isinstance(probs, list) and len(probs) == 2 and probs[0].shape == (5,)
    np.testing.assert_allclose(np.stack(probs), logits.softmax(1).detach().numpy(), rtol=1e-5)
    losses = head.forward_train(x, torch.tensor([1, 4]))
    expected = nn.functional.cross_entropy(logits, torch.tensor([1, 4]))
    assert torch.allclose(losses['loss'], expected, atol=1e-6)


@pytest.mark.parametrize('bad', [dict(mid_channels=[]), dict(mid_channels=8), dict(mid_channels=[0]),
                                 dict(num_classes=0), dict(dropout_rate=1.5)])
def test_stacked_head_rejects_bad_arguments(bad):
    with pytest.raises(ConfigError):
        build_head({**MBV3_HEAD, **bad})


# ---------------------------------------------------------------- multi-label heads

def test_multi_label_head_loss_treats_difficult_as_positive():
    head = build_head(dict(type='MultiLabelClsHead'))
    scores = torch.tensor([[1., -1., 2.], [0., 0., 0.]])
    gt = torch.tensor([[1, 0, -1], [0, 1, 0]])
    loss = head.forward_train(scores, gt)['loss']
    # per sample: sum over classes of BCE; then averaged over the 2 samples (mmcls avg_factor=N)
    sample0 = softplus(-1.) + softplus(-1.) + softplus(-2.)  # targets 1, 0, |-1| = 1
    sample1 = 3 * math.log(2.)
    assert loss.item() == pytest.approx((sample0 + sample1) / 2, rel=1e-5)
    with pytest.raises(ValueError, match='multi-hot'):
        head.forward_train(scores, torch.tensor([0, 1]))


def test_multi_label_head_scores_are_sigmoids():
    head = build_head(dict(type='MultiLabelClsHead'))
    scores = torch.tensor([[1., -1., 2.]])
    probs = head.simple_test((torch.zeros(1), scores))
    np.testing.assert_allclose(probs[0], [sigmoid(1.), sigmoid(-1.), sigmoid(2.)], rtol=1e-6)
    assert torch.equal(head.simple_test(scores, sigmoid=False, post_process=False), scores)
    # the generic test_step passes softmax=True: the multi-label activation is still the sigmoid
    assert torch.allclose(head.simple_test(scores, softmax=True, post_process=False), scores.sigmoid())


def test_multi_label_linear_head():
    head = build_head(dict(type='MultiLabelLinearClsHead', num_classes=3, in_channels=4))
    assert list(head.state_dict()) == ['fc.weight', 'fc.bias']
    head.init_weights()
    x = torch.randn(2, 4)
    scores = head.fc(x)
    gt = torch.tensor([[1, 0, -1], [0, 1, 1]])
    expected = nn.functional.binary_cross_entropy_with_logits(scores, gt.abs().float(), reduction='sum') / 2
    assert torch.allclose(head.forward_train((x,), gt)['loss'], expected, atol=1e-6)
    assert torch.allclose(head.simple_test(x, post_process=False), scores.sigmoid())
    with pytest.raises(ConfigError, match='in_channels'):
        build_head(dict(type='MultiLabelLinearClsHead', num_classes=3, in_channels=0))


def test_multi_label_classifier_end_to_end():
    from imgcls.models.builder import build_classifier

    model = build_classifier(dict(
        type='ImageClassifier', backbone=dict(type='ResNet_CIFAR', depth=18, base_channels=8),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='MultiLabelLinearClsHead', num_classes=4, in_channels=64,
                  loss=dict(type='AsymmetricLoss', gamma_pos=0.0, gamma_neg=4.0))))
    data = dict(img=torch.randint(0, 255, (2, 3, 16, 16), dtype=torch.uint8),
                gt_label=torch.tensor([[1, 0, 1, -1], [0, 0, 0, 1]]))
    out = model.train_step(data)
    assert out['loss'].dim() == 0 and torch.isfinite(out['loss'])
    scores = model.eval().test_step(data)
    assert scores.shape == (2, 4) and ((scores > 0) & (scores < 1)).all()


# ---------------------------------------------------------------- LabelSmoothLoss

Z = torch.tensor([[1., 0., 0., 0.]])
L = math.log(math.e + 3)  # -log_softmax(Z)[j] = L - Z[j]


def test_label_smooth_original():
    loss = build_loss(dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'))
    # target (0.925, 0.025, 0.025, 0.025): loss = 0.925 * (L - 1) + 0.075 * L
    assert loss(Z, torch.tensor([0])).item() == pytest.approx(L - 0.925, rel=1e-6)
    # a given num_classes is checked against the scores
    with pytest.raises(ConfigError, match='num_classes=5'):
        build_loss(dict(type='LabelSmoothLoss', label_smooth_val=0.1, num_classes=5))(Z, torch.tensor([0]))
    weighted = build_loss(dict(type='LabelSmoothLoss', label_smooth_val=0.1, num_classes=4, loss_weight=2.))
    assert weighted(Z, torch.tensor([0])).item() == pytest.approx(2 * (L - 0.925), rel=1e-6)


def test_label_smooth_classy_vision():
    loss = build_loss(dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='classy_vision'))
    # target (y + eps / C) / (1 + eps): true class (1 + 0.025) / 1.1
    t0 = 1.025 / 1.1
    assert loss(Z, torch.tensor([0])).item() == pytest.approx(L - t0, rel=1e-6)


def test_label_smooth_multi_label():
    loss = build_loss(dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='multi_label'))
    assert loss.use_sigmoid
    z = [2., 0., -1., 0.]
    t = [0.9, 0.1, 0.9, 0.1]  # from the multi-hot (1, 0, 1, 0)
    bce = [softplus(zi) - ti * zi for zi, ti in zip(z, t)]
    got = loss(torch.tensor([z]), torch.tensor([[1, 0, 1, 0]]))
    assert got.item() == pytest.approx(sum(bce) / 4, rel=1e-5)  # 'mean' over the elements


def test_label_smooth_soft_labels_and_errors():
    loss = build_loss(dict(type='LabelSmoothLoss', label_smooth_val=0.2))
    soft = torch.tensor([[0.5, 0.5, 0., 0.]])
    target = [0.5 * 0.8 + 0.05, 0.5 * 0.8 + 0.05, 0.05, 0.05]
    expected = -sum(ti * log_softmax(Z[0].tolist(), i) for i, ti in enumerate(target))
    assert loss(Z, soft).item() == pytest.approx(expected, rel=1e-6)
    for bad in (dict(label_smooth_val=1.0), dict(label_smooth_val=0.1, mode='bogus'),
                dict(label_smooth_val=0.1, reduction='avg')):
        with pytest.raises(ConfigError):
            build_loss(dict(type='LabelSmoothLoss', **bad))


# ---------------------------------------------------------------- focal and asymmetric

def test_focal_loss_by_hand():
    loss = build_loss(dict(type='FocalLoss'))
    # logits 0: p = 0.5 everywhere, BCE = log 2, (1 - p_t) ** 2 = 0.25; alpha 0.25 for the positive
    got = loss(torch.zeros(1, 2), torch.tensor([1]))
    assert got.item() == pytest.approx(math.log(2) * (0.75 * 0.25 + 0.25 * 0.25) / 2, rel=1e-6)
    z, t = [2., -1.], [0., 1.]
    expected = 0.
    for zi, ti in zip(z, t):
        p = sigmoid(zi)
        pt = p if ti else 1 - p
        alpha = 0.25 if ti else 0.75
        expected += -alpha * (1 - pt) ** 2 * math.log(pt)
    assert loss(torch.tensor([z]), torch.tensor([t])).item() == pytest.approx(expected / 2, rel=1e-5)
    summed = build_loss(dict(type='FocalLoss', gamma=0., alpha=0.5, reduction='sum', loss_weight=2.))
    assert summed(torch.zeros(1, 2), torch.tensor([1])).item() == pytest.approx(2 * 0.5 * 2 * math.log(2))
    with pytest.raises(ConfigError, match='alpha'):
        build_loss(dict(type='FocalLoss', alpha=2.))


def test_asymmetric_loss_by_hand():
    loss = build_loss(dict(type='AsymmetricLoss'))  # gamma_pos 0, gamma_neg 4, clip 0.05
    got = loss(torch.zeros(1, 2), torch.tensor([[0, 1]]))
    negative = -math.log(0.55) * 0.45 ** 4  # shifted p: 0.5 - 0.05
    positive = -math.log(0.5)
    assert got.item() == pytest.approx((negative + positive) / 2, rel=1e-6)
    # an easy negative (p < clip) costs nothing
    easy = loss(torch.tensor([[-5.]]), torch.tensor([[0]]), reduction_override='sum')
    assert easy.item() == pytest.approx(0., abs=1e-7)
    noclip = build_loss(dict(type='AsymmetricLoss', gamma_pos=1., gamma_neg=0., clip=None))
    # no shift, no focusing of negatives: -log(1 - p) and -(1 - p) log p
    assert noclip(torch.zeros(1, 2), torch.tensor([1])).item() == pytest.approx(
        (math.log(2) + 0.5 * math.log(2)) / 2, rel=1e-6)


# ---------------------------------------------------------------- soft-target CE and seesaw

def test_soft_target_cross_entropy():
    loss = build_loss(dict(type='SoftTargetCrossEntropy'))
    z = [0., math.log(3.)]
    got = loss(torch.tensor([z]), torch.tensor([[0.3, 0.7]]))
    assert got.item() == pytest.approx(-(0.3 * log_softmax(z, 0) + 0.7 * log_softmax(z, 1)), rel=1e-6)
    # hard labels: plain cross-entropy
    assert loss(torch.tensor([z]), torch.tensor([1])).item() == pytest.approx(-log_softmax(z, 1), rel=1e-6)


def test_seesaw_loss_by_hand():
    loss = build_loss(dict(type='SeesawLoss', num_classes=3))  # p=0.8, q=2
    assert 'cum_samples' in loss.state_dict()
    loss.cum_samples.copy_(torch.tensor([9., 1., 0.]))
    z = [0., 1., -1.]
    got = loss(torch.tensor([z]), torch.tensor([0]))
    assert loss.cum_samples.tolist() == [10., 1., 0.]  # the batch is counted first
    # class 0 has seen 10 samples, classes 1 and 2 one each (0 counts as 1):
    # mitigation (1/10) ** 0.8 for both; compensation (s1 / s0) ** 2 = e ** 2 for class 1 only
    shifted = [0., 1. + 0.8 * math.log(0.1) + 2., -1. + 0.8 * math.log(0.1)]
    assert got.item() == pytest.approx(-log_softmax(shifted, 0), rel=1e-5)
    plain = build_loss(dict(type='SeesawLoss', num_classes=3, p=0., q=0.))
    assert plain(torch.tensor([z]), torch.tensor([0])).item() == pytest.approx(-log_softmax(z, 0), rel=1e-6)
    with pytest.raises(ConfigError, match='use_sigmoid'):
        build_loss(dict(type='SeesawLoss', use_sigmoid=True))
    with pytest.raises(ConfigError, match='num_classes=3'):
        loss(torch.zeros(1, 4), torch.tensor([0]))


def test_losses_take_weight_and_avg_factor():
    pred, target = torch.zeros(2, 2), torch.tensor([0, 1])
    for cfg in (dict(type='FocalLoss'), dict(type='AsymmetricLoss'), dict(type='SeesawLoss', num_classes=2),
                dict(type='LabelSmoothLoss', label_smooth_val=0.1), dict(type='SoftTargetCrossEntropy')):
        loss = build_loss(cfg)
        full = loss(pred, target, reduction_override='none')
        assert full.shape[0] == 2, cfg
        weighted = loss(pred, target, weight=torch.tensor([1., 0.]), avg_factor=1.)
        assert weighted.item() == pytest.approx(full[0].sum().item(), rel=1e-5), cfg
