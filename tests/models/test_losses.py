"""Losses and accuracy: values checked against numbers computed by hand."""

import math

import numpy as np
import pytest
import torch

from imgcls.models.builder import LOSSES, build_loss
from imgcls.models.losses import (
    Accuracy,
    CrossEntropyLoss,
    L1Loss,
    accuracy,
    binary_cross_entropy,
    convert_to_one_hot,
    cross_entropy,
    l1_loss,
    reduce_loss,
    soft_cross_entropy,
    weight_reduce_loss,
    weighted_loss,
)

LOGITS = torch.tensor([[1., 2., 3.], [0., 0., 0.]])
LABELS = torch.tensor([2, 0])
# -log softmax by hand: sample 0 -> log(1 + e^-1 + e^-2), sample 1 -> log(3)
CE0 = math.log(1 + math.exp(-1) + math.exp(-2))
CE1 = math.log(3)


def close(a, b):
    return torch.allclose(torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32),
                          atol=1e-5)


def test_losses_are_registered():
    assert {'CrossEntropyLoss', 'L1Loss'} <= set(LOSSES.keys())
    assert isinstance(build_loss(dict(type='L1Loss', loss_weight=2.0)), L1Loss)


def test_reduce_and_weight_reduce():
    loss = torch.tensor([1., 2., 3., 6.])
    assert close(reduce_loss(loss, 'mean'), 3.0)
    assert close(reduce_loss(loss, 'sum'), 12.0)
    assert close(reduce_loss(loss, 'none'), loss)
    w = torch.tensor([1., 0., 1., 0.5])
    assert close(weight_reduce_loss(loss, w, 'sum'), 7.0)
    assert close(weight_reduce_loss(loss, w, 'mean'), 7.0 / 4)  # mean over all elements, zeros included
    assert close(weight_reduce_loss(loss, w, 'mean', avg_factor=2), 3.5)  # sum / avg_factor
    assert close(weight_reduce_loss(loss, None, 'none', avg_factor=2), loss)
    with pytest.raises(ValueError, match='sum'):
        weight_reduce_loss(loss, w, 'sum', avg_factor=2)
    with pytest.raises(ValueError, match="'avg'"):
        reduce_loss(loss, 'avg')


def test_weighted_loss_decorator_adds_weight_reduction_avg_factor():
    @weighted_loss
    def squared(pred, target, scale=1.0):
        return scale * (pred - target) ** 2

    pred, target = torch.tensor([1., 2., 3.]), torch.zeros(3)
    assert squared.__name__ == 'squared'
    assert close(squared(pred, target), 14 / 3)
    assert close(squared(pred, target, reduction='sum', scale=2.0), 28.0)
    assert close(squared(pred, target, torch.tensor([1., 0., 0.]), reduction='sum'), 1.0)
    assert close(squared(pred, target, avg_factor=7), 2.0)
    assert close(squared(pred, target, reduction='none'), [1., 4., 9.])


def test_cross_entropy_values():
    assert close(cross_entropy(LOGITS, LABELS, reduction='none'), [CE0, CE1])
    assert close(cross_entropy(LOGITS, LABELS), (CE0 + CE1) / 2)
    assert close(cross_entropy(LOGITS, LABELS, reduction='sum'), CE0 + CE1)
    # a zero-weighted sample still counts in the mean's denominator (mmcls semantics)
    assert close(cross_entropy(LOGITS, LABELS, weight=torch.tensor([1., 0.])), CE0 / 2)
    assert close(cross_entropy(LOGITS, LABELS, weight=torch.tensor([1., 0.]), avg_factor=1), CE0)
    # class_weight scales each sample by its class' weight, then plain mean over samples
    assert close(cross_entropy(LOGITS, LABELS, class_weight=torch.tensor([1., 1., 2.])), (2 * CE0 + CE1) / 2)


def test_cross_entropy_loss_module():
    loss = CrossEntropyLoss(loss_weight=2.0)
    assert close(loss(LOGITS, LABELS), CE0 + CE1)
    assert close(loss(LOGITS, LABELS, avg_factor=2), CE0 + CE1)
    assert close(loss(LOGITS, LABELS, reduction_override='none'), [2 * CE0, 2 * CE1])
    assert close(CrossEntropyLoss(class_weight=[1., 1., 2.])(LOGITS, LABELS), (2 * CE0 + CE1) / 2)
    with pytest.raises(ValueError, match='reduction'):
        loss(LOGITS, LABELS, reduction_override='avg')


def test_soft_cross_entropy():
    target = torch.tensor([[0.5, 0., 0.5]])
    # log softmax([1,2,3]) = x - 3 - CE0
    expected = 0.5 * (2 + CE0) + 0.5 * CE0
    assert close(soft_cross_entropy(LOGITS[:1], target), expected)
    assert close(CrossEntropyLoss(use_soft=True)(LOGITS[:1], target), expected)
    # float targets with the logits' shape are soft automatically (Mixup/CutMix batches)
    assert close(CrossEntropyLoss()(LOGITS[:1], target), expected)
    # one-hot soft targets equal hard-label CE, and use_soft accepts class indices too
    one_hot = torch.tensor([[0., 0., 1.], [1., 0., 0.]])
    assert close(CrossEntropyLoss()(LOGITS, one_hot), (CE0 + CE1) / 2)
    assert close(CrossEntropyLoss(use_soft=True)(LOGITS, LABELS), (CE0 + CE1) / 2)
    assert close(soft_cross_entropy(LOGITS[:1], target, class_weight=torch.tensor([2., 1., 0.])), 2 + CE0)


def test_binary_cross_entropy_with_pos_weight():
    logits, labels = torch.tensor([[0., 2.]]), torch.tensor([[1., 0.]])
    e0, e1 = math.log(2), math.log(1 + math.exp(2))  # -log sigmoid(0), -log(1 - sigmoid(2))
    assert close(binary_cross_entropy(logits, labels, reduction='none'), [[e0, e1]])
    assert close(binary_cross_entropy(logits, labels), (e0 + e1) / 2)
    loss = CrossEntropyLoss(use_sigmoid=True)
    assert close(loss(logits, labels), (e0 + e1) / 2)
    assert close(loss(logits, labels, avg_factor=1), e0 + e1)  # summed over classes, averaged over samples
    assert close(loss(logits, torch.tensor([0])), (e0 + e1) / 2)  # class indices become one-hot
    assert close(CrossEntropyLoss(use_sigmoid=True, pos_weight=[3., 1.])(logits, labels), (3 * e0 + e1) / 2)
    assert close(CrossEntropyLoss(use_sigmoid=True, class_weight=[0., 1.])(logits, labels), e1 / 2)
    two = torch.tensor([[0., 2.], [0., 2.]])
    assert close(binary_cross_entropy(two, labels.repeat(2, 1), weight=torch.tensor([1., 0.]),
                                      reduction='sum'), e0 + e1)
    with pytest.raises(ValueError, match='same shape'):
        binary_cross_entropy(logits, torch.tensor([[1., 0., 0.]]))


def test_cross_entropy_loss_rejects_bad_config():
    with pytest.raises(ValueError, match='use_sigmoid'):
        CrossEntropyLoss(use_sigmoid=True, use_soft=True)
    with pytest.raises(ValueError, match="'avg'"):
        CrossEntropyLoss(reduction='avg')


def test_l1_loss_reductions():
    pred, target = torch.tensor([[1., 2.], [3., 4.]]), torch.zeros(2, 2)
    assert close(l1_loss(pred, target, reduction='none'), pred)
    assert close(l1_loss(pred, target, reduction='sum'), 10.0)
    assert close(l1_loss(pred, target), 2.5)
    w = torch.tensor([[1., 0.], [0., 1.]])
    assert close(l1_loss(pred, target, w, reduction='sum'), 5.0)
    assert close(l1_loss(pred, target, w, avg_factor=2), 2.5)
    loss = L1Loss(loss_weight=2.0)
    assert close(loss(pred, target), 5.0)
    assert close(loss(pred, target, reduction_override='sum'), 20.0)
    assert close(L1Loss(reduction='sum')(pred, target, weight=w), 5.0)
    with pytest.raises(ValueError, match='reduction'):
        loss(pred, target, reduction_override='max')
    with pytest.raises(ValueError, match='same shape'):
        l1_loss(pred, torch.zeros(3))


def test_convert_to_one_hot():
    out = convert_to_one_hot(torch.tensor([[2], [0]]), 3)
    assert out.tolist() == [[0, 0, 1], [1, 0, 0]]
    assert convert_to_one_hot(torch.tensor([1]), 2).tolist() == [[0, 1]]


SCORES = [[0.1, 0.5, 0.4], [0.7, 0.2, 0.1], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]
TARGETS = [2, 0, 1, 1]  # top-1 hits: sample 1 only; top-2 hits: all four


@pytest.mark.parametrize('to', [torch.tensor, np.array])
def test_accuracy_topk(to):
    pred, target = to(SCORES), to(TARGETS)
    top1 = accuracy(pred, target)
    assert isinstance(top1, torch.Tensor) and top1.shape == (1,)
    assert close(top1, [25.0])
    top1, top2 = accuracy(pred, target, topk=(1, 2))
    assert close(top1, [25.0]) and close(top2, [100.0])
    assert close(accuracy(pred, target, thrs=0.6), [25.0])  # sample 1 scores 0.7 > 0.6
    assert close(accuracy(pred, target, thrs=0.8), [0.0])
    assert close(accuracy(pred - 1, target, topk=(2,), thrs=None)[0], [100.0])  # negative scores still count
    assert close(accuracy(pred - 1, target, topk=(2,))[0], [0.0])  # the default threshold is 0
    # a correct top-2 label must also score above the threshold: 0.4 and 0.7 clear 0.35, the 0.3s do not
    per_thr = accuracy(pred, target, topk=(2,), thrs=(0., 0.35))[0]
    assert close(per_thr[0], [100.0]) and close(per_thr[1], [50.0])


def test_accuracy_module_and_errors():
    acc = Accuracy(topk=(1, 2))(torch.tensor(SCORES), torch.tensor(TARGETS))
    assert [a.tolist() for a in acc] == [[25.0], [100.0]]
    with pytest.raises(ValueError, match='top-5'):
        accuracy(torch.tensor(SCORES), torch.tensor(TARGETS), topk=(1, 5))
    with pytest.raises(TypeError):
        accuracy(SCORES, TARGETS)
    with pytest.raises(ValueError, match='positive'):
        accuracy(torch.tensor(SCORES), torch.tensor(TARGETS), topk=(0,))
