"""The ``imgcls`` entry point: a closed output pipe, config names instead of paths."""

import subprocess
import sys
from pathlib import Path

import pytest

from imgcls.cli.main import main


class _ClosedPipe:
    def write(self, text):
        raise BrokenPipeError(32, 'Broken pipe')

    def flush(self):
        raise BrokenPipeError(32, 'Broken pipe')


CONFIG = str(Path(__file__).resolve().parents[2] / 'configs' / 'resnet' / 'resnet18_digits.py')


@pytest.mark.parametrize('argv', [['list', 'configs'], ['list', 'models'], ['list', 'all'], ['list', 'backbones'],
                                  ['config', CONFIG], ['analyze', 'complexity', CONFIG]])
def test_broken_pipe_returns_141_without_a_traceback(argv, monkeypatch, capsys):
    monkeypatch.setattr(sys, 'stdout', _ClosedPipe())
    assert main(argv) == 141
    assert capsys.readouterr().err == ''


@pytest.mark.slow
def test_a_closed_pipe_ends_quietly():
    """``imgcls list configs | head``: the reader is gone before the first line; no traceback, status 141."""
    proc = subprocess.Popen([sys.executable, '-m', 'imgcls', 'list', 'configs'], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # long before the child has imported torch and printed anything
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 141
    assert err == ''


def test_help_does_not_import_torch():
    """`imgcls --help` and a subcommand's --help answer without importing torch (which takes seconds)."""
    code = ('import sys\n'
            'from imgcls.cli.main import main\n'
            'for argv in (["--help"], ["convert", "--help"], ["train", "--help"]):\n'
            '    try:\n'
            '        main(argv)\n'
            '    except SystemExit:\n'
            '        pass\n'
            'print("torch imported:", "torch" in sys.modules)\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith('torch imported: False'), out[-500:]


def test_convert_sources_of_the_cli_are_the_converters():
    from imgcls.cli.convert import SOURCES as CLI_SOURCES
    from imgcls.convert import SOURCES
    assert CLI_SOURCES == SOURCES
