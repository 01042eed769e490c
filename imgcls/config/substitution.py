"""Text substitutions of mmcv 1.x configs: ``{{ fileDirname }}`` and friends, and ``{{_base_.key}}`` references.

Both are rewritten in the file's text before it is parsed. A predefined variable becomes the value itself
(it is used inside strings: ``data_root='{{ fileDirname }}/../data'``). A base reference becomes a placeholder
string that parses in every format; once the file's bases are merged, :func:`resolve_base_refs` puts the
referenced value in its place (a deep copy, so the child can change it without changing the base).
"""

from __future__ import annotations

import copy
import os
import re
import uuid
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from .config_dict import _BASE_KEY, _close_keys, _did_you_mean, _key_list

_PREDEFINED = re.compile(r'\{\{\s*(fileDirname|fileBasename|fileBasenameNoExtension|fileExtname)\s*\}\}')
_REF = r'\{\{\s*' + _BASE_KEY + r'\.([\w.]+?)\s*\}\}'
_REF_KEYED = _REF.replace('(', '(?P<key>', 1)
# a ref is replaced differently inside a string literal than outside it, and not at all in a .py comment
_TOKENS = re.compile(r'''(?P<comment>\#[^\n]*)|(?P<string>'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")|(?P<ref>''' +
                     _REF_KEYED + ')')
_SCALARS = (str, int, float, bool, type(None))


def predefined_vars(path: str) -> dict[str, str]:
    """The values of ``{{ fileDirname }}``, ``{{ fileBasename }}`` ... for the file at ``path``."""
    absolute = os.path.abspath(path).replace('\\', '/')  # forward slashes: safe inside a Python string
    basename = os.path.basename(absolute)
    stem, ext = os.path.splitext(basename)
    return {'fileDirname': os.path.dirname(absolute), 'fileBasename': basename,
            'fileBasenameNoExtension': stem, 'fileExtname': ext}


def substitute_predefined(text: str, path: str) -> str:
    """Replace ``{{ fileDirname }}`` etc. in ``text`` by their values for ``path``."""
    values = predefined_vars(path)
    return _PREDEFINED.sub(lambda m: values[m.group(1)], text)


class BaseRefs:
    """The ``{{_base_.key}}`` references of one file: placeholder string -> dotted key."""

    def __init__(self, path: str):
        self.path = path
        self.keys: dict[str, str] = {}
        # random, so a placeholder cannot be a value the user wrote
        self._tag = uuid.uuid4().hex[:8]
        self._by_key: dict[str, str] = {}

    def placeholder(self, key: str) -> str:
        if key not in self._by_key:
            name = f'__imgcls_base_ref_{len(self._by_key)}_{self._tag}__'
            self._by_key[key] = name
            self.keys[name] = key
        return self._by_key[key]

    def rewrite(self, text: str, ext: str) -> str:
        """``text`` with each reference replaced: a quoted placeholder outside strings, a bare one inside."""

        def replace(match: re.Match) -> str:
            if match.group('comment') is not None:
                if ext == '.py':
                    return match.group(0)
                return re.sub(_REF, lambda m: '"' + self.placeholder(m.group(1)) + '"', match.group(0))
            if match.group('string') is not None:
                return re.sub(_REF, lambda m: self.placeholder(m.group(1)), match.group(0))
            return '"' + self.placeholder(match.group('key')) + '"'

        return _TOKENS.sub(replace, text)

    def lookup(self, name: str, bases: Mapping) -> Any:
        """The value the placeholder ``name`` stands for, looked up by its dotted key in the merged ``bases``."""
        key = self.keys[name]
        node: Any = bases
        done: list[str] = []
        for part in key.split('.'):
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise ConfigError(self._missing(key, part, done, node, bases))
            done.append(part)
        return copy.deepcopy(node)

    def _missing(self, key: str, part: str, done: list[str], node: Any, bases: Mapping) -> str:
        if not bases:
            return (f'{{{{_base_.{key}}}}} in config {self.path}, but this file has no _base_; a {{{{_base_.key}}}} '
                    f'reference needs one.')
        where = '_base_.' + '.'.join(done) + ' has' if done else 'the merged _base_ files have'
        msg = f'{{{{_base_.{key}}}}} in config {self.path}: {where} no key {part!r}.'
        if isinstance(node, Mapping):
            return msg + f'{_did_you_mean(_close_keys(part, node))} Keys there: {_key_list(node)}.'
        return msg + f' It is {type(node).__name__}, not a dict.'

    def resolve(self, value: Any, bases: Mapping) -> Any:
        """``value`` with every placeholder replaced; a placeholder inside a longer string is formatted in."""
        if not self.keys:
            return value
        if isinstance(value, str):
            if value in self.keys:
                return self.lookup(value, bases)
            return self._interpolate(value, bases)
        if isinstance(value, dict):
            return {self._interpolate(k, bases) if isinstance(k, str) else k: self.resolve(v, bases)
                    for k, v in value.items()}
        if type(value) in (list, tuple):
            return type(value)(self.resolve(v, bases) for v in value)
        return value

    def _interpolate(self, text: str, bases: Mapping) -> str:
        for name, key in self.keys.items():
            if name in text:
                value = self.lookup(name, bases)
                if not isinstance(value, _SCALARS):
                    raise ConfigError(f'{{{{_base_.{key}}}}} in config {self.path} stands inside a string, but '
                                      f'_base_.{key} is a {type(value).__name__}; only a str, number, bool or '
                                      f'None can be part of a string. Write the reference on its own.')
                text = text.replace(name, str(value))
        return text


def has_base_ref(text: str) -> bool:
    """Whether ``text`` contains a ``{{_base_.key}}`` reference."""
    return re.search(_REF, text) is not None
