"""PreciseBN: recompute BatchNorm statistics over many training batches before evaluating."""

from __future__ import annotations

import itertools

import torch

from ...errors import ConfigError
from ...warn import warn_once
from ..checkpoint import unwrap_model
from ..dist import all_reduce_mean, get_world_size
from .hook import HOOKS, Hook


@HOOKS.register_module()
class PreciseBNHook(Hook):
    """``custom_hooks=[dict(type='PreciseBNHook', num_samples=8192, interval=1)]``.

    The running averages BN keeps during training lag behind the weights; averaging the batch
    statistics of ``num_samples`` training images with the final weights gives better eval accuracy
    (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021).
    """

    # before EvalHook (ABOVE_NORMAL = 40) evaluates
    priority = 35

    def __init__(self, num_samples: int = 8192, interval: int = 1):
        for key, value in (('num_samples', num_samples), ('interval', interval)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f'PreciseBNHook {key} must be a positive int, got {value!r}')
        self.num_samples, self.interval = num_samples, interval

    def before_run(self, runner) -> None:
        if not runner.by_epoch:
            warn_once(runner.logger, 'PreciseBNHook', 'custom_hooks: PreciseBNHook runs after training epochs '
                      '(every `interval` epochs, as in mmcls); with an IterBasedRunner it never runs')

    def after_train_epoch(self, runner) -> None:
        if runner.by_epoch and self.every_n_epochs(runner, self.interval):
            self.update_bn_stats(runner)

    @torch.no_grad()
    def update_bn_stats(self, runner) -> None:
        model = unwrap_model(runner.model)
        was_training = model.training
        model.train()  # frozen stages and norm_eval keep their BatchNorms in eval mode: those are left alone
        bns = [m for m in model.modules()
               if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats and m.training]
        if not bns:
            model.train(was_training)
            return
        loader = runner.train_loader
        batch_size = loader.batch_size or 1
        # num_samples over all processes, as mmcls counts them
        num_iters = max(1, min(len(loader), self.num_samples // (batch_size * get_world_size())))
        momenta = [bn.momentum for bn in bns]
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the batches below
        for data in itertools.islice(loader, num_iters):
            with runner.speed.autocast():
                # the training batches as the step sees them (batch augments included), as mmcls does
                img, _ = model.data_preprocessor(data['img'], data.get('gt_label'), training=True)
                model.extract_feat(img)
        for bn, momentum in zip(bns, momenta):
            bn.momentum = momentum
            bn.running_mean.copy_(all_reduce_mean(bn.running_mean))
            bn.running_var.copy_(all_reduce_mean(bn.running_var))
        model.train(was_training)
        runner.logger.info(f'PreciseBN: recomputed {len(bns)} BatchNorm statistics over {num_iters} batches')
