"""Registries map the ``type`` strings of config dicts to classes.

A class joins a registry with ``@REGISTRY.register_module()`` and is built
from ``dict(type='Name', **kwargs)`` by :func:`build_from_cfg`. Errors name
the registry, the config path of the failing dict (``model.backbone``) and
the closest registered names.
"""

from __future__ import annotations

import ast
import contextvars
import difflib
import inspect
import textwrap
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .errors import BuildError, ConfigError, ImgclsError, RegistryError

__all__ = ['Registry', 'build_from_cfg', 'all_registries', 'accepted_arguments',
           'accepted_parameters']

_ALL_REGISTRIES: weakref.WeakValueDictionary[str, Registry] = weakref.WeakValueDictionary()
# prefixes of other toolboxes' configs ("mmcls.ResNet") that name the same class
_FOREIGN_SCOPES = ('mmcls.', 'mmpretrain.', 'mmcv.', 'mmengine.', 'imgcls.')


class Registry:
    """A name → class mapping for one kind of part (backbone, head, dataset, ...)."""

    def __init__(self, name: str):
        self.name = name
        self._module_dict: dict[str, type | Callable] = {}
        _ALL_REGISTRIES[name] = self

    def __len__(self) -> int:
        return len(self._module_dict)

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __repr__(self) -> str:
        return f'Registry(name={self.name!r}, items={sorted(self._module_dict)})'

    @property
    def module_dict(self) -> dict[str, type | Callable]:
        return dict(self._module_dict)

    def keys(self) -> list[str]:
        return sorted(self._module_dict)

    def get(self, key: str) -> type | Callable | None:
        """Return the class registered as ``key`` (or None)."""
        if not isinstance(key, str):
            return None
        if key in self._module_dict:
            return self._module_dict[key]
        for scope in _FOREIGN_SCOPES:
            if key.startswith(scope) and key[len(scope):] in self._module_dict:
                return self._module_dict[key[len(scope):]]
        return None

    def _register(self, module: type | Callable, names: str | Iterable[str] | None, force: bool) -> None:
        if not callable(module):
            raise TypeError(f'only classes and functions can be registered, got {module!r}')
        if names is None:
            names = [module.__name__]
        elif isinstance(names, str):
            names = [names]
        for name in names:
            if not force and name in self._module_dict and self._module_dict[name] is not module:
                other = self._module_dict[name]
                raise RegistryError(
                    f"'{name}' is already registered in the {self.name} registry "
                    f'(by {other.__module__}.{other.__qualname__}). Give the new class another '
                    f"name with register_module(name='...'), or replace the old one with "
                    f'register_module(force=True).')
            self._module_dict[name] = module

    def register_module(self, name: str | list[str] | None = None, force: bool = False,
                        module: type | Callable | None = None):
        """Register a class, as a decorator (``@R.register_module()``) or a call (``module=cls``).

        Args:
            name: the name(s) to register under; defaults to the class name.
            force: replace a class already registered under the same name.
            module: the class to register now instead of returning a decorator.
        """
        if not isinstance(force, bool):
            raise TypeError(f'force must be a bool, got {type(force).__name__}')
        if name is not None and not isinstance(name, str):
            if not (isinstance(name, (list, tuple)) and all(isinstance(n, str) for n in name)):
                raise TypeError(f'name must be None, a str or a list of str, got {name!r}')
        if module is not None:
            self._register(module, name, force)
            return module

        def _decorator(cls):
            self._register(cls, name, force)
            return cls

        return _decorator

    def build(self, cfg: Mapping, default_args: Mapping | None = None, path: str | None = None):
        return build_from_cfg(cfg, self, default_args, path=path)

    def unknown_type_message(self, type_name: str) -> str:
        """An explanation of why ``type_name`` is not here and what to use instead."""
        msg = f"'{type_name}' is not registered in the {self.name} registry."
        close = difflib.get_close_matches(type_name, list(self._module_dict), n=3, cutoff=0.6)
        if not close:  # case-insensitive second chance: 'resnet' -> 'ResNet'
            lower = {k.lower(): k for k in self._module_dict}
            close = [lower[m] for m in difflib.get_close_matches(type_name.lower(), list(lower), n=3)]
        if close:
            msg += ' Did you mean ' + ' or '.join(repr(c) for c in close) + '?'
        elsewhere = [r.name for r in list(_ALL_REGISTRIES.values())
                     if r is not self and type_name in r._module_dict]
        if elsewhere:
            msg += (f" '{type_name}' is a {' and a '.join(elsewhere)}, not a {self.name}: "
                    f'check that it is under the right key of the config.')
        elif not close:
            shown = ', '.join(sorted(self._module_dict)[:30]) or '(nothing yet)'
            msg += f' Registered {self.name}s: {shown}.'
        msg += (' A class of your own must be imported before it is built: add its module to '
                "custom_imports=dict(imports=['my_module']) in the config.")
        return msg


def all_registries() -> dict[str, Registry]:
    """All registries created so far, by name."""
    return dict(_ALL_REGISTRIES)


# The config path of the dict being built, so nested builds can name their key.
_BUILD_STACK: contextvars.ContextVar[tuple] = contextvars.ContextVar('imgcls_build_stack', default=())


def _child_path(cfg: Mapping) -> str | None:
    """Find ``cfg`` among the arguments of the enclosing build and return its config path."""
    stack = _BUILD_STACK.get()
    if not stack:
        return None
    parent_path, parent_args = stack[-1]
    for match in (lambda a, b: a is b, lambda a, b: a == b):
        for key, value in parent_args.items():
            if isinstance(value, Mapping) and match(value, cfg):
                return f'{parent_path}.{key}'
            if isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Mapping) and match(item, cfg):
                        return f'{parent_path}.{key}.{i}'
    return None


def _fixed_keywords(init: Callable) -> set[str]:
    """Keywords that ``init`` passes by name to its parent's ``__init__``: not the user's to set."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    except (OSError, TypeError, SyntaxError):  # no source (C code, a REPL class): assume none
        return set()
    fixed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == '__init__':
            fixed.update(k.arg for k in node.keywords if k.arg is not None)
    return fixed


def _own_parameters(func: Callable) -> tuple[list[inspect.Parameter], bool]:
    """The named parameters of ``func`` and whether it takes ``**kwargs``."""
    params = list(inspect.signature(func).parameters.values())
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return named, any(p.kind is p.VAR_KEYWORD for p in params)


def accepted_parameters(obj_cls: Callable) -> dict[str, inspect.Parameter]:
    """The keyword parameters ``obj_cls(...)`` accepts (with their defaults), following ``**kwargs`` up the
    classes it inherits from; a keyword a class passes to its parent itself is not the caller's to set."""
    if not isinstance(obj_cls, type):
        return {p.name: p for p in _own_parameters(obj_cls)[0]}
    found: dict[str, inspect.Parameter] = {}
    fixed: set[str] = set()
    for klass in obj_cls.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None or klass is object:
            continue
        own, forwards = _own_parameters(init)
        for p in own[1:]:  # own[0] is self
            if p.name not in found and p.name not in fixed:
                found[p.name] = p
        if not forwards:
            break
        fixed |= _fixed_keywords(init)
    return found


def accepted_arguments(obj_cls: Callable) -> list[str]:
    """The keyword arguments ``obj_cls(...)`` accepts, following ``**kwargs`` up the classes it inherits from."""
    return list(accepted_parameters(obj_cls))


def _did_you_mean(bad: str, names: list[str]) -> str:
    close = difflib.get_close_matches(bad, names, n=2)
    return ' Did you mean ' + ' or '.join(repr(c) for c in close) + '?' if close else ''


def _explain_type_error(cls: Callable, err: TypeError, given: Iterable[str] = ()) -> str:
    """Turn "got an unexpected keyword argument 'x'" into a sentence listing the valid arguments.

    ``given``: the keywords of the call; when Python reports a missing argument first, the ones that are
    not arguments at all (a misspelt required one, as 'deph' for 'depth') are named too."""
    text = str(err).rstrip()
    try:
        names = accepted_arguments(cls)
    except (TypeError, ValueError):  # no signature to read
        return text
    if not any(m in text for m in ('unexpected keyword argument', 'positional argument', 'multiple values for')):
        return text  # raised inside the constructor, not a mismatch of the call
    text += '' if text.endswith(('.', '?', '!')) else '.'
    if 'unexpected keyword argument' in text:
        bad = text.rsplit("'", 2)[-2] if text.count("'") >= 2 else ''
        text += _did_you_mean(bad, names)
    elif 'missing' in text:
        for bad in (k for k in given if k not in names):
            text += f' {bad!r} is not one of its arguments.{_did_you_mean(bad, names)}'
    if names:
        text += f' Valid arguments: {", ".join(names)}.'
    return text


_ERROR_TYPES: dict[type, type] = {}


def _build_error_like(err: Exception) -> type:
    """A BuildError that is also an instance of ``type(err)``, so ``except ValueError`` still works."""
    cls = type(err)
    if cls not in _ERROR_TYPES:
        try:
            _ERROR_TYPES[cls] = type(cls.__name__, (BuildError, cls), {'__module__': __name__})
            _ERROR_TYPES[cls]('probe')
        except TypeError:  # incompatible layout (e.g. OSError): fall back to plain BuildError
            _ERROR_TYPES[cls] = BuildError
    return _ERROR_TYPES[cls]


def build_from_cfg(cfg: Mapping, registry: Registry, default_args: Mapping | None = None,
                   path: str | None = None) -> Any:
    """Build an object from ``dict(type=..., **kwargs)`` without changing ``cfg``.

    Args:
        cfg: the config dict; ``type`` is a registered name or a class.
        registry: where to look ``type`` up.
        default_args: arguments used where ``cfg`` does not set them.
        path: where ``cfg`` sits in the config (``model.backbone``), for messages;
            found automatically for dicts passed to an enclosing build.
    """
    if path is None:
        path = _child_path(cfg) if isinstance(cfg, Mapping) else None
    where = f' at {path}' if path else ''
    if not isinstance(cfg, Mapping):
        raise ConfigError(f'the {registry.name} config{where} must be a dict with a "type" key, '
                          f'got {type(cfg).__name__}: {cfg!r}')
    if default_args is not None and not isinstance(default_args, Mapping):
        raise TypeError(f'default_args must be a dict or None, got {type(default_args).__name__}')
    if 'type' not in cfg and (default_args is None or 'type' not in default_args):
        raise ConfigError(f'the {registry.name} config{where} has no "type" key: {dict(cfg)!r}. '
                          f'Add type=... naming one of: {", ".join(registry.keys()[:20])}.')
    args = dict(cfg)
    if default_args is not None:
        for key, value in default_args.items():
            args.setdefault(key, value)
    obj_type = args.pop('type')
    if isinstance(obj_type, str):
        obj_cls = registry.get(obj_type)
        if obj_cls is None:
            raise RegistryError(registry.unknown_type_message(obj_type) + (f' (at {path})' if path else ''))
        type_name = obj_type
    elif callable(obj_type):
        obj_cls, type_name = obj_type, getattr(obj_type, '__name__', repr(obj_type))
    else:
        raise ConfigError(f'"type"{where} must be a str or a class, got {obj_type!r}')

    label = path or registry.name
    token = _BUILD_STACK.set(_BUILD_STACK.get() + ((label, args),))
    try:
        return obj_cls(**args)
    except BuildError:
        raise  # already names the innermost failing config
    except Exception as e:
        text = _explain_type_error(obj_cls, e, args) if isinstance(e, TypeError) else str(e)
        if not isinstance(e, ImgclsError):
            text = f'{type(e).__name__}: {text}'
        raise _build_error_like(e)(f'{label} (type={type_name!r}): {text}') from e
    finally:
        _BUILD_STACK.reset(token)
