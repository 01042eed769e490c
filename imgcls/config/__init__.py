"""Config files: ``.py`` / ``.json`` / ``.yaml``, ``_base_`` inheritance, ``--cfg-options``, dumping.

``Config.fromfile(path)`` loads a file and the ``_base_`` files it names
(paths relative to it, recursively), merges each child over its bases
(dicts merge key by key, ``_delete_=True`` replaces, lists are replaced),
imports the modules listed in ``custom_imports`` and wraps the result in a
:class:`ConfigDict` that allows ``cfg.model.backbone.depth``.

``.py`` configs are Python code and are executed: load only files you trust.
``.json`` and ``.yaml`` files are parsed as data and execute nothing.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import ConfigError
from ..fileio import atomic_write_text
from .config_dict import _EXTENSIONS, ConfigDict, MissingKeyError
from .loading import _import_custom_modules, _load_tree
from .options import _set_path, parse_cfg_options
from .writing import _pretty_text, _serialize

__all__ = ['Config', 'ConfigDict', 'MissingKeyError', 'parse_cfg_options']


class Config:
    """A loaded config: a :class:`ConfigDict` plus the file it came from.

    Keys are reachable as attributes and items (``cfg.model``, ``cfg['model']``).
    """

    __slots__ = ('_cfg_dict', '_filename', '_text')

    def __init__(self, cfg_dict: Mapping | None = None, filename: str | os.PathLike | None = None,
                 text: str = ''):
        if cfg_dict is None:
            cfg_dict = {}
        if not isinstance(cfg_dict, Mapping):
            raise ConfigError(f'a Config is made from a dict, got {type(cfg_dict).__name__}')
        object.__setattr__(self, '_cfg_dict', ConfigDict(cfg_dict))
        object.__setattr__(self, '_filename', None if filename is None else os.fspath(filename))
        object.__setattr__(self, '_text', text)

    @staticmethod
    def fromfile(filename: str | os.PathLike, import_custom_modules: bool = True) -> Config:
        """Load a ``.py`` / ``.json`` / ``.yaml`` config with its ``_base_`` files.

        ``.py`` files (the config and its bases) are executed as Python code;
        JSON and YAML are only parsed. With ``import_custom_modules``, the
        modules in ``custom_imports`` are imported (the config's directory is
        added to ``sys.path`` for that).
        """
        path = os.path.expanduser(os.fspath(filename))
        content, sources = _load_tree(path, [])
        text = sources[0][1] if len(sources) == 1 else ''.join(
            f'# ----- {p} -----\n{t.rstrip()}\n' for p, t in sources)
        cfg = Config(content, filename=path, text=text)
        if import_custom_modules:
            dirs = [os.path.dirname(os.path.abspath(path))]
            dirs += [os.path.dirname(os.path.abspath(p)) for p, t in sources if 'custom_imports' in t]
            _import_custom_modules(cfg._cfg_dict, list(dict.fromkeys(dirs)))
        return cfg

    @property
    def filename(self) -> str | None:
        return self._filename

    @property
    def text(self) -> str:
        """The original text of the file; with bases, every file's text under a ``# ----- path`` line."""
        return self._text

    @property
    def pretty_text(self) -> str:
        """The merged config as Python source that ``Config.fromfile`` loads back equal."""
        return _pretty_text(self._cfg_dict)

    def dump(self, path: str | os.PathLike | None = None, file_format: str | None = None) -> str | None:
        """Return the config as text (``.py`` source by default), or write it atomically to ``path``.

        The format is ``file_format`` or else ``path``'s extension: ``.py``, ``.json``, ``.yaml``/``.yml``.
        """
        fmt = file_format or (os.path.splitext(os.fspath(path))[1] if path is not None else '.py')
        fmt = '.' + fmt.lower().lstrip('.')
        if fmt not in _EXTENSIONS:
            raise ConfigError(f'cannot dump a config as {fmt!r}; use one of {", ".join(_EXTENSIONS)}.')
        text = _serialize(self._cfg_dict, '.yaml' if fmt == '.yml' else fmt)
        if path is None:
            return text
        atomic_write_text(path, text)
        return None

    def merge_from_dict(self, options: Mapping[str, Any], allow_list_keys: bool = True) -> None:
        """Set values by dotted keys: ``{'model.backbone.depth': 101, 'data.train.pipeline.0.type': 'X'}``.

        Dict values merge into existing dicts. A missing intermediate key, a list
        index out of range, or a new key that looks like a typo of an existing one
        raises ConfigError; other new leaf keys are added.
        """
        if not isinstance(options, Mapping):
            raise ConfigError(f'options must be a dict of dotted keys to values, '
                              f'got {type(options).__name__}')
        for full_key, value in options.items():
            parts = full_key.split('.') if isinstance(full_key, str) else ['']
            if not all(parts):
                raise ConfigError(f'invalid option key {full_key!r}: expected dotted names like '
                                  f'model.backbone.depth')
            _set_path(self._cfg_dict, parts, value, [], full_key, allow_list_keys)

    # -- dict-like access, forwarded to the ConfigDict
    def __getattr__(self, name: str) -> Any:
        if name.startswith('__') or name in Config.__slots__:  # not set yet (e.g. while unpickling)
            raise AttributeError(name)
        return getattr(self._cfg_dict, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(type(self), name):
            raise AttributeError(f"'{name}' is a Config attribute; set the key with cfg[{name!r}] = ...")
        self._cfg_dict[name] = value

    def __delattr__(self, name: str) -> None:
        delattr(self._cfg_dict, name)

    def __getitem__(self, key: Any) -> Any:
        return self._cfg_dict[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._cfg_dict[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._cfg_dict[key]

    def __contains__(self, key: Any) -> bool:
        return key in self._cfg_dict

    def __iter__(self) -> Iterator:
        return iter(self._cfg_dict)

    def __len__(self) -> int:
        return len(self._cfg_dict)

    def __dir__(self) -> list[str]:
        return sorted(set(object.__dir__(self)) | set(dir(self._cfg_dict)))

    def get(self, key: Any, default: Any = None) -> Any:
        return self._cfg_dict.get(key, default)

    def keys(self):
        return self._cfg_dict.keys()

    def values(self):
        return self._cfg_dict.values()

    def items(self):
        return self._cfg_dict.items()

    def pop(self, key: Any, *default: Any) -> Any:
        return self._cfg_dict.pop(key, *default)

    def to_dict(self) -> dict:
        """The merged config as plain dicts, recursively."""
        return self._cfg_dict.to_dict()

    def copy(self) -> Config:
        """An independent (deep) copy."""
        return copy.deepcopy(self)

    def __copy__(self) -> Config:
        return Config(self._cfg_dict.copy(), self._filename, self._text)

    def __deepcopy__(self, memo: dict) -> Config:
        new = Config(None, self._filename, self._text)
        object.__setattr__(new, '_cfg_dict', copy.deepcopy(self._cfg_dict, memo))
        return new

    def __reduce__(self):
        return Config, (self._cfg_dict, self._filename, self._text)

    def __repr__(self) -> str:
        return f'Config (path: {self._filename}): {self._cfg_dict.to_dict()!r}'
