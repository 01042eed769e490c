"""mmcls 0.x / mmpretrain 1.x checkpoints: same key names, minus the preprocessor buffers."""

from __future__ import annotations

from .registry import register_converter

__all__: list[str] = []


def _is_mmcls(sd) -> bool:
    return any(k.startswith('backbone.') for k in sd)


@register_converter('mmcls', 'any', _is_mmcls)
def mmcls_any(sd: dict) -> dict:
    """mmcls 0.x checkpoints load as they are; mmpretrain 1.x adds preprocessor buffers we keep elsewhere."""
    return {k: v for k, v in sd.items() if not k.startswith('data_preprocessor.')}
