"""imgcls: a config-driven image-classification toolbox for PyTorch."""

__version__ = '0.1.0'

from .config import Config, ConfigDict  # noqa: E402
from .errors import ImgclsError  # noqa: E402

__all__ = ['Config', 'ConfigDict', 'ImgclsError', '__version__']

_HUB_EXPORTS = {'list_models': 'index', 'get_model': 'api'}
__all__ += list(_HUB_EXPORTS)


def __getattr__(name: str):
    """``imgcls.list_models`` / ``imgcls.get_model``, imported on first use: ``import imgcls`` stays light."""
    if name in _HUB_EXPORTS:
        import importlib
        return getattr(importlib.import_module(f'.hub.{_HUB_EXPORTS[name]}', __name__), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
