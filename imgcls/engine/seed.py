"""Seeding every RNG, and deterministic mode."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def set_random_seed(seed: int, deterministic: bool = False) -> None:
    """Seed python, numpy and torch; with ``deterministic`` also make torch pick reproducible kernels."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def random_seed() -> int:
    """A fresh seed, recorded so the run can be repeated."""
    return int.from_bytes(os.urandom(4), 'little') & 0x7FFFFFFF
