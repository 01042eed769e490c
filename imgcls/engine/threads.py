"""How many intra-op threads the training process should use: the cores it may run on that others leave free.

PyTorch starts one compute thread per core of the machine. Inside a container limited by a cgroup CPU quota,
a process pinned to fewer cores, or on a machine other jobs keep busy, that oversubscribes the cores and every
thread waits for the others (measured: 5x slower on a shared 2-core machine). So the count is the usable cores
(affinity mask, cgroup quota), shared among this machine's ranks, less what other processes keep busy (the
1-minute load average at start). Loader workers are not subtracted: measured on a quiet 2-core machine, the
digits job ran at 0.53x when a core was kept for its light worker (``benchmarks/threads.py``, BENCHMARKS.md).
The knob: ``IMGCLS_NUM_THREADS=N`` (or ``OMP_NUM_THREADS=N``) sets it yourself.
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


def busy_cpus(usable: int) -> float:
    """Of the ``usable`` cores, how many other processes keep busy: the 1-minute load average, spread evenly
    over the machine's cores (0 where the OS does not report it)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0
    return load * usable / max(os.cpu_count() or usable, usable)


def choose_num_threads(loader_workers: int, world_size: int = 1) -> tuple[int, str]:
    """(threads, why): the usable cores shared by this machine's ranks, less those other processes keep busy.

    ``loader_workers`` is only reported: subtracting light workers halved the speed of a quiet machine."""
    for var in ('IMGCLS_NUM_THREADS', 'OMP_NUM_THREADS'):
        value = os.environ.get(var, '').strip()
        if value.isdigit() and int(value) > 0:
            return int(value), f'{var}={value}'
    cpus = available_cpus()
    ranks = max(world_size, 1)
    per_rank = max(1, cpus // ranks)
    busy = busy_cpus(cpus)
    # a core counts as taken once others use three quarters of it: a lingering 0.5 is not a busy core
    threads = min(per_rank, max(1, (cpus - math.floor(busy + 0.25)) // ranks))
    return threads, (f'{cpus} usable core(s), {busy:.1f} kept busy by other processes, {ranks} process(es), '
                     f'{loader_workers} loader worker(s); set IMGCLS_NUM_THREADS to override')


def set_num_threads(loader_workers: int, world_size: int = 1) -> str:
    """Apply :func:`choose_num_threads` to torch; return a line saying what was chosen and why."""
    threads, why = choose_num_threads(loader_workers, world_size)
    torch.set_num_threads(threads)
    return f'{threads} compute thread(s) ({why})'
