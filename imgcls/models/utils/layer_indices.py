"""``out_indices`` of backbones that are a plain stack of layers (ViT-like), where -1 names the last layer."""

from __future__ import annotations

from collections.abc import Sequence

from .stages import check_out_indices


def layer_out_indices(name: str, out_indices, num_layers: int) -> list[int]:
    """``out_indices`` as non-negative layer indices (negative ones count from the end), or ConfigError."""
    indices = [out_indices] if isinstance(out_indices, int) and not isinstance(out_indices, bool) else out_indices
    if isinstance(indices, Sequence) and not isinstance(indices, str):
        indices = [i + num_layers if isinstance(i, int) and not isinstance(i, bool) and -num_layers <= i < 0 else i
                   for i in indices]
    return list(check_out_indices(name, indices, num_layers))
