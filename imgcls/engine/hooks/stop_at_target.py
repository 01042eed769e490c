"""``custom_hooks = [dict(type='StopAtTargetHook', metric='accuracy_top-1', target=97.0)]``: end training early."""

from __future__ import annotations

import math
from numbers import Real

from ...errors import ConfigError
from .hook import HOOKS, Hook

__all__ = ['StopAtTargetHook']


@HOOKS.register_module()
class StopAtTargetHook(Hook):
    """Ends training after the first evaluation whose ``metric`` reaches ``target``, and says so.

    The run stops as if the schedule ended there: the checkpoint hook saves that epoch (or iteration) as the
    last one, and the final evaluation is that evaluation. Without such an evaluation the full schedule runs.

    Args:
        metric: a key of the evaluation results, e.g. ``'accuracy_top-1'`` or ``'loss'``.
        target: the value to reach.
        rule: ``'greater'`` (stop at ``>= target``) or ``'less'`` (stop at ``<= target``).
    """

    # after EvalHook (ABOVE_NORMAL, 40), before CheckpointHook (NORMAL, 50), so that the latter saves the last step
    priority = 45

    def __init__(self, target: float, metric: str = 'accuracy_top-1', rule: str = 'greater'):
        where = 'custom_hooks: StopAtTargetHook'
        if not isinstance(target, Real) or isinstance(target, bool) or not math.isfinite(target):
            raise ConfigError(f'{where}.target must be a finite number, got {target!r}')
        if not isinstance(metric, str) or not metric:
            raise ConfigError(f'{where}.metric must be the name of an evaluation result, got {metric!r}')
        if rule not in ('greater', 'less'):
            raise ConfigError(f"{where}.rule must be 'greater' or 'less', got {rule!r}")
        self.target, self.metric, self.rule = float(target), metric, rule
        self._seen: dict | None = None  # the evaluation results already judged

    def after_train_epoch(self, runner) -> None:
        if runner.by_epoch:
            self._judge(runner)

    def after_train_iter(self, runner) -> None:
        if not runner.by_epoch:
            self._judge(runner)

    def _judge(self, runner) -> None:
        results = runner.last_eval
        if not results or results is self._seen:  # no evaluation at this step
            return
        self._seen = results
        if self.metric not in results:
            raise ConfigError(f'custom_hooks: StopAtTargetHook.metric {self.metric!r} is not among the evaluation '
                              f'results ({", ".join(sorted(results))}); name one of them')
        value = float(results[self.metric])
        reached = value >= self.target if self.rule == 'greater' else value <= self.target
        if not reached:
            return
        if runner.by_epoch:
            done, total, unit = runner.epoch + 1, runner.max_epochs, 'epoch'
            # the runner ends when epoch >= max_epochs; the LR schedule no longer matters
            runner._max_epochs, runner._max_iters = done, None
        else:
            done, total, unit = runner.iter + 1, runner.max_iters, 'iteration'
            runner._max_iters = done
        if done < total:
            runner.logger.info(f'{self.metric} = {value:.2f} reached the target {self.target:g} at {unit} {done} of '
                               f'{total}: training stops here (StopAtTargetHook; remove it from custom_hooks to '
                               f'train all {total} {unit}s)')
