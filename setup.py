"""Build hook: the wheel carries the repository's ``configs/`` as package data under ``imgcls/.mim/configs``.

Everything else about the package is declared in pyproject.toml. An editable install reads the configs from
the checkout instead (see ``imgcls.cli.common.configs_dir``), so nothing is copied for it.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CONFIGS = Path(__file__).resolve().parent / 'configs'


class BuildPyWithConfigs(build_py):
    """build_py that also copies every ``configs/**/*.py`` into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, 'editable_mode', False) or not CONFIGS.is_dir():
            return
        target = Path(self.build_lib) / 'imgcls' / '.mim' / 'configs'
        if target.exists():
            shutil.rmtree(target)  # a stale build must not keep configs deleted from the repository
        for src in sorted(CONFIGS.rglob('*.py')):
            dst = target / src.relative_to(CONFIGS)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)


setup(cmdclass={'build_py': BuildPyWithConfigs})
