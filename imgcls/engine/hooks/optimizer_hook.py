"""Backward pass, gradient clipping, accumulation and the optimizer step."""

from __future__ import annotations

import torch

from ...errors import ConfigError
from .hook import HOOKS, Hook


@HOOKS.register_module(name=['OptimizerHook', 'GradientCumulativeOptimizerHook', 'Fp16OptimizerHook'])
class OptimizerHook(Hook):
    """``optimizer_config=dict(grad_clip=dict(max_norm=35, norm_type=2), cumulative_iters=1)``."""

    priority = 'ABOVE_NORMAL'

    def __init__(self, grad_clip: dict | None = None, cumulative_iters: int = 1, detect_anomalous_params=False,
                 loss_scale=None, distributed: bool = True, coalesce: bool = True, bucket_size_mb: int = -1):
        # loss_scale / distributed / coalesce / bucket_size_mb: mmcls 0.x options handled elsewhere
        # (the fp16 loss scaler lives in the runner; DDP does the gradient reduction)
        if grad_clip is not None and not (isinstance(grad_clip, dict) and 'max_norm' in grad_clip):
            raise ConfigError(f'optimizer_config.grad_clip must be None or a dict with max_norm, got {grad_clip!r}')
        if not isinstance(cumulative_iters, int) or cumulative_iters < 1:
            raise ConfigError(f'optimizer_config.cumulative_iters must be an int >= 1, got {cumulative_iters!r}')
        self.grad_clip = grad_clip
        self.cumulative_iters = cumulative_iters

    def before_run(self, runner) -> None:
        runner.optimizer.zero_grad(set_to_none=True)

    def after_train_iter(self, runner) -> None:
        loss = runner.outputs['loss']
        if self.cumulative_iters > 1:
            loss = loss / self.cumulative_iters
        scaler = runner.scaler
        (scaler.scale(loss) if scaler is not None else loss).backward()
        # step every cumulative_iters iterations and at the end of the epoch
        if not (self.every_n_iters(runner, self.cumulative_iters) or self.end_of_epoch(runner)):
            return
        if scaler is not None:
            scaler.unscale_(runner.optimizer)
        if self.grad_clip is not None:
            params = [p for g in runner.optimizer.param_groups for p in g['params'] if p.grad is not None]
            if params:
                norm = torch.nn.utils.clip_grad_norm_(params, **self.grad_clip)
                runner.log_buffer.update({'grad_norm': norm.detach()}, 1)
        if scaler is not None:
            scaler.step(runner.optimizer)
            scaler.update()
        else:
            runner.optimizer.step()
        runner.optimizer.zero_grad(set_to_none=True)
