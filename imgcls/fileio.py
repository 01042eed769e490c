"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Everything imgcls writes that a user relies on (merged configs, checkpoints,
prediction files) goes through here, so an interrupted run (Ctrl-C, OOM kill,
full disk) leaves the previous file intact instead of a truncated one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import IO

__all__ = ['atomic_open', 'atomic_write_text', 'atomic_write_bytes']

_MODES = ('w', 'wt', 'wb')


def _default_mode_bits() -> int:
    """The permission bits a plain ``open(path, 'w')`` would give a new file (0o666 minus the umask)."""
    umask = os.umask(0o022)  # reading the umask needs setting it; put it straight back
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_dir(directory: str) -> None:
    """Make the rename itself durable; not every platform lets a directory be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = 'wb', encoding: str | None = None) -> Iterator[IO]:
    """Yield a file whose contents replace ``path`` only if the ``with`` block exits without error.

    The data goes to a temporary file in the same directory (so the final
    ``os.replace`` is a rename on one file system), is flushed and fsynced,
    then renamed over ``path``. On any exception the temporary file is removed
    and ``path`` is left as it was.

    Args:
        path: the file to (re)write; its directory must exist.
        mode: ``'wb'`` (bytes) or ``'w'``/``'wt'`` (text).
        encoding: text encoding, ``'utf-8'`` by default in text mode.
    """
    if mode not in _MODES:
        raise ValueError(f'atomic_open supports modes {_MODES}, got {mode!r}')
    path = os.path.abspath(os.fspath(path))
    directory, name = os.path.split(path)
    if 'b' not in mode and encoding is None:
        encoding = 'utf-8'
    # keep the mode of a file we replace; a new file gets what open() would give it
    try:
        mode_bits = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode_bits = _default_mode_bits()
    fd, tmp_path = tempfile.mkstemp(prefix=f'.{name}.', suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_path, mode_bits)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_path)
        raise
    _fsync_dir(directory)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = 'utf-8') -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, 'w', encoding=encoding) as f:
        f.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, 'wb') as f:
        f.write(data)
