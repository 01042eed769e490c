"""Classification heads (registered in HEADS)."""

from .cls_head import ClsHead
from .linear_head import LinearClsHead

__all__ = ['ClsHead', 'LinearClsHead']

# modules added to this folder later register themselves too
from ...discover import import_all_submodules  # noqa: E402

__all__ += import_all_submodules(__name__, globals())
