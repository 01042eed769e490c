"""StopAtTargetHook: training ends after the first evaluation that reaches the target, and says so."""

import logging

import pytest
import torch

from imgcls.engine import choose_speed_settings
from imgcls.engine.hooks import CheckpointHook, EvalHook, StopAtTargetHook, get_priority
from imgcls.engine.runner import EpochBasedRunner, IterBasedRunner
from imgcls.errors import ConfigError


class _Model(torch.nn.Linear):
    def train_step(self, data, optimizer=None):  # the runner wraps it; these tests never step
        raise AssertionError('not called')


def _runner(cls, tmp_path, **kw):
    model = _Model(2, 2)
    speed = choose_speed_settings(torch.device('cpu'), amp=None, channels_last=False)
    runner = cls(model, torch.optim.SGD(model.parameters(), lr=0.1), tmp_path, speed, **kw)
    runner.iters_per_epoch = 10
    return runner


def test_stops_after_the_first_evaluation_at_the_target(tmp_path, caplog):
    runner = _runner(EpochBasedRunner, tmp_path, max_epochs=10)
    hook = StopAtTargetHook(target=97.0)
    runner.last_eval = {'accuracy_top-1': 96.9}
    runner.epoch = 3
    hook.after_train_epoch(runner)
    assert runner.max_epochs == 10  # 96.9 < 97: go on
    runner.epoch = 4
    hook.after_train_epoch(runner)  # the same results again (no evaluation this epoch): not judged twice
    runner.last_eval = {'accuracy_top-1': 97.0}
    runner.epoch = 6
    with caplog.at_level(logging.INFO, logger='imgcls'):
        hook.after_train_epoch(runner)
    assert runner.max_epochs == 7 and runner.max_iters == 70  # the run ends after this (the 7th) epoch
    assert ('accuracy_top-1 = 97.00 reached the target 97 at epoch 7 of 10: training stops here '
            '(StopAtTargetHook; remove it from custom_hooks to train all 10 epochs)') in caplog.text


def test_iteration_runner_and_the_less_rule(tmp_path):
    runner = _runner(IterBasedRunner, tmp_path, max_iters=1000)
    hook = StopAtTargetHook(target=0.5, metric='loss', rule='less')
    runner.last_eval, runner.iter = {'loss': 0.7}, 199
    hook.after_train_iter(runner)
    assert runner.max_iters == 1000
    runner.last_eval, runner.iter = {'loss': 0.4}, 399
    hook.after_train_epoch(runner)  # an iteration runner is judged after iterations only
    assert runner.max_iters == 1000
    hook.after_train_iter(runner)
    assert runner.max_iters == 400


def test_runs_between_evaluation_and_checkpoint():
    # evaluation first (its results are judged), the checkpoint after (it saves the new last epoch)
    assert get_priority(EvalHook.priority) < StopAtTargetHook.priority < get_priority(CheckpointHook.priority)


def test_bad_arguments_and_a_missing_metric(tmp_path):
    with pytest.raises(ConfigError, match=r'^custom_hooks: StopAtTargetHook.target must be a finite number, got '):
        StopAtTargetHook(target='97')
    with pytest.raises(ConfigError, match=r"StopAtTargetHook.rule must be 'greater' or 'less', got 'more'"):
        StopAtTargetHook(target=97, rule='more')
    runner = _runner(EpochBasedRunner, tmp_path, max_epochs=10)
    runner.last_eval = {'accuracy_top-1': 99.0, 'accuracy_top-5': 100.0}
    with pytest.raises(ConfigError, match=r"StopAtTargetHook.metric 'accuracy' is not among the evaluation results "
                                          r'\(accuracy_top-1, accuracy_top-5\)'):
        StopAtTargetHook(target=97, metric='accuracy').after_train_epoch(runner)
