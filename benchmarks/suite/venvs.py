"""The peers' own virtual environments under ``benchmarks/.venvs/`` (gitignored), made on first use.

Each has the same torch and torchvision versions as imgcls's environment, plus the peer's packages pinned
to versions that run with that torch. Peers never share a Python with imgcls: the suite runs them as
child processes with their environment's interpreter.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

VENVS = Path(__file__).resolve().parents[1] / '.venvs'

# what each peer needs on top of torch/torchvision, and an import that proves it works
PEERS = {
    'timm': (['timm'], 'import timm; print(timm.__version__)'),
    # mmpretrain 1.2.0 (Jan 2024) predates numpy 2; mmengine/mmcv still import pkg_resources, which setuptools
    # dropped in 81; torch 2.14 itself needs setuptools >= 77.0.3
    'mmpretrain': (['mmpretrain==1.2.0', 'mmengine==0.10.7', 'mmcv-lite==2.2.0', 'numpy<2', 'setuptools>=77.0.3,<81'],
                   'import mmcv, mmengine, mmpretrain; print(mmpretrain.__version__)'),
}
SKIPPED = 'skipped (run without --quick once to install peers)'


def _release(version: str) -> str:
    return version.split('+')[0]  # '2.14.1+cu130' -> '2.14.1': the same release from the package index


def requirements(name: str) -> list[str]:
    """The pip requirements of peer ``name``: our torch and torchvision releases, then its packages."""
    import torch
    import torchvision
    return [f'torch=={_release(torch.__version__)}', f'torchvision=={_release(torchvision.__version__)}',
            *PEERS[name][0]]


def _tail(text: str, lines: int = 6) -> str:
    return ' | '.join(t.strip() for t in text.strip().splitlines()[-lines:] if t.strip())[-1200:]


def ensure(name: str, install: bool, timeout: float = 3600) -> tuple[str | None, str]:
    """The Python of peer ``name``'s environment and 'ok', or None and why it is not available.

    With ``install`` False, a missing environment is reported as skipped instead of being created.
    """
    venv = VENVS / name
    python, marker = venv / 'bin' / 'python', venv / '.suite-ready'
    spec = '\n'.join(requirements(name))
    if marker.exists() and marker.read_text() == spec and python.exists():
        return str(python), 'ok'
    if not install:
        return None, SKIPPED
    VENVS.mkdir(parents=True, exist_ok=True)
    log = VENVS / f'{name}-install.log'
    steps = [[sys.executable, '-m', 'venv', '--clear', str(venv)],
             [str(python), '-m', 'pip', 'install', '--disable-pip-version-check', *requirements(name)],
             [str(python), '-c', PEERS[name][1]]]
    print(f'[suite] installing {name} into {venv} (first use; log: {log})', flush=True)
    with open(log, 'w') as out:
        for cmd in steps:
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                return None, f'unavailable: `{" ".join(cmd)}` timed out after {timeout:.0f} s'
            out.write(f'$ {" ".join(cmd)}\n{proc.stdout}\n{proc.stderr}\n')
            if proc.returncode != 0:
                return None, f'unavailable: `{" ".join(cmd)}` exited with {proc.returncode}: {_tail(proc.stderr)}'
    marker.write_text(spec)
    return str(python), 'ok'


def versions(python: str, name: str) -> str:
    """The peer's package versions, as its own Python reports them."""
    proc = subprocess.run([python, '-c', PEERS[name][1]], capture_output=True, text=True, timeout=300)
    return proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 and proc.stdout.strip() else '?'
