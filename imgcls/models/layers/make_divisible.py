"""Rounding channel counts to a multiple of a divisor (MobileNet / SE / RegNet widths)."""

from __future__ import annotations


def make_divisible(value: float, divisor: int, min_value: int | None = None, min_ratio: float = 0.9) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, at least ``min_value`` (default ``divisor``).

    If rounding down would lose more than ``1 - min_ratio`` of ``value``, one more ``divisor`` is added,
    so a layer never ends up much narrower than asked for.
    """
    if min_value is None:
        min_value = divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < min_ratio * value:
        rounded += divisor
    return rounded
