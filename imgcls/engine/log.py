"""The ``imgcls`` logger: plain messages on stdout and a copy in the work dir."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from .dist import is_main_process

# ``logger.warning(msg, extra=FILE_ONLY)``: for train.log only, e.g. an error the CLI prints itself
FILE_ONLY = {'file_only': True}


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is now (it may be replaced, e.g. by test capture)."""

    def __init__(self):
        super().__init__(sys.stdout)
        self.addFilter(lambda record: not getattr(record, 'file_only', False))

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):
        pass


def get_logger(log_file: str | Path | None = None, level: int | str = logging.INFO) -> logging.Logger:
    """The shared ``imgcls`` logger; only rank 0 prints below WARNING."""
    logger = logging.getLogger('imgcls')
    logger.setLevel(level if is_main_process() else logging.WARNING)
    logger.propagate = False
    if not any(isinstance(h, _StdoutHandler) for h in logger.handlers):
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter('%(message)s'))
        logger.addHandler(handler)
    for h in [h for h in logger.handlers if isinstance(h, logging.FileHandler)]:
        logger.removeHandler(h)
        h.close()
    if log_file is not None and is_main_process():
        fh = logging.FileHandler(log_file, encoding='utf-8')
        fh.setFormatter(logging.Formatter('%(asctime)s %(levelname)s %(message)s'))
        logger.addHandler(fh)
    return logger
