"""Saving ``epoch_N.pth`` / ``iter_N.pth`` and ``latest.pth`` during training."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..dist import is_main_process
from ..warn import warn_once
from .hook import HOOKS, Hook


def link_latest(src: Path, dst: Path) -> None:
    """Point ``dst`` (latest.pth) at ``src`` atomically: a hard link where possible, else a copy."""
    tmp = dst.with_name(f'.{dst.name}.tmp{os.getpid()}')
    try:
        if tmp.exists():
            tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """Delete the temporary files of checkpoint writes that a killed run left (``.epoch_3.pth.x1y2.tmp``)."""
    removed = []
    for tmp in folder.glob('.*.pth.*tmp*') if folder.is_dir() else ():
        try:
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            pass
    return removed


@HOOKS.register_module()
class CheckpointHook(Hook):
    """``checkpoint_config=dict(interval=1, max_keep_ckpts=-1, save_optimizer=True)``."""

    priority = 'NORMAL'

    def __init__(self, interval: int = 1, by_epoch: bool = True, save_optimizer: bool = True,
                 out_dir: str | None = None, max_keep_ckpts: int = -1, save_last: bool = True,
                 create_symlink: bool = True, sync_buffer: bool = False, file_client_args=None):
        # sync_buffer: under torchrun DDP broadcasts rank 0's buffers at every forward, so they are in sync
        if not create_symlink:
            warn_once(None, 'checkpoint_config.create_symlink', 'checkpoint_config.create_symlink=False is not '
                      'honoured: latest.pth is always written (a hard link to the newest checkpoint, or a copy), '
                      'as --resume reads it')
        if file_client_args is not None and dict(file_client_args).get('backend', 'disk') not in ('disk', 'local'):
            warn_once(None, 'checkpoint_config.file_client_args', f'checkpoint_config.file_client_args='
                      f'{file_client_args!r} is not used: checkpoints are written to local files')
        self.interval, self.by_epoch = interval, by_epoch
        self.save_optimizer, self.out_dir = save_optimizer, out_dir
        self.max_keep_ckpts, self.save_last = max_keep_ckpts, save_last

    def before_run(self, runner) -> None:
        self.out_dir = Path(self.out_dir) if self.out_dir else Path(runner.work_dir)
        if is_main_process():
            remove_stale_temp_files(self.out_dir)

    def _save(self, runner, epoch: int, iter: int) -> None:
        """Save after ``epoch`` complete epochs / ``iter`` complete iterations."""
        if not is_main_process():
            return
        prefix, step = ('epoch_', epoch) if self.by_epoch else ('iter_', iter)
        path = self.out_dir / f'{prefix}{step}.pth'
        runner.save_checkpoint(path, epoch=epoch, iter=iter, save_optimizer=self.save_optimizer)
        link_latest(path, self.out_dir / 'latest.pth')
        if self.max_keep_ckpts > 0:
            for old in range(step - self.max_keep_ckpts * self.interval, 0, -self.interval):
                stale = self.out_dir / f'{prefix}{old}.pth'
                if not stale.exists():
                    break
                stale.unlink()

    def after_train_epoch(self, runner) -> None:
        if not self.by_epoch:
            return
        if self.every_n_epochs(runner, self.interval) or (self.save_last and runner.epoch + 1 == runner.max_epochs):
            self._save(runner, runner.epoch + 1, runner.iter)

    def after_train_iter(self, runner) -> None:
        if self.by_epoch:
            return
        if self.every_n_iters(runner, self.interval) or (self.save_last and runner.iter + 1 == runner.max_iters):
            self._save(runner, runner.epoch, runner.iter + 1)
