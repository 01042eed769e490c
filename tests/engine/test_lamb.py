"""Lamb: the LAMB update of mmcls's rsb recipes, checked against the formula worked by hand."""

import math

import pytest
import torch

from imgcls.engine import build_optimizer
from imgcls.errors import ConfigError


def _one_step(**kwargs):
    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[3.0, 4.0]]))  # ||w|| = 5
    opt = build_optimizer(model, dict(type='Lamb', lr=0.1, **kwargs))
    model.weight.grad = torch.tensor([[0.6, 0.8]])  # ||g|| = 1
    opt.step()
    return model.weight.detach()[0]


def test_first_step_by_hand():
    # step 1 with bias correction: m_hat = g, v_hat = g^2, so m_hat / (sqrt(v_hat) + eps) = sign(g) (eps 0)
    # u = (1, 1) + 0.5 * (3, 4) = (2.5, 3); trust ratio = 5 / ||u||; w -= 0.1 * ratio * u
    w = _one_step(weight_decay=0.5, eps=0.0)
    u = torch.tensor([2.5, 3.0])
    expected = torch.tensor([3.0, 4.0]) - 0.1 * (5 / math.hypot(2.5, 3.0)) * u
    torch.testing.assert_close(w, expected)


def test_without_weight_decay_no_trust_ratio_and_global_grad_clipping():
    # weight_decay=0: plain Adam-like step of size lr per coordinate (no trust ratio)
    torch.testing.assert_close(_one_step(weight_decay=0.0, eps=0.0), torch.tensor([2.9, 3.9]))
    # a gradient of norm 1 clipped to 0.5 gives the same first step: Adam's step ignores the gradient's scale
    torch.testing.assert_close(_one_step(weight_decay=0.0, eps=0.0, max_grad_norm=0.5), torch.tensor([2.9, 3.9]))


def test_trains_a_model_and_bad_arguments_are_named():
    torch.manual_seed(0)
    x, y = torch.randn(64, 4), torch.randn(64, 1)
    model = torch.nn.Linear(4, 1)
    opt = build_optimizer(model, dict(type='Lamb', lr=0.05, weight_decay=0.0))
    first = None
    for _ in range(50):
        loss = torch.nn.functional.mse_loss(model(x), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.8 * first
    with pytest.raises(ConfigError, match=r'Lamb betas must be two numbers in \[0, 1\)'):
        build_optimizer(model, dict(type='Lamb', lr=0.01, betas=(0.9, 1.5)))
