"""imgcls: a config-driven image-classification toolbox for PyTorch."""

__version__ = '0.1.0'

from .config import Config, ConfigDict  # noqa: E402
from .errors import ImgclsError  # noqa: E402

__all__ = ['Config', 'ConfigDict', 'ImgclsError', '__version__']
