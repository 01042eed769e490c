"""torch.distributed helpers that degrade to single-process no-ops."""

from __future__ import annotations

import os

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


def init_distributed(device: str) -> torch.device:
    """Join the process group torchrun set up (NCCL on CUDA, gloo on CPU); return this rank's device."""
    local_rank = int(os.environ.get('LOCAL_RANK', 0))
    if device.startswith('cuda'):
        torch.cuda.set_device(local_rank)
        backend, dev = 'nccl', torch.device('cuda', local_rank)
    else:
        backend, dev = 'gloo', torch.device('cpu')
    if not is_distributed():
        dist.init_process_group(backend=backend)
    return dev


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
