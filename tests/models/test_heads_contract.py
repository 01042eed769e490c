"""Every head imgcls registers: forward gives logits, simple_test scores, forward_train a loss that trains.

A head registered without an entry in SMALL is built with ``num_classes`` and ``in_channels`` and fed a
tuple of (N, in_channels) feature vectors; add an entry when it needs other arguments or inputs.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

import imgcls.models  # noqa: F401  (registers every head)
from imgcls.errors import ConfigError
from imgcls.models.builder import HEADS, build_head
from imgcls.models.heads import MultiLabelClsHead

N, C, D = 3, 4, 8
D2 = 6  # the second branch's width in two-branch inputs (Conformer)
FEATURES = dict(num_classes=C, in_channels=D)
# type -> (kwargs, input kind): 'features' (N, D) vectors, 'logits' (N, C) scores, 'map' (N, D, 2, 2) feature
# maps, 'vit' [patch, cls] tokens, 'deit' [patch, cls, dist] tokens, 'conformer' [(N, D) cnn, (N, D2) transformer]
SMALL: dict[str, tuple[dict, str]] = {
    'ClsHead': ({}, 'logits'),
    'MultiLabelClsHead': ({}, 'logits'),
    'LinearClsHead': (FEATURES, 'features'),
    'MultiLabelLinearClsHead': (FEATURES, 'features'),
    'StackedLinearClsHead': (dict(mid_channels=[6], **FEATURES), 'features'),
    'VisionTransformerClsHead': (dict(hidden_dim=6, **FEATURES), 'vit'),
    # a distilled head (the default) infers only: see test_efficientformer.py
    'EfficientFormerClsHead': (dict(distillation=False, **FEATURES), 'features'),
    'DeiTClsHead': (dict(hidden_dim=6, **FEATURES), 'deit'),
    'ConformerHead': (dict(num_classes=C, in_channels=[D, D2]), 'conformer'),
    # 4 heads: the softmax-attention temperatures and the max pooling one (99)
    'CSRAClsHead': (dict(num_heads=4, lam=0.1, **FEATURES), 'map'),
}
DEFAULT = (FEATURES, 'features')
NAMES = sorted(k for k in HEADS.keys() if getattr(HEADS.get(k), '__module__', '').startswith('imgcls.'))


def _inputs(kind: str) -> tuple[tuple, list[torch.Tensor]]:
    """A one-output backbone/neck output of ``kind`` and the tensors that gradients should reach."""
    g = torch.Generator().manual_seed(0)

    def leaf(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, requires_grad=True)

    if kind in ('vit', 'deit'):  # the patch tokens feed no classifier: no gradient expected there
        tokens = [leaf(N, D) for _ in range(1 if kind == 'vit' else 2)]
        return ([torch.randn(N, D, 2, 2, generator=g), *tokens],), tokens
    if kind == 'conformer':
        branches = [leaf(N, D), leaf(N, D2)]
        return (branches,), branches
    x = leaf(N, D, 2, 2) if kind == 'map' else leaf(N, C if kind == 'logits' else D)
    return (x,), [x]


def _tensors(out) -> list[torch.Tensor]:
    """The tensors in ``out``: a two-branch head's pre_logits is a pair of tensors, as in mmcls."""
    return [out] if isinstance(out, torch.Tensor) else [t for item in out for t in _tensors(item)]


def _build(name: str, init: bool = True, **extra):
    kwargs, kind = SMALL.get(name, DEFAULT)
    torch.manual_seed(0)
    head = build_head(dict(type=name, **{**kwargs, **extra}))
    if init:
        head.init_weights()
    return head, *_inputs(kind)


def _labels(name: str) -> torch.Tensor:
    if issubclass(HEADS.get(name), MultiLabelClsHead):
        return torch.tensor([[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 1]])
    return torch.tensor([0, 3, 1])


def test_every_head_is_covered():
    assert {'ClsHead', 'LinearClsHead', 'MultiLabelLinearClsHead'} <= set(NAMES)


@pytest.mark.parametrize('name', NAMES)
def test_forward_and_simple_test_agree(name):
    """simple_test is the softmax (sigmoid for multi-label heads) of forward's (N, C) logits."""
    head, x, _ = _build(name)
    head.eval()
    with torch.no_grad():
        logits = head(x)
        scores = head.simple_test(x, post_process=False)
        listed = head.simple_test(x)
        features = head.pre_logits(x)
    assert logits.shape == (N, C) and all(t.shape[0] == N for t in _tensors(features)) and _tensors(features)
    multi_label = issubclass(HEADS.get(name), MultiLabelClsHead)
    torch.testing.assert_close(scores, torch.sigmoid(logits) if multi_label else torch.softmax(logits, dim=1))
    assert isinstance(listed, list) and len(listed) == N
    assert all(isinstance(row, np.ndarray) and row.shape == (C,) for row in listed)
    np.testing.assert_allclose(np.stack(listed), scores.numpy(), rtol=1e-6)


@pytest.mark.parametrize('name', NAMES)
def test_forward_train_gives_a_loss_that_trains(name):
    # PyTorch's default init: some heads' init_cfg zeroes the last layer (ViT), which stops the input gradient
    head, x, leaves = _build(name, init=False)
    head.train()
    losses = head.forward_train(x, _labels(name))
    assert isinstance(losses, dict) and losses['loss'].dim() == 0 and torch.isfinite(losses['loss'])
    losses['loss'].backward()
    assert all(leaf.grad is not None and leaf.grad.abs().sum() > 0 for leaf in leaves)
    assert all(p.grad is not None for p in head.parameters() if p.requires_grad)


@pytest.mark.parametrize('name', NAMES)
def test_bad_num_classes_is_reported(name):
    if 'num_classes' not in inspect.signature(HEADS.get(name)).parameters:
        pytest.skip(f'{name} takes no num_classes')
    with pytest.raises(ConfigError, match=rf"{name}.*num_classes=0 must be a positive integer"):
        _build(name, num_classes=0)
