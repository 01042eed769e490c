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

import ast
import copy
import difflib
import importlib
import json
import keyword
import math
import numbers
import os
import re
import sys
import types
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from .errors import ConfigError
from .fileio import atomic_write_text

__all__ = ['Config', 'ConfigDict', 'MissingKeyError', 'parse_cfg_options']

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


# ----------------------------------------------------------------------------- reading files

def _check_exists(path: str, referenced_by: str | None) -> None:
    if not os.path.isfile(path):
        what = 'is a directory, not a file' if os.path.isdir(path) else 'not found'
        where = f' (listed in _base_ of {referenced_by})' if referenced_by else ''
        raise ConfigError(f'config file {path} {what}{where}. Check the path; _base_ paths are '
                          f'relative to the file that lists them.')


def _read_text(path: str) -> str:
    try:
        with open(path, encoding='utf-8') as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f'cannot read config file {path}: {e}') from e


def _line(text: str, lineno: int | None) -> str:
    lines = text.splitlines()
    return lines[lineno - 1].strip() if lineno and 0 < lineno <= len(lines) else ''


def _error_lineno(err: BaseException, path: str) -> int | None:
    """The line of ``path`` where ``err`` was raised (innermost frame of that file)."""
    lineno, tb = None, err.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == path:
            lineno = tb.tb_lineno
        tb = tb.tb_next
    return lineno


def _load_py(path: str, text: str) -> dict:
    """Execute a ``.py`` config and keep its public variables (plus ``_base_``)."""
    try:
        code = compile(text, path, 'exec', dont_inherit=True)
    except SyntaxError as e:
        line = (e.text or '').strip() or _line(text, e.lineno)
        raise ConfigError(f'syntax error in config {path}, line {e.lineno}: {e.msg}\n    {line}') from None
    except ValueError as e:  # e.g. null bytes in the source
        raise ConfigError(f'config {path} is not valid Python source: {e}') from None
    namespace: dict[str, Any] = {'__file__': os.path.abspath(path), '__name__': '__imgcls_config__'}
    try:
        exec(code, namespace)
    except Exception as e:
        lineno = _error_lineno(e, path)
        hint = ('\nA .py config cannot see the variables of its _base_ files: define the name in this file.'
                if isinstance(e, NameError) and _BASE_KEY in namespace else '')
        raise ConfigError(f'error while executing config {path}, line {lineno}: {type(e).__name__}: {e}'
                          f'\n    {_line(text, lineno)}{hint}') from e
    dropped = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type)
    return {k: v for k, v in namespace.items()
            if (k == _BASE_KEY or not k.startswith('_')) and not isinstance(v, dropped)}


class _YamlLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` (builds only plain data) that also reads ``1e-4`` as a float, as YAML 1.2 does."""


# PyYAML follows YAML 1.1, where a float needs a dot: without this, `lr: 1e-4` would load as a string
_YamlLoader.add_implicit_resolver(
    'tag:yaml.org,2002:float', re.compile(r'^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$'),
    list('-+0123456789'))


def _load_data(path: str, text: str, ext: str) -> Any:
    """Parse a ``.json`` or ``.yaml`` config as data."""
    try:
        if ext == '.json':
            return json.loads(text)
        return yaml.load(text, Loader=_YamlLoader)  # a SafeLoader: builds plain data only
    except json.JSONDecodeError as e:
        raise ConfigError(f'invalid JSON in config {path}, line {e.lineno}, column {e.colno}: {e.msg}'
                          f'\n    {_line(text, e.lineno)}') from None
    except yaml.YAMLError as e:
        mark = getattr(e, 'problem_mark', None)
        lineno = mark.line + 1 if mark is not None else None
        problem = getattr(e, 'problem', None) or str(e)
        raise ConfigError(f'invalid YAML in config {path}, line {lineno}: {problem}'
                          f'\n    {_line(text, lineno)}') from None
    except RecursionError:
        raise ConfigError(f'config {path} is nested too deeply to read (more than {_MAX_DEPTH} levels are '
                          'not supported)') from None
    except (ValueError, OverflowError) as e:  # e.g. an integer of more than 4300 digits
        raise ConfigError(f'config {path} holds a value that cannot be read: {e}') from None


_MAX_DEPTH = 100  # nesting levels of dicts and lists
_MAX_VALUES = 1_000_000  # values counted with repeats: YAML aliases can multiply a small file ("billion laughs")


def _check_size(content: Any, path: str) -> None:
    """Refuse a config nested too deeply, containing itself, or expanding to millions of values.

    Merging and dumping walk the config recursively: such a value would overflow the stack or run for
    hours instead of failing with a message.
    """
    on_path: set[int] = set()
    stack: list[tuple[Any, int, bool]] = [(content, 0, False)]
    visits = 0
    while stack:
        node, depth, leaving = stack.pop()
        if leaving:
            on_path.discard(id(node))
            continue
        visits += 1
        if visits > _MAX_VALUES:
            raise ConfigError(f'config {path} expands to more than {_MAX_VALUES:,} values (YAML anchors and '
                              'aliases that refer to each other?); a config this large is not supported')
        if not isinstance(node, (dict, list, tuple)):
            continue
        if id(node) in on_path:
            raise ConfigError(f'config {path} holds a value that contains itself (a recursive YAML alias?); '
                              'configs must be trees of plain values')
        if depth >= _MAX_DEPTH:
            raise ConfigError(f'config {path} is nested more than {_MAX_DEPTH} levels deep')
        on_path.add(id(node))
        stack.append((node, depth, True))
        children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        stack.extend((child, depth + 1, False) for child in children)


def _load_single(path: str, referenced_by: str | None) -> tuple[dict, str]:
    """Load one file, without resolving its ``_base_``; returns (content, text)."""
    _check_exists(path, referenced_by)
    ext = os.path.splitext(path)[1].lower()
    if ext not in _EXTENSIONS:
        raise ConfigError(f'config file {path} has unsupported extension {ext!r}; use one of '
                          f'{", ".join(_EXTENSIONS)}.')
    text = _read_text(path)
    content = _load_py(path, text) if ext == '.py' else _load_data(path, text, ext)
    if content is None:  # an empty YAML file
        content = {}
    _check_size(content, path)
    if not isinstance(content, dict):
        raise ConfigError(f'the top level of config {path} must be a mapping of keys to values, '
                          f'got {type(content).__name__}')
    return content, text


def _merge(base: Mapping, child: Mapping) -> dict:
    """Merge ``child`` over ``base``: dicts recursively unless ``_delete_=True``; anything else replaced."""
    out = dict(base)
    for key, value in child.items():
        if isinstance(value, dict):
            value = dict(value)
            replace = value.pop(_DELETE_KEY, False)
            if not replace and isinstance(out.get(key), dict):
                value = _merge(out[key], value)
        out[key] = value
    return out


def _strip_delete(value: Any) -> Any:
    """Drop the ``_delete_`` markers left in dicts that had nothing to replace."""
    if isinstance(value, dict):
        return {k: _strip_delete(v) for k, v in value.items() if k != _DELETE_KEY}
    if type(value) in (list, tuple):
        return type(value)(_strip_delete(v) for v in value)
    return value


def _base_list(value: Any, path: str) -> list[str]:
    bases = [value] if isinstance(value, str) else value
    if not isinstance(bases, (list, tuple)) or not all(isinstance(b, str) for b in bases):
        raise ConfigError(f'_base_ in config {path} must be a path or a list of paths, got {value!r}')
    return list(bases)


def _cycle_message(chain: list[str], real: str) -> str:
    cycle = chain[chain.index(real):] + [real]
    root = os.path.dirname(cycle[0])
    shown = ' -> '.join(os.path.relpath(p, root) for p in cycle)
    return f'_base_ inheritance cycle: {shown} (in {root}). Remove one of these _base_ entries.'


def _load_tree(path: str, chain: list[str], referenced_by: str | None = None
               ) -> tuple[dict, list[tuple[str, str]]]:
    """Load ``path`` merged over its bases; returns (content, [(file, text), ...] bases first)."""
    if '\x00' in path:  # the OS cannot open such a name; say so instead of a ValueError
        where = f' (listed in _base_ of {referenced_by})' if referenced_by else ''
        raise ConfigError(f'config path {path!r}{where} contains a NUL character')
    real = os.path.realpath(path)
    if real in chain:
        raise ConfigError(_cycle_message(chain, real))
    content, text = _load_single(path, referenced_by)
    if _BASE_KEY not in content:
        return _strip_delete(content), [(path, text)]
    merged: dict = {}
    origin: dict[Any, str] = {}
    sources: list[tuple[str, str]] = []
    for base in _base_list(content.pop(_BASE_KEY), path):
        base_path = os.path.normpath(os.path.join(os.path.dirname(path), os.path.expanduser(base)))
        base_cfg, base_sources = _load_tree(base_path, chain + [real], referenced_by=path)
        for key in base_cfg:
            if key in origin:
                raise ConfigError(f'key {key!r} is set by two base configs of {path}: {origin[key]} and '
                                  f'{base_path}. A top-level key may come from only one base; remove it '
                                  f'from one of them.')
            origin[key] = base_path
        merged.update(base_cfg)
        sources += base_sources
    return _strip_delete(_merge(merged, content)), sources + [(path, text)]


# ----------------------------------------------------------------------------- --cfg-options

_WORDS = {'True': True, 'true': True, 'False': False, 'false': False, 'None': None, 'none': None,
          'null': None}
_PAIRS = {'(': ')', '[': ']', '{': '}'}
_MAX_NESTING = 50
_FAIL = object()


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


def _parse_value(text: str, depth: int = 0) -> Any:
    """Parse one ``--cfg-options`` value without eval; what isn't a literal stays a (stripped) string."""
    s = text.strip()
    if s in _WORDS:
        return _WORDS[s]
    if depth > _MAX_NESTING:
        return s
    parts = _split_top_level(s)
    if parts is not None and len(parts) > 1:
        return _items(parts, depth)  # a,b,c
    if parts is not None and len(s) >= 2 and s[0] + s[-1] in ('[]', '()'):
        inner = _split_top_level(s[1:-1])
        if inner is not None:  # the first bracket closes at the end: one list or tuple
            items = [] if inner == [''] or not s[1:-1].strip() else _items(inner, depth)
            return items if s[0] == '[' else tuple(items)
    value = _literal(s)
    return s if value is _FAIL else value


def parse_cfg_options(options: list[str] | None) -> dict[str, Any]:
    """Parse ``['model.backbone.depth=50', 'a=[1,2]', ...]`` into ``{'model.backbone.depth': 50, ...}``.

    Values are read without ``eval``: numbers, ``True/False/true/false``,
    ``None/none/null``, quoted strings, ``[..]`` lists, ``(..)`` tuples (nested),
    ``a,b,c`` lists and dict literals; anything else is kept as a string.
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
        parsed[key] = _parse_value(raw)
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


# ----------------------------------------------------------------------------- custom_imports

def _import_custom_modules(cfg: Mapping, search_dirs: list[str]) -> None:
    """Import ``custom_imports['imports']`` so the ``@register_module`` decorators in them run."""
    spec = cfg.get('custom_imports')
    if spec is None:
        return
    example = "custom_imports=dict(imports=['my_module'], allow_failed_imports=False)"
    if not isinstance(spec, dict):
        raise ConfigError(f'custom_imports must be a dict like {example}, got {spec!r}')
    for key in spec:
        if key not in ('imports', 'allow_failed_imports'):
            close = _close_keys(key, ['imports', 'allow_failed_imports'])
            raise ConfigError(f'unknown key {key!r} in custom_imports.{_did_you_mean(close)} '
                              f'Expected {example}.')
    imports = spec.get('imports', [])
    imports = [imports] if isinstance(imports, str) else imports
    if not isinstance(imports, (list, tuple)) or not all(isinstance(m, str) and m for m in imports):
        raise ConfigError(f'custom_imports.imports must be a list of module names, got {imports!r}. '
                          f'Expected {example}.')
    allow_failed = spec.get('allow_failed_imports', False)
    if not isinstance(allow_failed, bool):
        raise ConfigError(f'custom_imports.allow_failed_imports must be True or False, got {allow_failed!r}')
    for directory in search_dirs:  # kept for good: spawned data workers re-import the same modules
        if directory not in sys.path:
            sys.path.append(directory)
    for name in imports:
        try:
            importlib.import_module(name)
        except Exception as e:
            msg = (f'custom_imports: cannot import {name!r} ({type(e).__name__}: {e}). It must be an '
                   f'installed module or a file next to the config (in {", ".join(search_dirs)}).')
            if not allow_failed:
                raise ConfigError(msg) from e
            warnings.warn(msg + ' Skipped because allow_failed_imports=True.', stacklevel=3)


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


# ----------------------------------------------------------------------------- Config

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
