"""Importing every module of a package, so that ``@register_module`` decorators run.

A new backbone / head / dataset file dropped into its folder is registered without editing the
folder's ``__init__.py`` (editing it as the tutorial shows works too).
"""

from __future__ import annotations

import importlib
import pkgutil


def import_all_submodules(package: str, namespace: dict) -> list[str]:
    """Import each module of ``package`` and copy the names in its ``__all__`` into ``namespace``."""
    pkg = importlib.import_module(package)
    exported = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith('_'):
            continue
        module = importlib.import_module(f'{package}.{info.name}')
        for name in getattr(module, '__all__', []):
            if name not in namespace:
                namespace[name] = getattr(module, name)
                exported.append(name)
    return exported
