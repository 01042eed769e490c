"""``optimizer_config``: the settings of the training step (clip, accumulation, fp16 loss scale).

The step itself (backward, clip, step, scaler) is :class:`imgcls.engine.step.TrainStep`; registering one of
these hooks with the runner hands it these settings. The three mmcv names are accepted as they are.
"""

from __future__ import annotations

from ...errors import ConfigError
from ...warn import warn_once
from .hook import HOOKS, Hook


@HOOKS.register_module(name=['OptimizerHook', 'GradientCumulativeOptimizerHook', 'Fp16OptimizerHook'])
class OptimizerHook(Hook):
    """``optimizer_config=dict(grad_clip=dict(max_norm=35, norm_type=2), cumulative_iters=1)``.

    ``cumulative_iters=N`` accumulates the gradients of N iterations per update (the loss of each is divided
    by N; groups start at each epoch's first iteration and a shorter last group is divided by its own size).
    ``loss_scale`` (from ``fp16=dict(loss_scale=...)`` or ``Fp16OptimizerHook``) is ``'dynamic'``, a fixed
    number or GradScaler arguments; it applies when training runs in fp16 (CUDA GPUs without bf16).
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, grad_clip: dict | None = None, cumulative_iters: int = 1, detect_anomalous_params=False,
                 loss_scale=None, distributed: bool = True, coalesce: bool = True, bucket_size_mb: int = -1):
        # distributed / coalesce / bucket_size_mb: mmcv's own gradient all-reduce, which DDP does here (always,
        # under torchrun, in its own buckets): mmcv's defaults are what happens, other values are said
        unused = {'distributed': (distributed, True), 'coalesce': (coalesce, True),
                  'bucket_size_mb': (bucket_size_mb, -1)}
        for key, (value, default) in unused.items():
            if value != default:
                warn_once(None, f'optimizer_config.{key}', f'optimizer_config.{key}={value!r} is not used: under '
                          'torchrun DDP all-reduces the gradients, in buckets of its own')
        if grad_clip is not None and not (isinstance(grad_clip, dict) and 'max_norm' in grad_clip):
            raise ConfigError(f'optimizer_config.grad_clip must be None or a dict with max_norm, got {grad_clip!r}')
        if grad_clip is not None:
            unknown = sorted(set(grad_clip) - {'max_norm', 'norm_type', 'error_if_nonfinite', 'foreach'})
            if unknown:
                raise ConfigError(f'optimizer_config.grad_clip has unknown key(s) {unknown}; use max_norm and '
                                  'norm_type')
        if not isinstance(cumulative_iters, int) or cumulative_iters < 1:
            raise ConfigError(f'optimizer_config.cumulative_iters must be an int >= 1, got {cumulative_iters!r}')
        if detect_anomalous_params:
            warn_once(None, 'optimizer_config.detect_anomalous_params',
                      'optimizer_config.detect_anomalous_params is ignored: DDP reports parameters without '
                      'gradients itself (find_unused_parameters)')
        self.grad_clip = dict(grad_clip) if grad_clip is not None else None
        self.cumulative_iters = cumulative_iters
        self.loss_scale = loss_scale

    def step_settings(self) -> dict:
        """The keyword arguments of :meth:`imgcls.engine.step.TrainStep.configure`."""
        return dict(grad_clip=self.grad_clip, cumulative_iters=self.cumulative_iters, loss_scale=self.loss_scale)
