"""How many intra-op threads the training process should use: the cores it may run on that others leave free.

PyTorch starts one compute thread per core of the machine. Inside a container limited by a cgroup CPU quota,
a process pinned to fewer cores, or on a machine other jobs keep busy, that oversubscribes the cores and every
thread waits for the others (measured: 5x slower on a shared 2-core machine). So the count is the usable cores
(affinity mask, cgroup quota), shared among this machine's ranks, less what other processes keep busy (their
CPU use measured over a quarter second at start). Loader workers are not subtracted: measured on a quiet
2-core machine, the digits job ran at 0.53x when a core was kept for its light worker (``benchmarks/threads.py``,
BENCHMARKS.md).
The knob: ``IMGCLS_NUM_THREADS=N`` (or ``OMP_NUM_THREADS=N``) sets it yourself.
"""

from __future__ import annotations

import math
import os
import time
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


def _cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of the whole machine from /proc/stat; None where there is no such file."""
    try:
        fields = [float(x) for x in Path('/proc/stat').read_text().split('\n', 1)[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def busy_cpus(usable: int, window: float = 0.25) -> float:
    """Of the ``usable`` cores, how many other processes keep busy right now: the machine's CPU use over
    ``window`` seconds less this process's own, spread evenly over the machine's cores.

    Measured now rather than read from the load average, which still holds work that just ended (a
    ``pip install`` before ``imgcls train`` in one command line); the 1-minute load average is the fallback
    where the OS has no /proc/stat."""
    cores = max(os.cpu_count() or usable, usable)
    first, own = _cpu_times(), os.times()
    if first is None:
        try:
            return os.getloadavg()[0] * usable / cores
        except (AttributeError, OSError):
            return 0.0
    time.sleep(window)
    second, own_after = _cpu_times(), os.times()
    busy, total = second[0] - first[0], second[1] - first[1]
    if total <= 0:
        return 0.0
    ours = (own_after.user + own_after.system) - (own.user + own.system)  # seconds of CPU in the window
    others = max(0.0, busy / total * cores - ours / window)
    return others * usable / cores


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
