"""Logging: a progress bar on the terminal and ``log.jsonl`` in the work dir (trackers: ``trackers.py``).

Training losses stay on the device as tensors and are averaged in :class:`LogBuffer`; they are copied
to the host once every ``log_config.interval`` iterations, so logging costs no sync per step.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from ..dist import all_reduce_mean, is_main_process
from ..warn import warn_once
from .hook import HOOKS, Hook


class LogBuffer:
    """Running sums of logged tensors, weighted by batch size, read out as floats on demand."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def update(self, values: dict, count: int = 1) -> None:
        for key, value in values.items():
            value = value.detach().float() if isinstance(value, torch.Tensor) else torch.tensor(float(value))
            if key in self.sums:
                self.sums[key] = self.sums[key] + value * count
            else:
                self.sums[key] = value * count
            self.counts[key] = self.counts.get(key, 0) + count

    def average(self, reduce: bool = True) -> dict[str, float]:
        """Means since the last clear, copied to the host in one transfer (the only sync point)."""
        if not self.sums:
            return {}
        keys = list(self.sums)
        stacked = torch.stack([self.sums[k].reshape(()).to(torch.float32) / self.counts[k] for k in keys])
        if reduce:
            stacked = all_reduce_mean(stacked)
        return dict(zip(keys, stacked.cpu().tolist()))

    def clear(self) -> None:
        self.sums.clear()
        self.counts.clear()


class LoggerHook(Hook):
    """Base for loggers: every ``interval`` iterations it builds one record and calls ``write``."""

    priority = 'VERY_LOW'

    def __init__(self, interval: int = 10, ignore_last: bool | None = None, reset_flag: bool | None = None,
                 by_epoch: bool = True):
        self.interval = interval
        self.by_epoch = by_epoch
        name = type(self).__name__
        if ignore_last:  # False is what imgcls does
            warn_once(None, f'{name}.ignore_last', f'log_config: {name} ignore_last=True is not honoured: the last '
                      'iterations of an epoch are always logged, averaged since the line before')
        if reset_flag is not None:
            warn_once(None, f'{name}.reset_flag', f'log_config: {name} reset_flag={reset_flag!r} is not used: each '
                      'line averages the iterations since the line before')

    def write(self, runner, record: dict) -> None:
        raise NotImplementedError


@HOOKS.register_module()
class JsonLoggerHook(LoggerHook):
    """Appends one JSON object per logged step and per evaluation to ``WORK_DIR/log.jsonl``."""

    def before_run(self, runner) -> None:
        self.path = Path(runner.work_dir) / 'log.jsonl'
        if is_main_process():
            _drop_partial_last_line(self.path)

    def write(self, runner, record: dict) -> None:
        if not is_main_process():
            return
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        append_line(self.path, json.dumps(clean))


def append_line(path: Path, line: str) -> None:
    """Append ``line`` and a newline with one O_APPEND write, so a killed run never leaves half a line."""
    data = (line + '\n').encode('utf-8')
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        written = os.write(fd, data)
        while written < len(data):  # only on a full disk or a signal; finish the line
            written += os.write(fd, data[written:])
    finally:
        os.close(fd)


def _drop_partial_last_line(path: Path) -> None:
    """Cut an unfinished last line (a run killed mid-write, a full disk) before appending to the log."""
    try:
        with open(path, 'rb+') as fh:
            size = fh.seek(0, os.SEEK_END)
            if size == 0:
                return
            fh.seek(size - 1)
            if fh.read(1) == b'\n':
                return
            start = max(0, size - 2 ** 20)  # a log line is far shorter than 1 MiB
            fh.seek(start)
            tail = fh.read()
            cut = tail.rfind(b'\n')
            fh.truncate(start + cut + 1 if cut >= 0 else 0)
    except FileNotFoundError:
        return


@HOOKS.register_module()
class TextLoggerHook(LoggerHook):
    """A tqdm progress bar (loss, lr, img/s, data-wait share, ETA) on a terminal, plain lines otherwise."""

    def __init__(self, interval: int = 10, bar: bool | None = None, interval_exp_name=None, out_dir=None,
                 out_suffix=None, keep_local=None, file_client_args=None, **kwargs):
        super().__init__(interval, **kwargs)
        # mmcv TextLoggerHook arguments for copying logs elsewhere: train.log and log.jsonl stay in the work dir
        given = dict(interval_exp_name=interval_exp_name, out_dir=out_dir, out_suffix=out_suffix,
                     keep_local=keep_local, file_client_args=file_client_args)
        for key, value in given.items():
            if value is not None:
                warn_once(None, f'TextLoggerHook.{key}', f'log_config: TextLoggerHook {key}={value!r} is not used: '
                          'train.log and log.jsonl are written to the work dir only')
        self.bar_enabled = bar
        self.bar = None

    def before_train_epoch(self, runner) -> None:
        if not is_main_process():
            return
        use_bar = sys.stderr.isatty() if self.bar_enabled is None else self.bar_enabled
        if use_bar:
            self.bar = tqdm(total=runner.iters_per_epoch, desc=f'epoch {runner.epoch + 1}/{runner.max_epochs}',
                            unit='it', leave=False, dynamic_ncols=True, file=sys.stderr)
        self.epoch_start = time.perf_counter()

    def after_train_iter(self, runner) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def after_train_epoch(self, runner) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def write(self, runner, record: dict) -> None:
        if not is_main_process() or record.get('mode') != 'train':
            return
        items = [f"loss {record['loss']:.4f}" if 'loss' in record else '',
                 f"lr {record['lr']:.3g}", f"{record['img_per_s']:.0f} img/s",
                 f"data {100 * record['data_share']:.0f}%", f"eta {_fmt_eta(record['eta_s'])}"]
        text = ', '.join(i for i in items if i)
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
        else:
            ep = f"epoch {record['epoch']} " if self.by_epoch else ''
            runner.logger.info(f"{ep}iter {record['iter']}/{runner.max_iters}: {text}")


def _fmt_eta(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f'{h}:{m:02d}:{s:02d}' if h else f'{m}:{s:02d}'
