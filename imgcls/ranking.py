"""Top-k with a fixed order among equal scores, so that every place that ranks classes agrees.

``torch.topk`` leaves the order of tied scores to the kernel, and ties are common once logits pass
through bf16 (8 bits of mantissa). A metric computed with one tie order and a prediction file
written with another then disagree about which images were right. Here ties go to the lower class
index, as ``numpy.argmax`` and ``torch.argmax`` do.
"""

from __future__ import annotations

import torch


def topk(scores: torch.Tensor, k: int, dim: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    """``(values, indices)`` of the ``k`` largest entries along ``dim``, ties to the lower index."""
    values, indices = torch.sort(scores, dim=dim, descending=True, stable=True)
    return values.narrow(dim, 0, k), indices.narrow(dim, 0, k)
