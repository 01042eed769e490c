"""Argument helpers shared by the subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError


def add_cfg_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='override config values, e.g. optimizer.lr=0.01 runner.max_epochs=5 '
                             'model.head.topk=[1,5] (values are parsed as literals, never run as code)')


def load_config(path: str, cfg_options: list[str] | None = None):
    """Load a config file and apply ``--cfg-options``."""
    from ..config import Config, parse_cfg_options
    if not Path(path).exists():
        hint = ''
        if not path.endswith(('.py', '.json', '.yaml', '.yml')):
            hint = ' (config files end in .py, .json or .yaml)'
        raise ConfigError(f'config file {path} does not exist{hint}; `imgcls list configs` shows the shipped ones')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(parse_cfg_options(cfg_options))
    return cfg
