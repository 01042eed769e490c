"""The training step: accumulation groups, clipping, loss scaling, DDP no_sync, its settings from optimizer_config."""

from __future__ import annotations

import contextlib
import logging

import pytest
import torch
import torch.nn as nn

from imgcls.engine.hooks import HOOKS
from imgcls.engine.precision import SpeedSettings
from imgcls.engine.step import TrainStep, accumulation_group, make_grad_scaler
from imgcls.engine.warn import reset_warnings
from imgcls.errors import ConfigError

CPU = torch.device('cpu')


def fp32(use_scaler: bool = False) -> SpeedSettings:
    return SpeedSettings(device=CPU, amp_dtype=None, channels_last=False, compile=False, use_scaler=use_scaler,
                         reason='test')


class Forward:
    """A linear model's mean squared error, shaped like ``model.train_step``'s output."""

    def __init__(self, model: nn.Module):
        self.model = model

    def __call__(self, data: dict) -> dict:
        loss = ((self.model(data['x']) - data['y']) ** 2).mean()
        return {'loss': loss, 'log_vars': {'loss': loss.detach()}, 'num_samples': len(data['x'])}


def linear(weight: float = 0.0) -> nn.Linear:
    model = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(weight)
    return model


def batch(rows: list[list[float]], ys: list[float]) -> dict:
    return {'x': torch.tensor(rows), 'y': torch.tensor(ys)[:, None]}


def test_accumulation_groups_by_hand():
    # 10 iterations, groups of 4: [0-3], [4-7], [8-9]; the short last group divides by 2
    got = [accumulation_group(i, 10 - i, 4) for i in range(10)]
    assert got == [(False, 4), (False, 4), (False, 4), (True, 4), (False, 4), (False, 4), (False, 4), (True, 4),
                   (False, 2), (True, 2)]
    assert [accumulation_group(i, 3 - i, 1) for i in range(3)] == [(True, 1)] * 3
    # an IterBasedRunner that stops after 6 iterations of a 10-iteration epoch: [0-3], [4-5]
    assert accumulation_group(4, 2, 4) == (False, 2) and accumulation_group(5, 1, 4) == (True, 2)


def test_two_accumulated_half_batches_update_like_the_whole_batch():
    rows, ys = [[1.0, 2.0], [3.0, -1.0], [0.5, 0.5], [2.0, 1.0]], [1.0, 2.0, -1.0, 0.5]
    whole, halves = linear(0.1), linear(0.1)
    step = TrainStep(Forward(whole), torch.optim.SGD(whole.parameters(), lr=0.1), fp32())
    step(batch(rows, ys))
    acc = TrainStep(Forward(halves), torch.optim.SGD(halves.parameters(), lr=0.1), fp32())
    acc.configure(cumulative_iters=2)
    acc(batch(rows[:2], ys[:2]), apply=False, divisor=2)
    assert torch.equal(halves.weight, torch.full((1, 2), 0.1))  # no update yet
    acc(batch(rows[2:], ys[2:]), apply=True, divisor=2)
    torch.testing.assert_close(halves.weight, whole.weight)
    assert halves.weight.grad is None  # zeroed after the update


def test_grad_clip_limits_the_update_and_logs_the_true_norm():
    model = linear(0.0)
    step = TrainStep(Forward(model), torch.optim.SGD(model.parameters(), lr=1.0), fp32())
    step.configure(grad_clip=dict(max_norm=0.5))
    # loss = (w·x - y)^2 at w=0, x=(3, 4), y=1: gradient -2y·x = (-6, -8), norm 10
    out = step(batch([[3.0, 4.0]], [1.0]))
    assert out['log_vars']['grad_norm'].item() == pytest.approx(10.0)
    torch.testing.assert_close(model.weight, torch.tensor([[0.3, 0.4]]))  # -lr * grad * 0.5/10


def test_fixed_loss_scale_stays_and_a_dict_configures_the_scaler():
    scaler, fixed = make_grad_scaler(CPU, 512.0)
    assert fixed == 512.0 and scaler.get_scale() == 512.0
    model = linear(0.0)
    step = TrainStep(Forward(model), torch.optim.SGD(model.parameters(), lr=1.0), fp32(use_scaler=True))
    step.configure(loss_scale=dict(init_scale=8.0, growth_interval=1))
    step(batch([[3.0, 4.0]], [1.0]))
    assert step.scaler.get_scale() == 16.0  # one finite step with growth_interval=1 doubles the scale
    torch.testing.assert_close(model.weight, torch.tensor([[6.0, 8.0]]))  # the unscaled gradient was applied
    step.configure(loss_scale=512.0)
    step(batch([[3.0, 4.0]], [1.0]))
    assert step.scaler.get_scale() == 512.0 and step.fixed_scale == 512.0


@pytest.mark.parametrize('bad', ['auto', -1, True, [512]])
def test_bad_loss_scale_names_the_key(bad):
    with pytest.raises(ConfigError, match=r'fp16\.loss_scale'):
        make_grad_scaler(CPU, bad)


def test_loss_scale_without_fp16_is_said_once(caplog):
    reset_warnings()
    model = linear()
    step = TrainStep(Forward(model), torch.optim.SGD(model.parameters(), lr=1.0), fp32(),
                     logger=logging.getLogger('imgcls.test'))
    with caplog.at_level(logging.WARNING, logger='imgcls.test'):
        step.configure(loss_scale=512.0)
        step.configure(loss_scale=512.0)
    said = [r.getMessage() for r in caplog.records if 'fp16.loss_scale' in r.getMessage()]
    assert said == ['fp16.loss_scale=512.0 is not used: this run trains in fp32 on cpu, which needs no loss scaling']
    assert step.scaler is None


def test_accumulation_skips_the_gradient_all_reduce_until_the_update():
    entered = []

    class FakeDDP(Forward):
        @contextlib.contextmanager
        def no_sync(self):
            entered.append(True)
            yield

    model = linear()
    step = TrainStep(FakeDDP(model), torch.optim.SGD(model.parameters(), lr=0.1), fp32())
    step(batch([[1.0, 1.0]], [1.0]), apply=False, divisor=2)
    step(batch([[1.0, 1.0]], [1.0]), apply=True, divisor=2)
    assert entered == [True]


def test_optimizer_config_names_build_the_step_settings():
    for name in ('OptimizerHook', 'GradientCumulativeOptimizerHook', 'Fp16OptimizerHook'):
        hook = HOOKS.build(dict(type=name, grad_clip=dict(max_norm=1.0), cumulative_iters=3, loss_scale=64.0))
        assert hook.step_settings() == dict(grad_clip=dict(max_norm=1.0), cumulative_iters=3, loss_scale=64.0)
    with pytest.raises(ConfigError, match='optimizer_config.cumulative_iters'):
        HOOKS.build(dict(type='GradientCumulativeOptimizerHook', cumulative_iters=0))
    with pytest.raises(ConfigError, match=r"optimizer_config.grad_clip has unknown key\(s\) \['max_nrom'\]"):
        HOOKS.build(dict(type='OptimizerHook', grad_clip=dict(max_norm=1.0, max_nrom=2)))
