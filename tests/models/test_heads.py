"""Classification heads: losses dict, accuracy, test-time outputs, init and argument checks."""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from imgcls.models.builder import HEADS, build_head
from imgcls.models.heads import ClsHead, LinearClsHead

LOGITS = torch.tensor([[1., 2., 3.], [0., 0., 0.]])
LABELS = torch.tensor([2, 0])
CE_MEAN = (math.log(1 + math.exp(-1) + math.exp(-2)) + math.log(3)) / 2


def test_heads_are_registered():
    assert {'ClsHead', 'LinearClsHead'} <= set(HEADS.keys())
    head = build_head(dict(type='LinearClsHead', num_classes=3, in_channels=4,
                           loss=dict(type='CrossEntropyLoss', loss_weight=2.0), topk=(1, 2)))
    assert isinstance(head, LinearClsHead) and head.topk == (1, 2)


def test_cls_head_loss_and_accuracy():
    losses = ClsHead().forward_train(LOGITS, LABELS)
    assert list(losses) == ['loss']
    assert torch.allclose(losses['loss'], torch.tensor(CE_MEAN))
    head = ClsHead(topk=(1, 2), cal_acc=True)
    scores = torch.tensor([[1., 2., 3.], [3., 1., 2.]])
    losses = head.forward_train((torch.zeros(2, 3), scores), torch.tensor([2, 2]))  # a tuple: the last counts
    assert set(losses) == {'loss', 'accuracy'}
    assert set(losses['accuracy']) == {'top-1', 'top-2'}
    # sample 0 ranks class 2 first; sample 1 ranks it second
    assert losses['accuracy']['top-1'].tolist() == [50.0]
    assert losses['accuracy']['top-2'].tolist() == [100.0]
    assert ClsHead(topk=1).topk == (1,)
    # training accuracy is on raw logits: a right answer with a negative logit still counts
    losses = head.forward_train(torch.tensor([[-3., -2., -1.]]), torch.tensor([2]))
    assert losses['accuracy']['top-1'].tolist() == [100.0]


@pytest.mark.parametrize('topk', [0, (1, 0), (1, -2), '1', [1, -5], (), 1.5, True])
def test_cls_head_rejects_bad_topk(topk):
    with pytest.raises(ValueError, match='topk'):
        ClsHead(topk=topk)


def test_cls_head_accepts_a_list_topk():
    # JSON / YAML configs and --cfg-options have lists, not tuples
    assert ClsHead(topk=[1, 5]).topk == (1, 5)


def test_cls_head_simple_test():
    head = ClsHead()
    probs = head.simple_test(LOGITS)
    assert isinstance(probs, list) and len(probs) == 2
    assert all(isinstance(p, np.ndarray) and p.shape == (3,) for p in probs)
    np.testing.assert_allclose(probs[1], [1 / 3] * 3, rtol=1e-6)
    raw = head.simple_test(LOGITS, softmax=False, post_process=False)
    assert torch.equal(raw, LOGITS)
    soft = head.simple_test((LOGITS,), post_process=False)
    assert isinstance(soft, torch.Tensor) and torch.allclose(soft.sum(1), torch.ones(2))
    assert torch.equal(head.pre_logits((torch.zeros(1), LOGITS)), LOGITS)


def test_linear_head_train_and_test():
    torch.manual_seed(0)
    head = LinearClsHead(num_classes=3, in_channels=4, cal_acc=True, topk=(1, 3))
    x = torch.randn(2, 4)
    losses = head.forward_train(x, LABELS)
    assert set(losses) == {'loss', 'accuracy'} and losses['loss'].dim() == 0
    assert losses['accuracy']['top-3'].tolist() == [100.0]
    losses['loss'].backward()
    assert head.fc.weight.grad is not None
    scores = head.simple_test((torch.zeros(2, 4), x), post_process=False)
    assert scores.shape == (2, 3) and torch.allclose(scores.sum(1), torch.ones(2))
    logits = head.simple_test(x, softmax=False, post_process=False)
    assert torch.allclose(logits, head.fc(x)) and torch.allclose(head(x), logits)
    out = head.simple_test(x)
    assert len(out) == 2 and out[0].shape == (3,)
    assert torch.equal(head.pre_logits((x, x + 1)), x + 1)


def test_linear_head_state_dict_keys_and_init():
    head = LinearClsHead(num_classes=10, in_channels=2000)
    assert set(head.state_dict()) == {'fc.weight', 'fc.bias'}
    nn.init.constant_(head.fc.bias, 5.)
    torch.manual_seed(0)
    head.init_weights()
    assert torch.all(head.fc.bias == 0)
    assert abs(head.fc.weight.std().item() - 0.01) < 0.001
    assert abs(head.fc.weight.mean().item()) < 0.001


@pytest.mark.parametrize('num_classes', [0, -3])
def test_linear_head_rejects_non_positive_num_classes(num_classes):
    with pytest.raises(ValueError, match=f'num_classes={num_classes}'):
        LinearClsHead(num_classes=num_classes, in_channels=4)


def test_build_error_names_the_bad_value():
    with pytest.raises(ValueError, match='num_classes=0'):
        build_head(dict(type='LinearClsHead', num_classes=0, in_channels=4))


def test_seed_tutorial_style_head():
    """The LinearClsHead of the 'adding new modules' tutorial, written against ClsHead."""

    @HEADS.register_module(force=True)
    class TutorialLinearClsHead(ClsHead):

        def __init__(self, num_classes, in_channels,
                     loss=dict(type='CrossEntropyLoss', loss_weight=1.0),  # noqa: B006 - as the tutorial
                     topk=(1, )):
            super(TutorialLinearClsHead, self).__init__(loss=loss, topk=topk)  # noqa: UP008
            self.in_channels = in_channels
            self.num_classes = num_classes
            if self.num_classes <= 0:
                raise ValueError(f'num_classes={num_classes} must be a positive integer')
            self._init_layers()

        def _init_layers(self):
            self.fc = nn.Linear(self.in_channels, self.num_classes)

        def init_weights(self):
            nn.init.normal_(self.fc.weight, 0, 0.01)
            nn.init.zeros_(self.fc.bias)

        def forward_train(self, x, gt_label):
            cls_score = self.fc(x)
            losses = self.loss(cls_score, gt_label)
            return losses

    head = build_head(dict(type='TutorialLinearClsHead', num_classes=3, in_channels=4, topk=(1, 3)))
    head.init_weights()
    losses = head.forward_train(torch.randn(2, 4), LABELS)
    assert list(losses) == ['loss']
    # near-zero weights give near-uniform scores: loss ~ log(3)
    assert abs(losses['loss'].item() - math.log(3)) < 0.1
