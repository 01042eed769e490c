"""``--cfg-options``: parsing ``key=value`` strings (never with eval) and setting nested keys."""

from __future__ import annotations

import ast
import warnings
from typing import Any

from ..errors import ConfigError
from .config_dict import (
    _DELETE_KEY,
    _close_keys,
    _convert,
    _did_you_mean,
    _key_list,
)
from .loading import _merge, _strip_delete

# ----------------------------------------------------------------------------- --cfg-options

_WORDS = {'True': True, 'true': True, 'False': False, 'false': False, 'None': None, 'none': None,
          'null': None}
_PAIRS = {'(': ')', '[': ']', '{': '}'}
_MAX_NESTING = 50
_FAIL = object()


class _Unparsable(Exception):
    """A bracketed value that is not a complete literal; args: (the text, why)."""


def _split_top_level(text: str) -> list[str] | None:
    """Split at commas outside brackets and quotes; None if brackets or quotes don't balance."""
    parts, closers, quote, escaped, start = [], [], '', False, 0
    for i, ch in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif ch == '\\':
                escaped = True
            elif ch == quote:
                quote = ''
        elif ch in '\'"':
            quote = ch
        elif ch in _PAIRS:
            closers.append(_PAIRS[ch])
        elif ch in ')]}':
            if not closers or closers.pop() != ch:
                return None
        elif ch == ',' and not closers:
            parts.append(text[start:i])
            start = i + 1
    if quote or closers:
        return None
    return parts + [text[start:]]


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if type(value) in (list, tuple):
        return all(_is_plain(v) for v in value)
    if type(value) is dict:
        return all(_is_plain(k) and _is_plain(v) for k, v in value.items())
    return False


def _literal(text: str) -> Any:
    """``ast.literal_eval`` limited to str/number/bool/None/list/tuple/dict; ``_FAIL`` otherwise."""
    try:
        with warnings.catch_warnings():  # e.g. SyntaxWarning for '\d' in a quoted string
            warnings.simplefilter('ignore')
            value = ast.literal_eval(text)
    except Exception:  # SyntaxError, ValueError, RecursionError, MemoryError ...: not a literal
        return _FAIL
    return value if _is_plain(value) else _FAIL


def _items(parts: list[str], depth: int) -> list:
    if parts[-1].strip() == '':  # a trailing comma, as in Python
        parts = parts[:-1]
    return [_parse_value(p, depth + 1) for p in parts]


def _why_unparsable(s: str) -> str:
    if _split_top_level(s) is None:
        return 'its brackets or quotes do not balance'
    if s.startswith('{'):
        return "a dict needs quoted keys and literal values, e.g. {'policy': 'step', 'step': [30, 60]}"
    return f'it is not one complete {"list" if s[0] == "[" else "tuple"}'


def _parse_value(text: str, depth: int = 0) -> Any:
    """Parse one ``--cfg-options`` value without eval; what isn't a literal stays a (stripped) string.

    Raises _Unparsable for text that starts with a bracket but is not a literal: it was meant as one.
    """
    s = text.strip()
    if s in _WORDS:
        return _WORDS[s]
    if depth > _MAX_NESTING:
        raise _Unparsable(s, f'it is nested more than {_MAX_NESTING} levels deep')
    parts = _split_top_level(s)
    if parts is not None and len(parts) > 1:
        return _items(parts, depth)  # a,b,c
    if parts is not None and len(s) >= 2 and s[0] + s[-1] in ('[]', '()'):
        inner = _split_top_level(s[1:-1])
        if inner is not None:  # the first bracket closes at the end: one list or tuple
            if len(inner) > 1 and any(not p.strip() for p in inner[:-1]):
                raise _Unparsable(s, 'it has an empty item between two commas')
            items = [] if inner == [''] or not s[1:-1].strip() else _items(inner, depth)
            return items if s[0] == '[' else tuple(items)
    value = _literal(s)
    if value is _FAIL and s[:1] in _PAIRS:
        raise _Unparsable(s, _why_unparsable(s))
    return s if value is _FAIL else value


def _bare_equals(text: str) -> bool:
    """Whether ``text`` has an ``=`` outside quotes (``a=0.1=2``: two options run together)."""
    quote, escaped = '', False
    for ch in text:
        if escaped:
            escaped = False
        elif quote:
            escaped = ch == '\\'
            quote = '' if ch == quote else quote
        elif ch in '\'"':
            quote = ch
        elif ch == '=':
            return True
    return False


def parse_cfg_options(options: list[str] | None) -> dict[str, Any]:
    """Parse ``['model.backbone.depth=50', 'a=[1,2]', ...]`` into ``{'model.backbone.depth': 50, ...}``.

    Values are read without ``eval``: numbers, ``True/False/true/false``,
    ``None/none/null``, quoted strings, ``[..]`` lists, ``(..)`` tuples (nested),
    ``a,b,c`` lists and dict literals; anything else is kept as a string. A value
    that starts with ``(``, ``[`` or ``{`` but does not parse, or has a second
    ``=`` outside quotes, is a ConfigError naming the key and the value.
    """
    parsed: dict[str, Any] = {}
    for item in options or []:
        if not isinstance(item, str) or '=' not in item:
            raise ConfigError(f'--cfg-options: {item!r} is not of the form key=value '
                              f'(e.g. model.backbone.depth=50 or data.samples_per_gpu=8).')
        key, raw = item.split('=', 1)
        key = key.strip()
        if not key:
            raise ConfigError(f'--cfg-options: {item!r} has no key before "="; expected key=value.')
        if _bare_equals(raw):
            raise ConfigError(f'--cfg-options: {item!r} has more than one "=". Give one key=value per item '
                              f'(items are separated by spaces); quote a string value that contains "=", '
                              f'as in name="\'a=b\'".')
        try:
            parsed[key] = _parse_value(raw)
        except _Unparsable as e:
            text, why = e.args
            where = '' if text == raw.strip() else f' in {raw.strip()!r}'
            raise ConfigError(f'--cfg-options: the value of {key!r} does not parse: {text!r}{where} ({why}). '
                              f'A value starting with (, [ or {{ must be a complete tuple, list or dict; to '
                              f'pass it as a string, put it in quotes.') from None
    return parsed


def _merge_value(old: Any, new: Any) -> Any:
    if isinstance(old, dict) and isinstance(new, dict) and not new.get(_DELETE_KEY, False):
        return _strip_delete(_merge(old, new))
    return _strip_delete(new)


def _set_path(node: Any, parts: list[str], value: Any, done: list[str], full_key: str,
              allow_list_keys: bool) -> Any:
    """Set ``value`` at ``parts`` below ``node``; returns the node (a new one if it is a tuple)."""
    head, rest = parts[0], parts[1:]
    where = repr('.'.join(done)) if done else 'the config'
    if isinstance(node, dict):
        # a new leaf key is fine (constructor arguments the config leaves at their defaults); a misspelt
        # one is reported when its dict is built, with the valid argument names
        if head not in node and rest:
            close = _close_keys(head, node, cutoff=0.6)
            raise ConfigError(f'cannot set {full_key!r}: {where} has no key {head!r}.'
                              f'{_did_you_mean(close)} Keys of {where}: {_key_list(node)}.')
        node[head] = (_merge_value(node.get(head), value) if not rest else
                      _set_path(node[head], rest, value, done + [head], full_key, allow_list_keys))
        return node
    if isinstance(node, (list, tuple)) and allow_list_keys:
        if not head.isdigit():
            raise ConfigError(f'cannot set {full_key!r}: {where} is a list, so {head!r} must be an index '
                              f'from 0 to {len(node) - 1}.')
        idx = int(head)
        if idx >= len(node):
            raise ConfigError(f'cannot set {full_key!r}: index {idx} is out of range, {where} is a list '
                              f'of length {len(node)}.')
        item = (_merge_value(node[idx], value) if not rest else
                _set_path(node[idx], rest, value, done + [head], full_key, allow_list_keys))
        if isinstance(node, tuple):
            return node[:idx] + (_convert(item),) + node[idx + 1:]
        node[idx] = _convert(item)
        return node
    kind = 'a list (list indices are disabled)' if isinstance(node, (list, tuple)) else \
        f'{type(node).__name__} {node!r}, not a dict'
    raise ConfigError(f'cannot set {full_key!r}: {where} is {kind}. Set {where} as a whole instead.')
