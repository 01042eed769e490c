"""Classification heads (registered in HEADS)."""

from .cls_head import ClsHead
from .linear_head import LinearClsHead

__all__ = ['ClsHead', 'LinearClsHead']
