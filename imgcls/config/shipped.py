"""The configs shipped with imgcls: ``imgcls/.mim/configs`` in an installed wheel, a checkout's ``configs/``."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]


def configs_dir() -> Path | None:
    """The shipped configs' folder: inside the installed package, else beside it in a source checkout."""
    for candidate in (_PACKAGE / '.mim' / 'configs', _PACKAGE.parent / 'configs'):
        if candidate.is_dir():
            return candidate
    return None


def shipped_configs() -> list[Path]:
    """Every shipped config that can be trained (not the ``_base_`` parts), sorted."""
    root = configs_dir()
    return sorted(p for p in root.rglob('*.py') if '_base_' not in p.relative_to(root).parts) if root else []
