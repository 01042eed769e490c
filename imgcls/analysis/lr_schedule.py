"""The learning rate a config produces at every iteration, computed without training.

The config's real lr hook (``lr_config``) is driven by a stand-in runner whose epoch / iteration
counters advance exactly as the engine's runner advances them, so the plot is what training sets.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..apis import prepare_config
from ..data import build_dataset
from ..engine.hooks import build_lr_updater
from ..errors import ConfigError, ImgclsError
from .log_curves import new_figure, save_figure


class _Optimizer:
    """Just the ``param_groups`` an lr hook reads and writes."""

    def __init__(self, lr: float):
        self.param_groups = [{'lr': lr}]


@dataclass
class _SimRunner:
    """The counters of :class:`imgcls.engine.EpochBasedRunner` that lr hooks read."""

    optimizer: _Optimizer
    iters_per_epoch: int
    by_epoch: bool
    _max_epochs: int | None = None
    _max_iters: int | None = None
    epoch: int = 0
    iter: int = 0
    inner_iter: int = 0

    @property
    def max_epochs(self) -> int:
        return self._max_epochs if self._max_epochs is not None else math.ceil(self._max_iters / self.iters_per_epoch)

    @property
    def max_iters(self) -> int:
        return self._max_iters if self._max_iters is not None else self._max_epochs * self.iters_per_epoch


@dataclass
class LrSchedule:
    """The lr of the first param group before each training iteration."""

    lrs: np.ndarray
    iters_per_epoch: int
    max_iters: int
    by_epoch: bool  # the runner is epoch-based
    policy: str = 'fixed'
    epochs: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # epoch of each iteration

    def lr_at(self, iteration: int) -> float:
        """The lr used by (0-based) ``iteration``."""
        return float(self.lrs[iteration])


def _runner_limits(cfg) -> tuple[bool, int | None, int | None]:
    runner = cfg.get('runner')
    if runner is None and isinstance(cfg.get('total_epochs'), int):
        return True, cfg['total_epochs'], None
    kind = runner.get('type') if isinstance(runner, dict) else None
    if kind == 'EpochBasedRunner' and isinstance(runner.get('max_epochs'), int) and runner['max_epochs'] > 0:
        return True, runner['max_epochs'], None
    if kind == 'IterBasedRunner' and isinstance(runner.get('max_iters'), int) and runner['max_iters'] > 0:
        return False, None, runner['max_iters']
    raise ConfigError(f'runner must be dict(type="EpochBasedRunner", max_epochs=N) or dict(type="IterBasedRunner", '
                      f'max_iters=N) to know how long the schedule runs, got {runner!r}')


def iters_per_epoch_from_data(cfg) -> int:
    """len(train dataset) / samples_per_gpu (rounded as the loader does), for one process."""
    data = (cfg.get('data') or {})
    if 'train' not in data or not isinstance(data.get('samples_per_gpu'), int):
        raise ConfigError('the config has no data.train / data.samples_per_gpu to count iterations per epoch; '
                          'pass --iters-per-epoch N')
    cfg = copy.deepcopy(cfg)
    prepare_config(cfg)
    try:
        n = len(build_dataset(cfg['data']['train']))
    except (ImgclsError, OSError) as e:
        raise ConfigError(f'could not build the training dataset to count iterations per epoch ({e}); '
                          'pass --iters-per-epoch N (dataset size / batch size)') from e
    batch = cfg['data']['samples_per_gpu']
    drop_last = (cfg['data'].get('train_dataloader') or {}).get('drop_last', False)
    return n // batch if drop_last else math.ceil(n / batch)


def simulate_lr(cfg, iters_per_epoch: int | None = None) -> LrSchedule:
    """Run the config's lr hook over the whole schedule; ``iters_per_epoch`` defaults to the train data's."""
    by_epoch, max_epochs, max_iters = _runner_limits(cfg)
    optimizer_cfg = cfg.get('optimizer') or {}
    if not isinstance(optimizer_cfg.get('lr'), (int, float)):
        raise ConfigError(f'optimizer.lr must be a number to plot the schedule, got {optimizer_cfg.get("lr")!r}')
    if iters_per_epoch is None:
        iters_per_epoch = iters_per_epoch_from_data(cfg)
    if not isinstance(iters_per_epoch, int) or iters_per_epoch <= 0:
        raise ConfigError(f'--iters-per-epoch must be a positive int, got {iters_per_epoch!r}')
    lr_config = cfg.get('lr_config')
    if lr_config is not None and not isinstance(lr_config, dict):
        raise ConfigError(f'lr_config must be a dict such as dict(policy="step", step=[30, 60]), got {lr_config!r}')
    hook = build_lr_updater(dict(lr_config) if lr_config is not None else None)
    runner = _SimRunner(_Optimizer(float(optimizer_cfg['lr'])), iters_per_epoch, by_epoch, max_epochs, max_iters)
    total = runner.max_iters
    lrs, epochs = np.empty(total), np.empty(total, dtype=np.int64)
    if hook is not None:
        hook.before_run(runner)
    while runner.iter < total:  # the runner's loop, with the training step left out
        if hook is not None:
            hook.before_train_epoch(runner)
        for i in range(iters_per_epoch):
            runner.inner_iter = i
            if hook is not None:
                hook.before_train_iter(runner)
            lrs[runner.iter], epochs[runner.iter] = runner.optimizer.param_groups[0]['lr'], runner.epoch
            runner.iter += 1
            if runner.iter >= total:
                break
        runner.epoch += 1
    policy = str((lr_config or {}).get('policy', (lr_config or {}).get('type', 'fixed')))
    return LrSchedule(lrs=lrs, iters_per_epoch=iters_per_epoch, max_iters=total, by_epoch=by_epoch,
                      policy=policy, epochs=epochs)


def plot_lr(schedule: LrSchedule, out: str | Path, title: str | None = None) -> None:
    """Plot the lr per iteration (epoch boundaries on a second axis) to a PNG, atomically."""
    fig = new_figure((8, 4))
    ax = fig.subplots()
    # x = iterations done before this one, so epoch e starts at x = e * iters_per_epoch
    ax.plot(np.arange(schedule.max_iters), schedule.lrs, linewidth=1.5, drawstyle='steps-post')
    ax.set_xlabel('iteration')
    ax.set_ylabel('learning rate')
    ax.grid(alpha=0.3)
    ax.set_title(title or f'lr schedule: {schedule.policy}, {schedule.max_iters} iterations '
                          f'({schedule.iters_per_epoch} per epoch)')
    if schedule.by_epoch:
        ipe = schedule.iters_per_epoch
        top = ax.secondary_xaxis('top', functions=(lambda x: x / ipe, lambda e: e * ipe))
        top.set_xlabel('epoch')
    fig.tight_layout()
    save_figure(fig, out)
