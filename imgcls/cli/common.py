"""Argument helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import difflib
from pathlib import Path

from ..config import Config, parse_cfg_options
from ..config.shipped import configs_dir, shipped_configs
from ..errors import ConfigError


def add_cfg_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='override config values, e.g. optimizer.lr=0.01 runner.max_epochs=5 '
                             'model.head.topk=[1,5] (values are parsed as literals, never run as code)')


CONFIG_SUFFIXES = ('.py', '.json', '.yaml', '.yml')


def resolve_config(path: str) -> str:
    """``path`` itself when it is a file, else the shipped config it names (``resnet18_digits``,
    ``resnet/resnet18_digits`` or ``configs/resnet/resnet18_digits.py``); ConfigError with close matches."""
    if Path(path).is_file():
        return path
    root = configs_dir()
    name = path[:-3] if path.endswith('.py') else path
    if name.startswith('configs/'):  # as `imgcls list configs` prints it, wherever the package is installed
        name = name[len('configs/'):]
    if root is None or Path(name).is_absolute() or path.endswith(CONFIG_SUFFIXES[1:]):
        raise _missing(path, [])
    inside = root / f'{name}.py'
    if '_base_' not in Path(name).parts and inside.is_file():
        return str(inside)
    configs = shipped_configs()
    matches = [p for p in configs if p.stem == Path(name).name]
    if len(matches) == 1:
        return str(matches[0])
    if len(matches) > 1:
        names = ', '.join(str(p.relative_to(root).with_suffix('')) for p in matches)
        raise ConfigError(f'config name {path} matches {len(matches)} shipped configs ({names}): name one of them')
    raise _missing(path, difflib.get_close_matches(Path(name).name, [p.stem for p in configs], 3))


def _missing(path: str, close: list[str]) -> ConfigError:
    hint = ''
    if close:
        hint = ' (did you mean ' + (f'{", ".join(close[:-1])} or {close[-1]}' if len(close) > 1 else close[0]) + '?)'
    return ConfigError(f'config {path} is neither a file nor the name of a shipped config{hint}; '
                       '`imgcls list configs` shows the shipped ones')


def load_config(path: str, cfg_options: list[str] | None = None):
    """Load a config file (or a shipped config by name) and apply ``--cfg-options``."""
    cfg = Config.fromfile(resolve_config(path))
    if cfg_options:
        cfg.merge_from_dict(parse_cfg_options(cfg_options))
    return cfg
