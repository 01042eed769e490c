"""What every benchmark child process shares, whichever tool and Python it runs with.

Only the standard library, numpy and torch: this file is imported by the plain-PyTorch loop, the timm loop
(in timm's own virtual environment), the mmpretrain driver (in mmpretrain's) and imgcls's child tasks.
A child writes one JSON object to ``--result``; the parent (``benchmarks/run.py``) reads it.

Training children report *marks*: for every epoch the time it started (before the loader is created), the
time and batch size of every finished iteration, and the time the evaluation after it finished with its
top-1. Times are ``time.perf_counter()`` (CLOCK_MONOTONIC on Linux, so comparable across processes).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import numpy as np


class Marks:
    """Per-epoch timestamps of a training run, and early stopping once a top-1 target is reached."""

    def __init__(self, target: float | None = None):
        self.epochs: list[dict] = []
        self.target = target

    def epoch_start(self) -> None:
        self.epochs.append({'start': time.perf_counter(), 'iters': [], 'eval_end': None, 'top1': None})

    def iter_end(self, n: int) -> None:
        self.epochs[-1]['iters'].append((time.perf_counter(), int(n)))

    def eval_end(self, top1: float) -> bool:
        """Record the evaluation of the epoch; True when the run may stop (the target was reached)."""
        self.epochs[-1]['eval_end'] = time.perf_counter()
        self.epochs[-1]['top1'] = float(top1)
        return self.target is not None and top1 >= self.target

    def as_dict(self) -> dict:
        return {'epochs': self.epochs, 'target': self.target}


def peak_rss_mb() -> float | None:
    """This process's peak resident set size (VmHWM) in MiB; None where /proc is missing."""
    try:
        for line in Path('/proc/self/status').read_text().splitlines():
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def write_result(path: str, result: dict) -> None:
    """Write the child's result JSON (temp file + rename, so the parent never reads half a file)."""
    result = dict(result, child_peak_rss_mb=peak_rss_mb(), pid=os.getpid())
    tmp = f'{path}.tmp{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(result, f)
    os.replace(tmp, path)


def load_digits_npz(path: str, train_limit: int = 0) -> dict[str, np.ndarray]:
    """The digits split the parent prepared: uint8 (N, 1, 32, 32) train/val images and int64 labels."""
    with np.load(path) as data:
        out = {k: data[k] for k in data.files}
    if train_limit:
        out['train_x'], out['train_y'] = out['train_x'][:train_limit], out['train_y'][:train_limit]
    return out


def time_calls(step, warmup: int, repeats: int, iters: int, images_per_call: int) -> list[float]:
    """Images/s of ``repeats`` timed runs of ``iters`` calls of ``step``, after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iters):
            step()
        rates.append(images_per_call * iters / (time.perf_counter() - start))
    return rates


def summarize_rates(rates: list[float]) -> dict:
    """Median images/s of the timed repetitions, and the repetitions themselves."""
    return {'img_per_s': statistics.median(rates), 'runs': [round(r, 2) for r in rates]}


def torch_info() -> dict:
    """Versions and threads of this child's torch, for the results file."""
    import torch
    return {'torch': torch.__version__, 'threads': torch.get_num_threads()}


def profile_table(step, calls: int = 3, rows: int = 20) -> str:
    """torch.profiler's top operators (by self CPU time) over ``calls`` calls of ``step`` (after one warm-up)."""
    from torch.profiler import ProfilerActivity, profile
    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(calls):
            step()
    return prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=rows, max_name_column_width=60)
