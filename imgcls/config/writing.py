"""Writing a config back out as ``.py`` (loads back equal), ``.json`` or ``.yaml``."""

from __future__ import annotations

import ast
import json
import keyword
import math
import numbers
from collections.abc import Mapping
from typing import Any

import yaml

from ..errors import ConfigError
from .config_dict import (
    ConfigDict,
)

# ----------------------------------------------------------------------------- writing

def _format_scalar(value: Any, path: str) -> str:
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, str):
        return repr(str(value))  # str(): a str subclass (an enum) would repr as its class
    if isinstance(value, numbers.Integral):
        return repr(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        return repr(value) if math.isfinite(value) else f"float('{value}')"
    text = repr(value)
    try:
        if ast.literal_eval(text) == value:
            return text
    except Exception:
        pass
    raise ConfigError(f'cannot write {path}={text} ({type(value).__name__}) as Python source; only '
                      f'dicts, lists, tuples, strings, numbers, bools and None can be written.')


def _is_name(key: Any) -> bool:
    """Whether ``key`` can be written as ``key=...``; non-ASCII names are NFKC-normalized by Python."""
    return isinstance(key, str) and key.isascii() and key.isidentifier() and not keyword.iskeyword(key)


def _format_value(value: Any, indent: int, path: str) -> str:
    """Python source for ``value``; nested containers are indented by ``indent`` + 4."""
    pad, end = ' ' * (indent + 4), ' ' * indent
    if isinstance(value, dict):
        if not value:
            return 'dict()'
        as_kwargs = all(_is_name(k) for k in value)
        items = [(f'{k}=' if as_kwargs else f'{_format_scalar(k, path)}: ')
                 + _format_value(v, indent + 4, f'{path}.{k}') for k, v in value.items()]
        brackets = ('dict(', ')') if as_kwargs else ('{', '}')
    elif isinstance(value, (list, tuple)):
        items = [_format_value(v, indent + 4, f'{path}.{i}') for i, v in enumerate(value)]
        brackets = ('[', ']') if isinstance(value, list) else ('(', ')')
        if isinstance(value, tuple) and len(items) == 1:
            return f'({items[0]},)' if '\n' not in items[0] else f'(\n{pad}{items[0]},\n{end})'
        if not items:
            return brackets[0] + brackets[1]
    else:
        return _format_scalar(value, path)
    one_line = brackets[0] + ', '.join(items) + brackets[1]
    if '\n' not in one_line and indent + len(one_line) <= 90:
        return one_line
    return brackets[0] + '\n' + ''.join(f'{pad}{item},\n' for item in items) + end + brackets[1]


def _pretty_text(cfg: Mapping) -> str:
    lines = []
    for key, value in cfg.items():
        if not _is_name(key) or key.startswith('_'):
            raise ConfigError(f'top-level key {key!r} cannot be a variable of a .py config; '
                              f'dump the config as .json or .yaml instead.')
        lines.append(f'{key} = {_format_value(value, 0, key)}')
    return '\n'.join(lines) + '\n'


def _lists_for_tuples(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _lists_for_tuples(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists_for_tuples(v) for v in value]
    return value


def _serialize(cfg: ConfigDict, fmt: str) -> str:
    if fmt == '.py':
        return _pretty_text(cfg)
    data = _lists_for_tuples(cfg.to_dict())
    try:
        if fmt == '.json':
            return json.dumps(data, indent=4, ensure_ascii=False) + '\n'
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
    except (TypeError, ValueError, yaml.YAMLError) as e:
        raise ConfigError(f'cannot write the config as {fmt}: {e}. Dump it as .py instead.') from e
