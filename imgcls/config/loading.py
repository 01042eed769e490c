"""Reading config files: formats, ``_base_`` inheritance, ``_delete_``, ``custom_imports``."""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
import types
import warnings
from collections.abc import Mapping
from typing import Any

import yaml

from ..errors import ConfigError
from .config_dict import (
    _BASE_KEY,
    _DELETE_KEY,
    _EXTENSIONS,
    _close_keys,
    _did_you_mean,
)
from .substitution import BaseRefs, has_base_ref, substitute_predefined

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


def _load_py(path: str, text: str, source: str) -> dict:
    """Execute ``source`` (``text`` after substitutions) and keep its public variables (plus ``_base_``)."""
    try:
        code = compile(source, path, 'exec', dont_inherit=True)
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
        hint = ('\nA .py config cannot see the variables of its _base_ files: define the name in this file, '
                'or refer to it as {{_base_.name}}.' if isinstance(e, NameError) and _BASE_KEY in namespace else '')
        if source is not text and has_base_ref(_line(text, lineno)):
            hint += ('\nWhile a .py config runs, a {{_base_.key}} reference is only a placeholder string: use it '
                     'as a whole value, not in an expression.')
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


def _load_single(path: str, referenced_by: str | None) -> tuple[dict, str, BaseRefs]:
    """Load one file, without resolving its ``_base_``; returns (content, text, its base references)."""
    _check_exists(path, referenced_by)
    ext = os.path.splitext(path)[1].lower()
    if ext not in _EXTENSIONS:
        raise ConfigError(f'config file {path} has unsupported extension {ext!r}; use one of '
                          f'{", ".join(_EXTENSIONS)}.')
    text = _read_text(path)
    refs = BaseRefs(path)
    source = substitute_predefined(text, path)
    if has_base_ref(source):
        source = refs.rewrite(source, ext)
    content = _load_py(path, text, source) if ext == '.py' else _load_data(path, source, ext)
    if content is None:  # an empty YAML file
        content = {}
    _check_size(content, path)
    if not isinstance(content, dict):
        raise ConfigError(f'the top level of config {path} must be a mapping of keys to values, '
                          f'got {type(content).__name__}')
    return content, text, refs


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
    content, text, refs = _load_single(path, referenced_by)
    if _BASE_KEY not in content:
        return _strip_delete(refs.resolve(content, {})), [(path, text)]
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
    content = refs.resolve(content, merged)  # against the merged bases, before this file's own values
    return _strip_delete(_merge(merged, content)), sources + [(path, text)]


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
