"""Kept for imports written before the once-per-run warnings moved to :mod:`imgcls.warn` (below evaluation)."""

from ..warn import reset_warnings, warn_once

__all__ = ['warn_once', 'reset_warnings']
