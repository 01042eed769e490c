"""ConfigDict: a dict with attribute access, and the helpers for suggesting close keys."""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError

_BASE_KEY = '_base_'
_DELETE_KEY = '_delete_'
_EXTENSIONS = ('.py', '.json', '.yaml', '.yml')


# ----------------------------------------------------------------------------- ConfigDict

class MissingKeyError(ConfigError, KeyError, AttributeError):
    """A config key that is not there; an AttributeError too, so ``hasattr``/``getattr(.., default)`` work."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ''


def _convert(value: Any) -> Any:
    """Turn dicts (also inside lists and tuples) into ConfigDicts."""
    if isinstance(value, dict) and not isinstance(value, ConfigDict):
        return ConfigDict(value)
    if type(value) is list:
        return [_convert(v) for v in value]
    if type(value) is tuple:
        return tuple(_convert(v) for v in value)
    return value


def _to_plain(value: Any) -> Any:
    """Turn ConfigDicts (also inside lists and tuples) back into plain dicts."""
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if type(value) is list:
        return [_to_plain(v) for v in value]
    if type(value) is tuple:
        return tuple(_to_plain(v) for v in value)
    return value


def _close_keys(name: Any, keys: Any, cutoff: float = 0.6) -> list[str]:
    return difflib.get_close_matches(str(name), [k for k in keys if isinstance(k, str)], n=3, cutoff=cutoff)


def _did_you_mean(close: list[str]) -> str:
    return ' Did you mean ' + ' or '.join(repr(c) for c in close) + '?' if close else ''


def _key_list(keys: Any) -> str:
    names = sorted(str(k) for k in keys)
    return ', '.join(names[:30]) + (', ...' if len(names) > 30 else '') if names else '(none)'


class ConfigDict(dict):
    """A dict whose keys are also attributes (``cfg.model.backbone.depth``); nested dicts are ConfigDicts."""

    __slots__ = ()

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()
        self.update(*args, **kwargs)

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, _convert(value))

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def __or__(self, other: Mapping) -> ConfigDict:
        new = self.copy()
        new.update(other)
        return new

    def __ior__(self, other: Mapping) -> ConfigDict:
        self.update(other)
        return self

    def copy(self) -> ConfigDict:
        """A shallow copy (nested ConfigDicts are shared)."""
        return type(self)(self)

    def __deepcopy__(self, memo: dict) -> ConfigDict:
        new = type(self)()
        memo[id(self)] = new
        for key, value in self.items():
            dict.__setitem__(new, copy.deepcopy(key, memo), copy.deepcopy(value, memo))
        return new

    def missing_message(self, key: Any) -> str:
        """Why ``key`` is not here, with the closest existing keys."""
        return (f'config has no key {key!r}.{_did_you_mean(_close_keys(key, self))} '
                f'Keys here: {_key_list(self)}.')

    def __missing__(self, key: Any) -> Any:
        raise MissingKeyError(self.missing_message(key))

    def __getattr__(self, name: str) -> Any:
        if name.startswith('__') and name.endswith('__'):  # copy/pickle probe for hooks: not keys
            raise AttributeError(name)
        if name in self:
            return self[name]
        raise MissingKeyError(self.missing_message(name))

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(type(self), name):
            raise AttributeError(f"'{name}' is a ConfigDict method; set the key with cfg[{name!r}] = ...")
        self[name] = value

    def __delattr__(self, name: str) -> None:
        if name not in self:
            raise MissingKeyError(self.missing_message(name))
        del self[name]

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {k for k in self if isinstance(k, str) and k.isidentifier()})

    def to_dict(self) -> dict:
        """A plain-dict copy, recursively."""
        return _to_plain(self)
