"""How many intra-op threads the training process should use: the cores it may run on, minus its loader workers.

PyTorch starts one compute thread per core of the machine. Inside a container limited by a cgroup CPU quota,
a process pinned to fewer cores, or beside busy loader workers, that oversubscribes the cores and every
thread waits for the others. The knob: ``IMGCLS_NUM_THREADS=N`` (or ``OMP_NUM_THREADS=N``) sets it yourself.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch


def affinity_cpus() -> int:
    """Cores in this process's affinity mask (all cores where the OS has no masks)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cgroup_cpu_quota(root: str | Path = '/sys/fs/cgroup') -> float | None:
    """The CPU quota of this process's cgroup in cores (v2 ``cpu.max`` or v1 ``cfs_quota_us``); None: no limit."""
    root = Path(root)
    try:
        quota, period = (root / 'cpu.max').read_text().split()[:2]
        return None if quota == 'max' else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / 'cpu' / 'cpu.cfs_quota_us').read_text())
        period = int((root / 'cpu' / 'cpu.cfs_period_us').read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def available_cpus() -> int:
    """Cores this process can really use: its affinity mask, capped by the cgroup quota (rounded up)."""
    cpus = affinity_cpus()
    quota = cgroup_cpu_quota()
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return cpus


def choose_num_threads(loader_workers: int, world_size: int = 1) -> tuple[int, str]:
    """(threads, why): the available cores shared by this machine's ranks, minus this rank's loader workers."""
    for var in ('IMGCLS_NUM_THREADS', 'OMP_NUM_THREADS'):
        value = os.environ.get(var, '').strip()
        if value.isdigit() and int(value) > 0:
            return int(value), f'{var}={value}'
    cpus = available_cpus()
    per_rank = max(1, cpus // max(world_size, 1))
    threads = max(1, per_rank - max(loader_workers, 0))
    return threads, (f'{cpus} usable core(s), {world_size} process(es), {loader_workers} loader worker(s); '
                     'set IMGCLS_NUM_THREADS to override')


def set_num_threads(loader_workers: int, world_size: int = 1) -> str:
    """Apply :func:`choose_num_threads` to torch; return a line saying what was chosen and why."""
    threads, why = choose_num_threads(loader_workers, world_size)
    torch.set_num_threads(threads)
    return f'{threads} compute thread(s) ({why})'
