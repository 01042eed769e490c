"""Exponential moving average of the weights, evaluated and saved alongside the model."""

from __future__ import annotations

import torch

from ...errors import ConfigError
from ..checkpoint import unwrap_model
from .hook import HOOKS, Hook


@HOOKS.register_module()
class EMAHook(Hook):
    """``custom_hooks=[dict(type='EMAHook', momentum=0.0002, interval=1, warm_up=100)]``, as mmcv's.

    After iteration ``t`` (counted from 0) with ``t % interval == 0``: ``ema = (1 - m) * ema + m * weights``
    over the float parameters, with ``m = min(momentum ** interval, (1 + t) / (warm_up + t))`` (a smaller
    weight in the first iterations, when the weights move fast); buffers (BatchNorm statistics) are the
    model's own. The EMA weights are evaluated after each evaluation of the model (metrics prefixed
    ``ema_``) and saved in checkpoints as ``state_dict_ema``.
    """

    # after the training step, before CheckpointHook (50) saves
    priority = 45

    def __init__(self, momentum: float = 0.0002, interval: int = 1, warm_up: int = 100, resume_from=None):
        if not 0 < momentum < 1:
            raise ConfigError(f'EMAHook momentum must be in (0, 1), got {momentum}')
        if not isinstance(interval, int) or interval < 1:
            raise ConfigError(f'EMAHook interval must be a positive int, got {interval!r}')
        if resume_from is not None:
            raise ConfigError('EMAHook resume_from is not supported: resume the whole run with --resume, which '
                              'restores the EMA weights saved in the checkpoint')
        self.momentum, self.interval, self.warm_up = momentum ** interval, interval, max(int(warm_up), 0)
        self.ema: dict[str, torch.Tensor] = {}

    def before_run(self, runner) -> None:
        if not self.ema:
            state = unwrap_model(runner.model).state_dict()
            self.ema = {k: v.detach().clone() for k, v in state.items()}

    def momentum_at(self, it: int) -> float:
        """The weight of the current weights in the average after iteration ``it``."""
        return min(self.momentum, (1 + it) / (self.warm_up + it)) if self.warm_up + it > 0 else self.momentum

    @torch.no_grad()
    def after_train_iter(self, runner) -> None:
        if runner.iter % self.interval:
            return
        model = unwrap_model(runner.model)
        params = {name for name, p in model.named_parameters() if p.is_floating_point()}
        averaged, current = [], []
        for key, value in model.state_dict().items():
            if key in params:
                averaged.append(self.ema[key])
                current.append(value.detach())
            else:
                self.ema[key].copy_(value)
        torch._foreach_lerp_(averaged, current, self.momentum_at(runner.iter))

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
