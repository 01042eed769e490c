"""torch.distributed helpers that degrade to single-process no-ops."""

from __future__ import annotations

import atexit
import os
from datetime import timedelta

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return get_rank() == 0


def launched_by_torchrun() -> bool:
    return 'LOCAL_RANK' in os.environ and 'WORLD_SIZE' in os.environ


def init_distributed(device: str, backend: str | None = None) -> torch.device:
    """Join the process group torchrun set up (``backend``, else NCCL on CUDA, gloo on CPU); return this rank's
    device."""
    local_rank = int(os.environ.get('LOCAL_RANK', 0))
    if device.startswith('cuda'):
        torch.cuda.set_device(local_rank)
        backend, dev = backend or 'nccl', torch.device('cuda', local_rank)
    else:
        backend, dev = backend or 'gloo', torch.device('cpu')
    if not is_distributed():
        dist.init_process_group(backend=backend, **_attempt_store())
        atexit.register(shutdown_distributed, wait=False)
    return dev


def shutdown_distributed(wait: bool = True) -> None:
    """Leave the process group: after a barrier (``wait``) so no rank closes its connections while a peer
    still uses them, then destroy it while the rendezvous store it uses is still alive.

    Left to interpreter exit, the process group and its store are freed in no set order, and a gloo
    rank can abort (SIGABRT) in teardown; torchrun then counts a finished run as failed.
    """
    if not is_distributed():
        return
    if wait:
        dist.barrier()
    dist.destroy_process_group()


def _attempt_store() -> dict:
    """A rendezvous store whose keys are private to this torchrun attempt.

    After ``--max-restarts`` restarts the workers, torchrun's store still holds the previous attempt's
    gloo addresses; a new rank could read a dead peer's address and fail to connect (seen with torch
    2.14 on CPU). Prefixing the keys with the restart count keeps attempts apart.
    """
    attempt = int(os.environ.get('TORCHELASTIC_RESTART_COUNT', 0))
    if attempt == 0 or 'MASTER_ADDR' not in os.environ:
        return {}
    rank, world = int(os.environ['RANK']), int(os.environ['WORLD_SIZE'])
    agent_hosts = os.environ.get('TORCHELASTIC_USE_AGENT_STORE') == 'True'
    store = dist.TCPStore(os.environ['MASTER_ADDR'], int(os.environ['MASTER_PORT']), world,
                          is_master=not agent_hosts and rank == 0, timeout=timedelta(minutes=10), multi_tenant=True)
    return {'store': dist.PrefixStore(f'imgcls/attempt_{attempt}', store), 'rank': rank, 'world_size': world}


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """The mean of ``tensor`` over all ranks (the tensor itself when not distributed)."""
    if not is_distributed():
        return tensor
    tensor = tensor.clone()
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor / get_world_size()
