"""``{{_base_.key}}`` in a .py config: mmcv's syntax for a value of the merged base configs."""

from __future__ import annotations

import pytest

from imgcls import Config
from imgcls.errors import ConfigError


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_references_take_the_merged_base_values(tmp_path):
    _write(tmp_path, 'policies.py', "rand_policies = [dict(type='Rotate', magnitude_range=(0, 30))]\n"
                                    "nested = dict(inner=dict(size=7))\n")
    _write(tmp_path, 'data.py', "_base_ = ['./policies.py']\n"
                                "pipeline = [dict(type='RandAugment', policies={{_base_.rand_policies}}),\n"
                                "            dict(type='Resize', size={{ _base_.nested.inner.size }})]\n")
    cfg = Config.fromfile(_write(tmp_path, 'main.py', "_base_ = './data.py'\nsize = 3\n"))
    assert cfg.pipeline[0]['policies'] == [dict(type='Rotate', magnitude_range=(0, 30))]
    assert cfg.pipeline[1]['size'] == 7 and cfg.size == 3


def test_an_undefined_reference_names_the_file_and_the_key(tmp_path):
    _write(tmp_path, 'base.py', 'a = 1\n')
    path = _write(tmp_path, 'main.py', "_base_ = './base.py'\nb = {{_base_.missing}}\n")
    with pytest.raises(ConfigError, match=r'main.py refers to \{\{_base_.missing\}\}, which its _base_ files do not'):
        Config.fromfile(path)
    alone = _write(tmp_path, 'alone.py', 'b = {{_base_.a}}\n')
    with pytest.raises(ConfigError, match=r'alone.py refers to \{\{_base_.a\}\}'):
        Config.fromfile(alone)
