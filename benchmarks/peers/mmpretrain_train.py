"""Train ResNet-18 (CIFAR stem) on the prepared digits with mmpretrain 1.x, through mmengine's Runner.

Runs in the suite's mmpretrain virtual environment (never imports imgcls). It does what mmpretrain's
``tools/train.py`` does with a config (``Runner.from_cfg(cfg).train()``); the config is written here
because the data is an in-memory dataset registered in mmpretrain's DATASETS registry by this script.

    python mmpretrain_train.py --result r.json --data digits.npz --epochs 5 --batch 128 --recipe bench
    python mmpretrain_train.py --result r.json --data digits.npz --epochs 10 --recipe fitted --target 97

Recipes: ``bench`` is the suite's fixed training recipe (SGD lr 0.1, Nesterov momentum 0.9, weight decay 5e-4,
cosine per iteration, RandomCrop(32, padding=2)); ``default`` is mmpretrain's standard CIFAR-10
schedule (``cifar10_bs128``: SGD lr 0.1, momentum 0.9, weight decay 1e-4, step decay at epochs 100 and
150 of 200) with its CIFAR augmentation minus the horizontal flip (a mirrored digit is another digit);
``fitted`` is that recipe with its steps moved to the same fractions (1/2 and 3/4) of ``--epochs``, so that
a short run goes through the whole schedule.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

from _child import Marks, load_digits_npz, torch_info, write_result

MARKS = Marks()
STATE: dict = {}


def register(args) -> None:
    """Register the in-memory dataset and the timing hook in mmpretrain's registries."""
    from mmengine.hooks import Hook
    from mmpretrain.datasets import BaseDataset
    from mmpretrain.registry import DATASETS, HOOKS

    @DATASETS.register_module(force=True)
    class InMemoryDigits(BaseDataset):
        """The digits split the suite prepared, as (32, 32, 1) uint8 arrays."""

        def __init__(self, npz: str, split: str, train_limit: int = 0, **kwargs):
            self.npz, self.split, self.train_limit = npz, split, train_limit
            super().__init__(ann_file='', classes=[str(i) for i in range(10)], **kwargs)

        def load_data_list(self):
            data = load_digits_npz(self.npz, self.train_limit)
            images, labels = data[f'{self.split}_x'], data[f'{self.split}_y']
            return [{'img': img.transpose(1, 2, 0).copy(), 'gt_label': int(lbl)} for img, lbl in zip(images, labels)]

    @HOOKS.register_module(force=True)
    class SuiteMarks(Hook):
        """Epoch starts, iteration ends and evaluation ends, for the suite's timing."""

        def before_train_epoch(self, runner):
            MARKS.epoch_start()

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            MARKS.iter_end(len(data_batch['inputs']))

        def after_val_epoch(self, runner, metrics=None):
            if MARKS.eval_end(metrics['accuracy/top1']):
                finish(STATE['args'])  # the target is reached: the rest of the schedule does not count
                shutil.rmtree(STATE['work_dir'], ignore_errors=True)
                os._exit(0)


def milestones(recipe: str, epochs: int) -> list[int]:
    """The step-decay epochs: cifar10_bs128's 100 and 150 (of 200), or those fractions of ``epochs``."""
    if recipe == 'default':
        return [100, 150]
    return [max(1, round(epochs * 100 / 200)), max(1, round(epochs * 150 / 200))]


def build_cfg(args, work_dir: str) -> dict:
    bench = args.recipe == 'bench'
    pad = 2 if bench else 4
    dataset = dict(type='InMemoryDigits', npz=args.data)
    if bench:
        sched = dict(type='CosineAnnealingLR', by_epoch=True, T_max=args.epochs, convert_to_iter_based=True)
    else:
        sched = dict(type='MultiStepLR', by_epoch=True, milestones=milestones(args.recipe, args.epochs), gamma=0.1)
    return dict(
        default_scope='mmpretrain',
        work_dir=work_dir,
        model=dict(
            type='ImageClassifier',
            data_preprocessor=dict(num_classes=10, mean=[77.8], std=[96.5], to_rgb=False),
            backbone=dict(type='ResNet_CIFAR', depth=18, in_channels=1, num_stages=4, out_indices=(3, ),
                          style='pytorch'),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=512,
                      loss=dict(type='CrossEntropyLoss', loss_weight=1.0))),
        train_dataloader=dict(
            batch_size=args.batch, num_workers=args.workers, persistent_workers=args.workers > 0,
            sampler=dict(type='DefaultSampler', shuffle=True),
            dataset=dict(dataset, split='train', train_limit=args.train_limit,
                         pipeline=[dict(type='RandomCrop', crop_size=32, padding=pad), dict(type='PackInputs')])),
        val_dataloader=dict(batch_size=128, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                            dataset=dict(dataset, split='val', pipeline=[dict(type='PackInputs')])),
        val_evaluator=dict(type='Accuracy', topk=(1, )),
        train_cfg=dict(by_epoch=True, max_epochs=args.epochs, val_interval=1),
        val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4 if bench else 1e-4,
                                          nesterov=bench)),
        param_scheduler=sched,
        default_hooks=dict(
            timer=dict(type='IterTimerHook'), logger=dict(type='LoggerHook', interval=100),
            param_scheduler=dict(type='ParamSchedulerHook'),
            checkpoint=dict(type='CheckpointHook', interval=1 if args.checkpoints else -1),
            sampler_seed=dict(type='DistSamplerSeedHook')),
        custom_hooks=[dict(type='SuiteMarks', priority='LOWEST')],
        env_cfg=dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
                     dist_cfg=dict(backend='gloo')),
        randomness=dict(seed=0),
        launcher='none',
        log_level='WARNING')


def finish(args) -> None:
    import mmengine
    import mmpretrain
    result = dict(torch_info(), marks=MARKS.as_dict(), top1=MARKS.epochs[-1]['top1'] if MARKS.epochs else None,
                  versions={'mmpretrain': mmpretrain.__version__, 'mmengine': mmengine.__version__},
                  end=time.perf_counter())
    write_result(args.result, result)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--result', required=True)
    p.add_argument('--data', required=True)
    p.add_argument('--recipe', choices=['bench', 'default', 'fitted'], default='bench')
    p.add_argument('--epochs', type=int, default=5)
    p.add_argument('--batch', type=int, default=128)
    p.add_argument('--workers', type=int, default=1)
    p.add_argument('--train-limit', type=int, default=0)
    p.add_argument('--target', type=float)
    p.add_argument('--checkpoints', action='store_true', help='save a checkpoint every epoch (their default)')
    args = p.parse_args(argv)
    STATE['args'] = args
    MARKS.target = args.target
    register(args)
    from mmengine.config import Config
    from mmengine.runner import Runner
    with tempfile.TemporaryDirectory() as work_dir:
        STATE['work_dir'] = work_dir
        Runner.from_cfg(Config(build_cfg(args, work_dir))).train()
        finish(args)
    return 0


if __name__ == '__main__':
    sys.exit(main())
