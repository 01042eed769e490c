"""Each part of imgcls imports only its own layer and the layers below it (the order is in imgcls/__init__.py).

The modules are read with ``ast``, not imported: every ``import`` and ``from ... import`` counts, at the top of a
file or inside a function, relative or absolute.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import imgcls

PACKAGE_DIR = Path(imgcls.__file__).parent

# lowest first; a name is a module or package under imgcls, matched by its longest dotted prefix
LAYERS = [
    ['errors', 'warn'],
    ['fileio'],
    ['safetensors_io'],
    ['checkpoint_io'],
    ['ranking', 'registry', 'discover'],
    ['config'],
    ['convert'],
    ['hub.download', 'hub.torchvision_urls', 'hub.sources'],  # weight references -> checkpoint dicts
    ['evaluation'],
    ['models', 'data'],
    ['engine'],
    ['apis'],
    ['hub'],  # the package itself, hub.index and hub.api (get_model builds models through apis)
    ['analysis'],
    ['cli', '__main__'],
]
# ``import imgcls`` runs imgcls/__init__.py before any submodule, so the package itself sits as low as what
# it imports at its top (config, errors): every layer may read ``imgcls.__version__``.
ROOT_LAYER = 'config'
# (importing file, imported module): the rare import that may point upwards, each with its reason
ALLOWED = {
    # the lazy ``imgcls.get_model`` / ``imgcls.list_models`` of the package's __getattr__: the public entry
    # point reaches the top, on first use only, and ``import imgcls`` stays light
    ('imgcls/__init__.py', 'imgcls.hub'),
}

_LAYER_OF = {f'imgcls.{name}': i for i, names in enumerate(LAYERS) for name in names}
_LAYER_OF['imgcls'] = next(i for i, names in enumerate(LAYERS) if ROOT_LAYER in names)


def layer_of(module: str) -> int | None:
    """The layer index of a dotted module name under imgcls (its longest listed prefix); None when unlisted."""
    parts = module.split('.')
    for n in range(len(parts), 0, -1):
        layer = _LAYER_OF.get('.'.join(parts[:n]))
        if layer is not None:
            return layer
    return None


def layer_name(index: int) -> str:
    return '/'.join(LAYERS[index])


def module_name(path: Path, package_dir: Path = PACKAGE_DIR) -> str:
    rel = path.relative_to(package_dir.parent).with_suffix('')
    parts = list(rel.parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def imported_modules(source: str, module: str, is_package: bool, package_dir: Path = PACKAGE_DIR):
    """(line, dotted module) for every import of an imgcls module in ``source``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split('.')
                if not is_package:
                    base.pop()
                base = base[:len(base) - (node.level - 1)]
                target = '.'.join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:
                # ``from . import name`` imports the submodule when there is one, else a name of the package
                sub = f'{target}.{alias.name}'
                sub_path = package_dir.parent.joinpath(*sub.split('.'))
                if sub_path.is_dir() or sub_path.with_suffix('.py').is_file():
                    yield node.lineno, sub
                else:
                    yield node.lineno, target


def violations(path: Path, source: str | None = None, package_dir: Path = PACKAGE_DIR) -> list[str]:
    """'file:line: module (layer) imports module (higher layer)' for each upward import of one file."""
    module = module_name(path, package_dir)
    own = layer_of(module)
    rel = path.relative_to(package_dir.parent).as_posix()
    if own is None:
        return [f'{rel}: {module} is in no layer: add it to LAYERS in tests/test_import_layers.py']
    found = []
    source = path.read_text(encoding='utf-8') if source is None else source
    for line, target in imported_modules(source, module, path.name == '__init__.py', package_dir):
        if target != 'imgcls' and not target.startswith('imgcls.'):
            continue
        layer = layer_of(target)
        if layer is None:
            found.append(f'{rel}:{line}: imports {target}, which is in no layer: add it to LAYERS')
        elif layer > own and not any(rel == f and (target == t or target.startswith(t + '.')) for f, t in ALLOWED):
            found.append(f'{rel}:{line}: {module} (layer {layer_name(own)}) imports {target} '
                         f'(higher layer {layer_name(layer)})')
    return found


def test_every_module_imports_only_its_own_layer_and_lower():
    found = [v for path in sorted(PACKAGE_DIR.rglob('*.py')) for v in violations(path)]
    assert not found, 'imports of a higher layer:\n' + '\n'.join(found)


@pytest.mark.parametrize('source, expected', [
    ('from ...apis import init_model\n', 'imgcls.apis'),  # relative, top of the file
    ('def f():\n    import imgcls.cli.main\n', 'imgcls.cli.main'),  # absolute, inside a function
    ('def f():\n    from ...engine.runner import IterBasedRunner\n', 'imgcls.engine.runner'),
    ('from ... import hub\n', 'imgcls.hub'),  # a subpackage through ``from ... import``
])
def test_an_upward_import_is_reported_with_file_line_and_module(source, expected):
    path = PACKAGE_DIR / 'models' / 'classifiers' / 'image.py'
    found = violations(path, source)
    assert len(found) == 1
    assert found[0].startswith('imgcls/models/classifiers/image.py:')
    assert f'imports {expected} ' in found[0]


def test_imports_of_the_own_and_lower_layers_pass():
    path = PACKAGE_DIR / 'engine' / 'runner.py'
    source = ('from .. import __version__\nfrom ..models import build_classifier\nfrom .dist import is_main_process\n'
              'def f():\n    from ..hub.sources import load_checkpoint\n')
    assert violations(path, source) == []
    assert violations(PACKAGE_DIR / 'engine' / 'runner.py', 'from ..hub.api import get_model\n') != []
