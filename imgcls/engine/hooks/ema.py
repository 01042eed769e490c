"""Exponential moving average of the weights, evaluated and saved alongside the model."""

from __future__ import annotations

import torch

from ...errors import ConfigError
from ..checkpoint import unwrap_model
from .hook import HOOKS, Hook


@HOOKS.register_module()
class EMAHook(Hook):
    """``custom_hooks=[dict(type='EMAHook', momentum=0.0002, interval=1, warm_up=100)]``.

    Every ``interval`` iterations: ``ema = (1 - m) * ema + m * weights`` over all float parameters and
    buffers, with ``m = momentum``; during the first ``warm_up`` iterations ``m = max(momentum, 1/(iter+1))``,
    so the average starts as a plain mean instead of remembering the random init. The EMA weights
    are evaluated after each evaluation of the model (metrics prefixed ``ema_``) and stored in checkpoints
    under ``hooks.EMAHook`` and as ``state_dict_ema``.
    """

    # after the OptimizerHook (40) has stepped, before CheckpointHook (50) saves
    priority = 45

    def __init__(self, momentum: float = 0.0002, interval: int = 1, warm_up: int = 100, resume_from=None):
        if not 0 < momentum < 1:
            raise ConfigError(f'EMAHook momentum must be in (0, 1), got {momentum}')
        if not isinstance(interval, int) or interval < 1:
            raise ConfigError(f'EMAHook interval must be a positive int, got {interval!r}')
        self.momentum, self.interval, self.warm_up = momentum, interval, max(int(warm_up), 0)
        self.ema: dict[str, torch.Tensor] = {}

    def before_run(self, runner) -> None:
        if not self.ema:
            state = unwrap_model(runner.model).state_dict()
            self.ema = {k: v.detach().clone() for k, v in state.items()}

    def _momentum(self, it: int) -> float:
        """The averaging weight of iteration ``it``: a plain mean over the first iterations, then ``momentum``."""
        if it < self.warm_up:
            return max(self.momentum, 1.0 / (1 + it))
        return self.momentum

    @torch.no_grad()
    def after_train_iter(self, runner) -> None:
        if (runner.iter + 1) % self.interval:
            return
        m = self._momentum(runner.iter)
        state = unwrap_model(runner.model).state_dict()
        floats_ema, floats_now = [], []
        for key, value in state.items():
            target = self.ema[key]
            if value.is_floating_point():
                floats_ema.append(target)
                floats_now.append(value.detach())
            else:
                target.copy_(value)
        torch._foreach_lerp_(floats_ema, floats_now, m)

    def state_dict(self) -> dict:
        return {'ema': self.ema}

    def load_state_dict(self, state: dict) -> None:
        self.ema = {k: v.clone() for k, v in state['ema'].items()}

    def swap(self, runner) -> None:
        """Exchange the model's weights with the EMA weights (call twice to undo)."""
        model = unwrap_model(runner.model)
        with torch.no_grad():
            for key, value in model.state_dict().items():
                tmp = value.detach().clone()
                value.copy_(self.ema[key])
                self.ema[key].copy_(tmp)
