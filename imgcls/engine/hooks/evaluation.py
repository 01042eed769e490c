"""Evaluation during training: ``evaluation=dict(interval=1, metric='accuracy', save_best='auto')``."""

from __future__ import annotations

import difflib
import inspect
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from ...errors import ConfigError, DataError
from ..dist import get_world_size, is_distributed, is_main_process
from ..warn import warn_once
from .checkpoint_hook import link_latest  # noqa: F401  (re-exported for users of this module)
from .ema import EMAHook
from .hook import HOOKS, Hook

_GREATER_KEYS = ('acc', 'top', 'precision', 'recall', 'f1', 'map', 'auc')
_LESS_KEYS = ('loss', 'error')


@torch.no_grad()
def collect_scores(model, data_loader, speed=None, dataset_len: int | None = None) -> np.ndarray:
    """Run ``model.test_step`` over a loader and return the (N, C) class scores in dataset order.

    Under torch.distributed, a loader whose sampler shares the data out between the processes
    (``num_replicas`` > 1, as DistributedSampler) has its parts gathered from every rank and put back
    in dataset order, without the sampler's padding; a loader that is not shared is kept as it is.
    """
    model.eval()
    outputs = []
    for data in data_loader:
        ctx = speed.autocast() if speed is not None else torch.autocast('cpu', enabled=False)
        with ctx:
            scores = model.test_step(data)
        outputs.append(scores.float())
    scores = torch.cat(outputs) if outputs else torch.zeros(0)
    dataset = getattr(data_loader, 'dataset', None)
    if callable(getattr(dataset, 'output_indices', None)):  # a streaming dataset: it says which sample each row is
        return _streamed_in_order(scores, torch.as_tensor(dataset.output_indices()), len(dataset)).cpu().numpy()
    sampler = _sharing_sampler(data_loader)
    if is_distributed() and sampler is not None:
        if getattr(sampler, 'shuffle', False):
            raise ConfigError('the evaluation data loader shuffles (its sampler has shuffle=True): build it with '
                              'shuffle=False so the gathered scores can be put back in dataset order')
        scores = gather_in_order(scores, dataset_len)
    return scores.cpu().numpy()


def _sharing_sampler(data_loader):
    """The loader's sampler if it splits the dataset between processes (``num_replicas`` > 1), else None."""
    batch_sampler = getattr(data_loader, 'batch_sampler', None)
    for sampler in (getattr(batch_sampler, 'sampler', None), getattr(data_loader, 'sampler', None)):
        if sampler is not None and getattr(sampler, 'num_replicas', 1) > 1:
            return sampler
    return None


def _streamed_in_order(scores: torch.Tensor, indices: torch.Tensor, dataset_len: int) -> torch.Tensor:
    """Rows of a streaming dataset put in dataset order, from every rank under torch.distributed."""
    if len(indices) != len(scores):
        raise DataError(f'evaluation: the loader gave {len(scores)} rows where the dataset planned {len(indices)}')
    if is_distributed():
        parts = [torch.zeros_like(scores) for _ in range(get_world_size())]
        dist.all_gather(parts, scores.contiguous())
        where = [torch.zeros_like(indices) for _ in range(get_world_size())]
        dist.all_gather(where, indices.contiguous())
        scores, indices = torch.cat(parts), torch.cat(where)
    ordered = torch.zeros(dataset_len, *scores.shape[1:], dtype=scores.dtype)
    seen = torch.zeros(dataset_len, dtype=torch.bool)
    ordered[indices] = scores.cpu()
    seen[indices] = True
    if not bool(seen.all()):
        raise DataError(f'evaluation: {int((~seen).sum())} of {dataset_len} images were not scored; the evaluation '
                        'loader drops samples (drop_last=True?): use drop_last=False')
    return ordered


def gather_in_order(scores: torch.Tensor, dataset_len: int | None) -> torch.Tensor:
    """Undo DistributedSampler's interleaving and padding.

    With ``shuffle=False`` the sampler pads 0..N-1 by wrapping around to a multiple of the world size W
    and rank r takes positions r, r+W, r+2W, ...; so interleaving the ranks' rows restores positions
    0, 1, 2, ... and the first N rows are the dataset, each image once.
    """
    world = get_world_size()
    # every rank holds the same number of rows (the sampler pads); check it, as all_gather needs it
    size = torch.tensor([scores.shape[0]], device=scores.device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    counts = [int(s) for s in sizes]
    if len(set(counts)) != 1:
        raise DataError(f'evaluation: the processes scored different numbers of images {counts}; the '
                        'evaluation loader must give every rank the same share (DistributedSampler does)')
    parts = [torch.zeros_like(scores) for _ in range(world)]
    dist.all_gather(parts, scores.contiguous())
    ordered = torch.stack(parts, dim=1).reshape(-1, *scores.shape[1:])
    if dataset_len is None:
        return ordered
    if len(ordered) < dataset_len:
        raise DataError(f'evaluation: the {world} processes scored {len(ordered)} of {dataset_len} images; '
                        'the evaluation loader drops samples (drop_last=True?): use drop_last=False')
    return ordered[:dataset_len]


def _check_eval_kwargs(dataset, kwargs: dict) -> None:
    """Report a misspelt ``evaluation`` key now, not after the first epoch."""
    try:
        params = inspect.signature(dataset.evaluate).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    allowed = {'interval', 'by_epoch', 'save_best', 'rule', 'start', 'metric', 'metric_options', 'greater_keys',
               'less_keys', 'broadcast_bn_buffer', *_UNUSED_EVAL_KEYS} | set(params)
    for key in kwargs:
        if key not in allowed:
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f' Did you mean {close[0]!r}?' if close else ''
            raise ConfigError(f'evaluation has an unknown key {key!r}.{hint} Keys: {", ".join(sorted(allowed))}')


def format_evaluation(results: dict, where: str) -> str:
    """One line with every scalar metric: ``evaluation at epoch 3: accuracy_top-1 97.50, ...``."""
    items = [f'{k} {float(v):.2f}' for k, v in results.items() if np.isscalar(v)]
    return f'evaluation at {where}: ' + (', '.join(items) if items else 'no scalar metrics')


def _rule_for(metric: str, greater_keys=(), less_keys=()) -> str:
    """'greater' or 'less' is better for ``metric``: mmcv's ``greater_keys`` / ``less_keys`` first, then the
    usual names (a loss or an error is better smaller)."""
    name = metric.lower()
    if any(str(k).lower() in name for k in greater_keys or ()):
        return 'greater'
    if any(str(k).lower() in name for k in (*(less_keys or ()), *_LESS_KEYS)):
        return 'less'
    return 'greater'


# mmcv EvalHook / DistEvalHook arguments imgcls takes but does not use, and why (said once when given)
_UNUSED_EVAL_KEYS = {
    'gpu_collect': 'under torchrun the scores are gathered with torch.distributed all_gather, on any device',
    'tmpdir': 'under torchrun the scores are gathered with torch.distributed all_gather, without files',
    'out_dir': 'best checkpoints are written to the work dir only',
    'file_client_args': 'checkpoints are written to local files',
    'test_fn': 'evaluation runs the model\'s test_step',
}


@HOOKS.register_module(name=['EvalHook', 'DistEvalHook'])
class EvalHook(Hook):
    """Evaluates on the val loader every ``interval`` epochs (or iters) and keeps the best checkpoint."""

    # before CheckpointHook, so epoch_N.pth records this evaluation's best score
    priority = 'ABOVE_NORMAL'

    def __init__(self, dataloader, interval: int = 1, by_epoch: bool = True, save_best: str | None = None,
                 rule: str | None = None, start: int | None = None, metric='accuracy',
                 metric_options: dict | None = None, greater_keys=None, less_keys=None,
                 broadcast_bn_buffer: bool = True, gpu_collect=None, tmpdir=None, out_dir=None,
                 file_client_args=None, test_fn=None, **eval_kwargs):
        self.dataloader, self.interval, self.by_epoch = dataloader, interval, by_epoch
        if rule not in (None, 'greater', 'less'):
            raise ConfigError(f"evaluation.rule={rule!r}: use 'greater' or 'less' (which score is better), or leave "
                              'it out to decide from the metric name')
        self.save_best, self.rule, self.start = save_best, rule, start
        self.greater_keys, self.less_keys = greater_keys or (), less_keys or ()  # how save_best='auto' ranks
        given = dict(gpu_collect=gpu_collect, tmpdir=tmpdir, out_dir=out_dir, file_client_args=file_client_args,
                     test_fn=test_fn)
        for key, value in given.items():
            if value is not None:
                warn_once(None, f'evaluation.{key}', f'evaluation.{key}={value!r} is not used: '
                                                     f'{_UNUSED_EVAL_KEYS[key]}')
        if not broadcast_bn_buffer:  # True: DDP itself broadcasts rank 0's buffers at every forward
            warn_once(None, 'evaluation.broadcast_bn_buffer',
                      'evaluation.broadcast_bn_buffer=False is not honoured: under torchrun DDP broadcasts rank '
                      "0's BatchNorm buffers at every forward, so every process evaluates with the same statistics")
        self.eval_kwargs = dict(metric=metric, metric_options=metric_options, **eval_kwargs)
        _check_eval_kwargs(dataloader.dataset, eval_kwargs)
        self.best_score: float | None = None
        self.best_ckpt: str | None = None

    def state_dict(self) -> dict:
        return {'best_score': self.best_score, 'best_ckpt': self.best_ckpt}

    def load_state_dict(self, state: dict) -> None:
        self.best_score = state.get('best_score')
        self.best_ckpt = state.get('best_ckpt')

    def _due(self, runner, step: int) -> bool:
        if self.start is not None and step < self.start:
            return False
        return step % self.interval == 0

    def after_train_epoch(self, runner) -> None:
        if self.by_epoch and self._due(runner, runner.epoch + 1):
            self.evaluate(runner, epoch=runner.epoch + 1)

    def after_train_iter(self, runner) -> None:
        if not self.by_epoch and self._due(runner, runner.iter + 1):
            self.evaluate(runner, epoch=runner.epoch)

    def evaluate(self, runner, epoch: int) -> dict:
        model = runner.model
        was_training = model.training
        scores = collect_scores(model, self.dataloader, runner.speed, len(self.dataloader.dataset))
        model.train(was_training)
        results = self.dataloader.dataset.evaluate(scores, logger=runner.logger, **self.eval_kwargs)
        ema = next((h for h in runner.hooks if isinstance(h, EMAHook)), None)
        if ema is not None and ema.ema:
            ema.swap(runner)
            try:
                ema_scores = collect_scores(model, self.dataloader, runner.speed, len(self.dataloader.dataset))
            finally:
                ema.swap(runner)
                model.train(was_training)
            ema_results = self.dataloader.dataset.evaluate(ema_scores, logger=runner.logger, **self.eval_kwargs)
            results.update({f'ema_{k}': v for k, v in ema_results.items()})
        runner.log_record({'mode': 'val', 'epoch': epoch, 'iter': runner.iter + (0 if self.by_epoch else 1),
                           **{k: float(v) for k, v in results.items() if np.isscalar(v)}})
        runner.last_eval = results
        where = f'epoch {epoch}' if self.by_epoch else f'iter {runner.iter + 1}'
        runner.logger.info(format_evaluation(results, where))
        self._save_best(runner, results, epoch)
        return results

    def _save_best(self, runner, results: dict, epoch: int) -> None:
        if not self.save_best:
            return
        key = self.save_best
        if key == 'auto':
            key = next(iter(k for k, v in results.items() if np.isscalar(v)), None)
            if key is None:
                return
            self.save_best = key
        if key not in results:
            raise ConfigError(f'evaluation.save_best={key!r} is not among the computed metrics '
                              f'{sorted(results)}; use one of them or "auto"')
        rule = self.rule or _rule_for(key, self.greater_keys, self.less_keys)
        score = float(results[key])
        better = self.best_score is None or (score > self.best_score if rule == 'greater' else score < self.best_score)
        if not better:
            return
        self.best_score = score
        if is_main_process():
            path = Path(runner.work_dir) / f'best_{key}.pth'
            runner.save_checkpoint(path, epoch=epoch, iter=runner.iter, save_optimizer=False)
            self.best_ckpt = str(path)
            runner.logger.info(f'new best {key} = {score:.2f} at epoch {epoch}, saved to {path}')
