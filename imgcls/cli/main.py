"""Entry point of the ``imgcls`` command."""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__


def build_parser() -> argparse.ArgumentParser:
    from . import misc, test, train
    parser = argparse.ArgumentParser(
        prog='imgcls', description='imgcls: train, evaluate and ship image classifiers from config files.')
    parser.add_argument('--version', action='version', version=f'imgcls {__version__}')
    parser.add_argument('--debug', action='store_true', help='show full tracebacks for errors')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    train.add_parser(sub)
    test.add_parser(sub)
    misc.add_parsers(sub)
    for p in sub.choices.values():  # --debug after the subcommand works too
        p.add_argument('--debug', action='store_true', default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``imgcls``; user errors print one paragraph and exit 1 (tracebacks with --debug)."""
    from ..errors import ImgclsError
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, 'command', None):
        parser.print_help()
        return 2
    debug = getattr(args, 'debug', False) or os.environ.get('IMGCLS_DEBUG') == '1'
    try:
        return args.func(args) or 0
    except ImgclsError as e:
        if debug:
            raise
        message = e.args[0] if e.args else str(e)
        print(f'imgcls {args.command}: error: {message}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f'imgcls {args.command}: interrupted', file=sys.stderr)
        return 130
