"""One-line warnings for config options imgcls accepts but cannot honour, each said once per run.

Below every layer that warns (evaluation, engine, apis); :mod:`imgcls.engine.warn` re-exports it.
"""

from __future__ import annotations

import logging

_said: set[str] = set()


def warn_once(logger: logging.Logger | None, key: str, message: str) -> bool:
    """Log ``message`` as a warning the first time ``key`` is seen this run; return whether it was logged."""
    if key in _said:
        return False
    _said.add(key)
    (logger or logging.getLogger('imgcls')).warning(message)
    return True


def reset_warnings() -> None:
    """Forget what was said (a new training run in the same process says it again)."""
    _said.clear()
