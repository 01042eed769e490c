"""One training step, in one place: forward and loss, backward, gradient clipping, optimizer step, loss scaling.

The mmcls ``optimizer_config`` keys (``grad_clip``, ``cumulative_iters``, the ``loss_scale`` of ``fp16`` /
``Fp16OptimizerHook``) are settings of this step; :class:`~imgcls.engine.hooks.OptimizerHook` only carries them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch

from ..errors import ConfigError
from ..warn import warn_once


class StepForward(torch.nn.Module):
    """``model.train_step`` (preprocess, forward, losses) as a module's forward, so DDP and torch.compile see it."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, data: dict) -> dict:
        return self.model.train_step(data)


def make_grad_scaler(device: torch.device, loss_scale='dynamic') -> tuple[torch.amp.GradScaler, float | None]:
    """A GradScaler for fp16 training and the fixed scale to keep (None: dynamic), as mmcv's ``loss_scale``.

    ``'dynamic'``: grow/back off the scale as usual; a number: always scale by it (steps whose gradients
    overflow are still skipped); a dict: GradScaler arguments (``init_scale``, ``growth_factor``, ...).
    """
    if loss_scale == 'dynamic' or loss_scale is None:
        return torch.amp.GradScaler(device.type), None
    if isinstance(loss_scale, (int, float)) and not isinstance(loss_scale, bool) and loss_scale > 0:
        return torch.amp.GradScaler(device.type, init_scale=float(loss_scale)), float(loss_scale)
    if isinstance(loss_scale, dict):
        try:
            return torch.amp.GradScaler(device.type, **loss_scale), None
        except TypeError as e:
            raise ConfigError(f'fp16.loss_scale={loss_scale!r}: {e}; allowed keys: init_scale, growth_factor, '
                              'backoff_factor, growth_interval') from e
    raise ConfigError(f'fp16.loss_scale={loss_scale!r} is not valid; use "dynamic", a positive number or a dict '
                      'of GradScaler arguments')


class TrainStep:
    """Runs one iteration: forward + loss under autocast, backward, and every ``cumulative_iters`` the update."""

    def __init__(self, forward: Callable[[dict], dict], optimizer: torch.optim.Optimizer, speed, logger=None):
        self.forward, self.optimizer, self.speed, self.logger = forward, optimizer, speed, logger
        self.grad_clip: dict | None = None
        self.cumulative_iters = 1
        self.scaler, self.fixed_scale = (make_grad_scaler(speed.device) if speed.use_scaler else (None, None))
        self.optimizer.zero_grad(set_to_none=True)

    def configure(self, grad_clip: dict | None = None, cumulative_iters: int = 1, loss_scale=None) -> None:
        """Take the ``optimizer_config`` / ``fp16`` settings."""
        self.grad_clip, self.cumulative_iters = grad_clip, cumulative_iters
        if loss_scale is None:
            return
        if self.speed.use_scaler:
            self.scaler, self.fixed_scale = make_grad_scaler(self.speed.device, loss_scale)
        else:  # bf16 and fp32 keep fp32's exponent range: nothing underflows, nothing to scale
            warn_once(self.logger, 'fp16.loss_scale',
                      f'fp16.loss_scale={loss_scale!r} is not used: this run trains in {self.speed.precision_name} '
                      f'on {self.speed.device.type}, which needs no loss scaling')

    def _no_sync(self, apply: bool):
        """Under DDP, skip the gradient all-reduce on the accumulation steps that do not update."""
        no_sync = getattr(self.forward, 'no_sync', None)
        return contextlib.nullcontext() if apply or no_sync is None else no_sync()

    def __call__(self, data: dict, apply: bool = True, divisor: int = 1) -> dict:
        """One iteration on ``data``; ``apply``: update the weights now; ``divisor``: iterations accumulated."""
        with self._no_sync(apply):
            with self.speed.autocast():
                outputs = self.forward(data)  # preprocess, forward, losses (model.train_step)
            loss = outputs['loss'] / divisor if divisor > 1 else outputs['loss']
            (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
        if not apply:
            return outputs
        if self.scaler is not None and self.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the scaled ones
        if self.grad_clip is not None:
            params = [p for g in self.optimizer.param_groups for p in g['params'] if p.grad is not None]
            if params:  # the norm stays a device tensor: logged with the losses, no sync here
                outputs['log_vars']['grad_norm'] = torch.nn.utils.clip_grad_norm_(params, **self.grad_clip)
        if self.scaler is not None:
            # fused optimizers take the scale and inf flag as tensors (and unscale in their kernel when
            # nothing was clipped): no host sync in the step
            self.scaler.step(self.optimizer)
            self.scaler.update(self.fixed_scale)
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return outputs

    def state_dict(self) -> dict | None:
        return self.scaler.state_dict() if self.scaler is not None else None

    def load_state_dict(self, state: dict) -> None:
        if self.scaler is not None:
            self.scaler.load_state_dict(state)


def accumulation_group(inner_iter: int, iters_left_in_epoch: int, cumulative_iters: int) -> tuple[bool, int]:
    """(update now?, iterations in this accumulation group) for iteration ``inner_iter`` of an epoch.

    Groups of ``cumulative_iters`` start at each epoch's first iteration; the last group of an epoch (or of
    the run) may be shorter and its loss is divided by its own size, so every update averages its batches.
    """
    n = cumulative_iters
    start = inner_iter - inner_iter % n
    end = min(start + n, inner_iter + iters_left_in_epoch)
    return inner_iter + 1 == end, end - start
