"""Run ``imgcls`` with epoch_N.pth writes slowed down, so a test can kill the process in the middle of one.

Usage: python _slow_writer.py SECONDS_PER_CHUNK imgcls-args...
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path


class _SlowFile:
    """A file that pauses ``pause`` seconds after every 64 KiB written, flushing so the partial file is on disk."""

    def __init__(self, f, pause: float):
        self._f, self._pause, self._pending = f, pause, 0

    def write(self, data) -> int:
        n = self._f.write(data)
        self._pending += len(memoryview(data).cast('B'))
        if self._pending >= 65536:
            self._pending = 0
            self._f.flush()
            time.sleep(self._pause)
        return n

    def __getattr__(self, name):
        return getattr(self._f, name)


def main() -> int:
    pause = float(sys.argv[1])
    from imgcls import checkpoint_io as checkpoint
    real = checkpoint.atomic_open

    @contextlib.contextmanager
    def slow_atomic_open(path, mode='wb', encoding=None):
        with real(path, mode, encoding) as f:  # only the epoch_N.pth files: the test waits for those
            yield _SlowFile(f, pause) if Path(path).name.startswith('epoch_') else f

    checkpoint.atomic_open = slow_atomic_open
    from imgcls.cli.main import main as imgcls_main
    return imgcls_main(sys.argv[2:])


if __name__ == '__main__':
    sys.exit(main())
