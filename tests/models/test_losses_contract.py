"""Every loss imgcls registers: one calling convention (weight, avg_factor, reduction_override, loss_weight).

A loss registered without an entry in SMALL is built with no arguments and given class indices as
targets; add an entry when it needs arguments or another kind of target.
"""

from __future__ import annotations

import pytest
import torch

import imgcls.models  # noqa: F401  (registers every loss)
from imgcls.errors import ConfigError
from imgcls.models.builder import LOSSES, build_loss

N, C = 4, 5
# type -> (kwargs, target kind): 'index' (N,) class indices, 'multi_hot' (N, C) 0/1, 'soft' (N, C) rows
# summing to 1, 'dense' (N, C) real values
SMALL: dict[str, tuple[dict, str]] = {
    'AsymmetricLoss': ({}, 'multi_hot'),
    'CrossEntropyLoss': ({}, 'index'),
    'FocalLoss': ({}, 'multi_hot'),
    'L1Loss': ({}, 'dense'),
    'LabelSmoothLoss': (dict(label_smooth_val=0.1), 'index'),
    'SeesawLoss': (dict(num_classes=C), 'index'),
    'SoftTargetCrossEntropy': ({}, 'soft'),
}
DEFAULT = ({}, 'index')
NAMES = sorted(k for k in LOSSES.keys() if getattr(LOSSES.get(k), '__module__', '').startswith('imgcls.'))


def _target(kind: str, g: torch.Generator) -> torch.Tensor:
    if kind == 'index':
        return torch.tensor([0, 3, 1, 4])
    if kind == 'multi_hot':
        return torch.tensor([[1, 0, 0, 1, 0], [0, 1, 0, 0, 0], [1, 1, 1, 0, 0], [0, 0, 0, 0, 1]])
    if kind == 'soft':
        return torch.softmax(torch.randn(N, C, generator=g), dim=1)
    return torch.randn(N, C, generator=g)


def _build(name: str, **extra):
    """The loss ``name`` with its small settings plus ``extra``, logits and targets."""
    kwargs, kind = SMALL.get(name, DEFAULT)
    g = torch.Generator().manual_seed(0)
    loss = build_loss(dict(type=name, **kwargs, **extra))
    return loss, torch.randn(N, C, generator=g, requires_grad=True), _target(kind, g)


def test_every_loss_is_covered():
    assert {'CrossEntropyLoss', 'LabelSmoothLoss', 'FocalLoss'} <= set(NAMES)


@pytest.mark.parametrize('name', NAMES)
def test_reductions_agree(name):
    """'sum' and 'mean' are the sum and mean of the 'none' values; the mean loss backpropagates."""
    loss, score, target = _build(name)
    none = loss(score, target, reduction_override='none')
    assert none.shape[0] == N and torch.isfinite(none).all()
    # fresh losses: SeesawLoss counts the labels it has seen, so each call sees the same history
    total = _build(name)[0](score, target, reduction_override='sum')
    mean = _build(name)[0](score, target)
    assert total.dim() == 0 and mean.dim() == 0
    torch.testing.assert_close(total, none.sum())
    torch.testing.assert_close(mean, none.mean())
    mean.backward()
    assert score.grad is not None and score.grad.abs().sum() > 0


@pytest.mark.parametrize('name', NAMES)
def test_loss_weight_sample_weight_and_avg_factor(name):
    loss, score, target = _build(name)
    with torch.no_grad():
        none = loss(score, target, reduction_override='none')
        per_sample = none.reshape(N, -1)
        doubled = _build(name, loss_weight=2.0)[0](score, target, reduction_override='sum')
        torch.testing.assert_close(doubled, 2 * none.sum())
        # a zero sample weight drops that sample (element-wise weights for the dense L1 loss, as in mmcls);
        # avg_factor divides the sum
        weight = torch.tensor([1.0, 0.0, 1.0, 1.0])
        if SMALL.get(name, DEFAULT)[1] == 'dense':
            weight = weight[:, None].expand(N, C)
        weighted = _build(name)[0](score, target, weight=weight, reduction_override='sum')
        torch.testing.assert_close(weighted, per_sample[[0, 2, 3]].sum())
        averaged = _build(name)[0](score, target, avg_factor=2.0)
        torch.testing.assert_close(averaged, none.sum() / 2.0)


@pytest.mark.parametrize('name', NAMES)
def test_bad_reduction_is_reported(name):
    with pytest.raises(ConfigError, match=rf"{name}: reduction must be one of 'none', 'mean', 'sum'.*got 'avg'"):
        _build(name, reduction='avg')
    loss, score, target = _build(name)
    with pytest.raises(ValueError, match=r"reduction must be one of .*got 'avg'"):
        loss(score, target, reduction_override='avg')
