"""Entry point of the ``imgcls`` command."""

from __future__ import annotations

import argparse
import importlib
import io
import os
import sys

from .. import __version__
from ..errors import ImgclsError

SIGPIPE = 13  # the exit status of a process killed by a closed pipe is 128 + 13

# subcommand modules of imgcls.cli, each with add_parser(subparsers) (misc adds config and list)
COMMAND_MODULES = ('train', 'test', 'infer', 'export', 'analyze', 'benchmark', 'cam', 'convert',
                   'browse_dataset', 'publish', 'data', 'misc')


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='imgcls', description='imgcls: train, evaluate and ship image classifiers from config files.')
    parser.add_argument('--version', action='version', version=f'imgcls {__version__}')
    parser.add_argument('--debug', action='store_true', help='show full tracebacks for errors')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f'{__package__}.{name}')
        except ModuleNotFoundError as e:
            if e.name != f'{__package__}.{name}':
                raise
            continue
        (getattr(module, 'add_parser', None) or module.add_parsers)(sub)
    for p in sub.choices.values():  # --debug after the subcommand works too
        p.add_argument('--debug', action='store_true', default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``imgcls``; user errors print one paragraph and exit 1 (tracebacks with --debug)."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # what is still buffered meets a closed pipe here, not in the interpreter's exit
        return code
    except BrokenPipeError:  # the reader went away (``imgcls list configs | head``): stop quietly, like cat
        _silence_stdout()
        return 128 + SIGPIPE


def _silence_stdout() -> None:
    """Point stdout at a pipe of our own, so that the interpreter's final flush of what is still buffered
    (at most one buffer, well under a pipe's capacity) does not fail on the closed pipe again."""
    try:
        _read_end, write_end = os.pipe()  # the read end stays open until exit: writes to it succeed
        os.dup2(write_end, sys.stdout.fileno())
        os.close(write_end)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass  # stdout is not a file descriptor (a test's capture): nothing will flush to the pipe


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, 'command', None):
        parser.print_help()
        return 2
    debug = getattr(args, 'debug', False) or os.environ.get('IMGCLS_DEBUG') == '1'
    from ..engine.runner import TrainingInterrupted  # keeps imgcls --help fast
    try:
        return args.func(args) or 0
    except TrainingInterrupted as e:
        print(f'imgcls {args.command}: {e}', file=sys.stderr)
        return 130
    except ImgclsError as e:
        if debug:
            raise
        message = e.args[0] if e.args else str(e)
        print(f'imgcls {args.command}: error: {message}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f'imgcls {args.command}: interrupted', file=sys.stderr)
        return 130
