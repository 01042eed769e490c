"""LR policies give the values their formulas say, with warmup, by epoch or by iteration."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from imgcls.engine.hooks import build_lr_updater
from imgcls.errors import ConfigError


def lrs_over(lr_config: dict, epochs: int = 10, iters_per_epoch: int = 10, base_lr: float = 0.1) -> list[float]:
    """The lr at every iteration, simulating the runner's counters."""
    hook = build_lr_updater(lr_config)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base_lr)
    runner = SimpleNamespace(optimizer=opt, epoch=0, iter=0, max_epochs=epochs,
                             max_iters=epochs * iters_per_epoch, iters_per_epoch=iters_per_epoch)
    hook.before_run(runner)
    out = []
    for epoch in range(epochs):
        runner.epoch = epoch
        hook.before_train_epoch(runner)
        for _ in range(iters_per_epoch):
            hook.before_train_iter(runner)
            out.append(opt.param_groups[0]['lr'])
            runner.iter += 1
    return out


def test_step_policy_multiplies_by_gamma_at_each_step():
    lrs = lrs_over(dict(policy='step', step=[3, 6], gamma=0.1))
    assert lrs[0] == pytest.approx(0.1) and lrs[29] == pytest.approx(0.1)
    assert lrs[30] == pytest.approx(0.01) and lrs[60] == pytest.approx(0.001)


def test_step_policy_with_int_step():
    lrs = lrs_over(dict(policy='step', step=4, gamma=0.5))
    assert lrs[39] == pytest.approx(0.1) and lrs[40] == pytest.approx(0.05) and lrs[80] == pytest.approx(0.025)


def test_cosine_by_iteration_hits_the_formula():
    lrs = lrs_over(dict(policy='CosineAnnealing', min_lr=0.0, by_epoch=False))
    for i in (0, 25, 50, 99):
        assert lrs[i] == pytest.approx(0.05 * (1 + math.cos(math.pi * i / 100)))


def test_cosine_by_epoch_is_constant_within_an_epoch():
    lrs = lrs_over(dict(policy='CosineAnnealing', min_lr_ratio=0.01))
    assert len(set(lrs[10:20])) == 1
    assert lrs[10] == pytest.approx(0.001 + 0.5 * (0.1 - 0.001) * (1 + math.cos(math.pi * 0.1)))


def test_linear_warmup_then_schedule():
    lrs = lrs_over(dict(policy='step', step=[8], warmup='linear', warmup_iters=10, warmup_ratio=0.1))
    assert lrs[0] == pytest.approx(0.01)  # starts at warmup_ratio * lr
    assert lrs[5] == pytest.approx(0.1 * (1 - (1 - 5 / 10) * 0.9))
    assert lrs[10] == pytest.approx(0.1)


def test_warmup_by_epoch_counts_epochs():
    lrs = lrs_over(dict(policy='fixed', warmup='constant', warmup_iters=2, warmup_by_epoch=True, warmup_ratio=0.5))
    assert lrs[19] == pytest.approx(0.05) and lrs[20] == pytest.approx(0.1)


def test_exp_warmup():
    lrs = lrs_over(dict(policy='fixed', warmup='exp', warmup_iters=10, warmup_ratio=0.1))
    assert lrs[0] == pytest.approx(0.01) and lrs[5] == pytest.approx(0.1 * 0.1 ** 0.5)


def test_poly_exp_and_restarts():
    assert lrs_over(dict(policy='poly', power=2.0, min_lr=0.0, by_epoch=False))[50] == pytest.approx(0.1 * 0.25)
    assert lrs_over(dict(policy='exp', gamma=0.9))[30] == pytest.approx(0.1 * 0.9 ** 3)
    lrs = lrs_over(dict(policy='CosineRestart', periods=[5, 5], restart_weights=[1, 0.5], min_lr=0.0))
    assert lrs[0] == pytest.approx(0.1) and lrs[50] == pytest.approx(0.05)


def test_one_cycle_peaks_at_pct_start():
    lrs = lrs_over(dict(policy='OneCycle', max_lr=1.0, pct_start=0.3, div_factor=25, final_div_factor=1e4))
    assert lrs[0] == pytest.approx(1.0 / 25)
    assert max(lrs) == pytest.approx(1.0, rel=1e-3) and abs(lrs.index(max(lrs)) - 29) <= 1
    assert lrs[-1] == pytest.approx(1.0 / 25 / 1e4, rel=1e-2)


def test_linear_annealing():
    lrs = lrs_over(dict(policy='LinearAnnealing', min_lr=0.0, by_epoch=False))
    assert lrs[50] == pytest.approx(0.05)


@pytest.mark.parametrize('cfg', [dict(policy='step', step=-1), dict(policy='step', step=[1], warmup='cubic',
                                                                      warmup_iters=3), dict(step=[1])])
def test_bad_lr_config_is_reported(cfg):
    with pytest.raises(ConfigError):
        build_lr_updater(cfg)


def test_cosine_annealing_cooldown_as_mmcls_t2t_vit():
    # 10 epochs, cool_down_time=3: cosine over epochs 0..7 towards min_lr, then min_lr * ratio for epochs 8, 9
    lrs = lrs_over(dict(policy='CosineAnnealingCooldown', min_lr=0.01, cool_down_time=3, cool_down_ratio=0.1))
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[40] == pytest.approx(0.01 + 0.5 * (0.1 - 0.01) * (1 + math.cos(math.pi * 4 / 7)))
    assert lrs[70] == pytest.approx(0.01 + 0.5 * (0.1 - 0.01) * (1 + math.cos(math.pi)))  # epoch 7 = 10 - 3
    assert lrs[80] == pytest.approx(0.001) and lrs[99] == pytest.approx(0.001)
    # by iteration, 100 iterations, cool_down_time=2: iteration 98 ends the cosine, 99 cools down
    ratio = lrs_over(dict(policy='CosineAnnealingCooldown', min_lr_ratio=0.5, cool_down_time=2, by_epoch=False))
    assert ratio[98] == pytest.approx(0.1 * 0.5) and ratio[99] == pytest.approx(0.1 * 0.5 * 0.1)


def test_cooldown_needs_one_of_min_lr_and_ratio():
    with pytest.raises(ConfigError, match='exactly one of min_lr and min_lr_ratio'):
        build_lr_updater(dict(policy='CosineAnnealingCooldown', min_lr=0.1, min_lr_ratio=0.1))
