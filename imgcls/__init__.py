"""imgcls: a config-driven image-classification toolbox for PyTorch.

Layers, lowest first; a module imports only its own layer and the layers below it (tests/test_import_layers.py
checks every import, at the top of a file or inside a function):

1. ``errors``, ``warn`` -- exception classes; once-per-run warnings
2. ``fileio`` -- atomic file writes
3. ``safetensors_io`` -- ``.safetensors`` read/write
4. ``checkpoint_io`` -- checkpoint files on disk: atomic saves, safe loads
5. ``ranking``, ``registry``, ``discover`` -- top-k ranking; the registries; importing a folder's modules
6. ``config`` -- config files, ``--cfg-options``, the shipped configs
7. ``convert`` -- other libraries' state dicts mapped onto imgcls key names
8. ``hub.download``, ``hub.torchvision_urls``, ``hub.sources`` -- a weight reference to a checkpoint dict
   (what ``init_cfg`` Pretrained and ``load_from`` read)
9. ``evaluation`` -- metrics
10. ``models``, ``data`` -- classifiers and their parts; datasets, pipelines, loaders
11. ``engine`` -- runners, hooks, optimizers, checkpoints of training
12. ``apis`` -- ``train_model``, ``test_model``, ``init_model``, export, publishing
13. ``hub`` (``index``, ``api``) -- the published models and ``get_model``, which builds through ``apis``
14. ``analysis`` -- complexity, speed, CAM, plots
15. ``cli`` -- the ``imgcls`` command; its subcommands import the layers below on use, so that
    ``imgcls --help`` does not import them all

This package's own top-level imports stay at the ``config`` layer, so every layer may read ``__version__``;
``imgcls.list_models`` / ``imgcls.get_model`` import ``hub`` on first use.
"""

__version__ = '0.1.0'

from .config import Config, ConfigDict  # noqa: E402
from .errors import ImgclsError  # noqa: E402

__all__ = ['Config', 'ConfigDict', 'ImgclsError', '__version__', 'list_models', 'get_model']


def __getattr__(name: str):
    """``imgcls.list_models`` / ``imgcls.get_model``, imported on first use: ``import imgcls`` stays light."""
    if name == 'list_models':
        from .hub.index import list_models  # the top layer, on first use: keeps `import imgcls` light
        return list_models
    if name == 'get_model':
        from .hub.api import get_model  # the top layer, on first use: keeps `import imgcls` light
        return get_model
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
