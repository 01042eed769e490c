"""What a user installs: shipped configs by name, and the wheel itself used outside any checkout."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from imgcls.cli import common
from imgcls.config import shipped
from imgcls.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_a_shipped_config_is_found_by_name_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    expected = (REPO / 'configs' / 'resnet' / 'resnet18_digits.py').resolve()
    for name in ('resnet18_digits', 'resnet18_digits.py', 'resnet/resnet18_digits',
                 'configs/resnet/resnet18_digits.py'):
        assert Path(common.resolve_config(name)).resolve() == expected, name
    (tmp_path / 'resnet18_digits').write_text('')  # a file of that name wins: paths come first
    assert common.resolve_config('resnet18_digits') == 'resnet18_digits'


def test_a_config_name_that_matches_nothing_or_two(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r'^config resnet18_digit is neither a file nor the name of a shipped '
                                          r'config \(did you mean resnet18_digits'):
        common.resolve_config('resnet18_digit')
    with pytest.raises(ConfigError, match='neither a file'):
        common.resolve_config('_base_/default_runtime')  # parts of configs are not configs
    configs = tmp_path / 'imgcls' / '.mim' / 'configs'
    for family in ('a', 'b'):
        (configs / family).mkdir(parents=True)
        (configs / family / 'same.py').write_text('')
    monkeypatch.setattr(shipped, '_PACKAGE', tmp_path / 'imgcls')
    with pytest.raises(ConfigError, match=r'config name same matches 2 shipped configs \(a/same, b/same\)'):
        common.resolve_config('same')


def test_an_installed_package_prefers_its_own_configs(tmp_path, monkeypatch):
    package = tmp_path / 'site' / 'imgcls'
    (package / '.mim' / 'configs' / 'x').mkdir(parents=True)
    monkeypatch.setattr(shipped, '_PACKAGE', package)
    assert shipped.configs_dir() == package / '.mim' / 'configs'
    (package / '.mim' / 'configs' / 'x').rmdir()
    (package / '.mim' / 'configs').rmdir()
    assert shipped.configs_dir() is None  # no checkout beside site-packages either


def _build_wheel(tmp_path: Path) -> Path:
    src = tmp_path / 'src'  # a copy, so that the build leaves nothing in the checkout
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', 'build', '*.egg-info')
    for name in ('imgcls', 'configs'):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    for name in ('pyproject.toml', 'setup.py', 'README.md', 'MANIFEST.in'):
        shutil.copy(REPO / name, src / name)
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w',
                    str(tmp_path / 'dist'), str(src)], check=True, capture_output=True)
    return next((tmp_path / 'dist').glob('imgcls-*.whl'))


@pytest.mark.slow
def test_the_wheel_ships_configs_and_trains_a_config_by_name_outside_a_checkout(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert 'imgcls/py.typed' in names
    assert 'imgcls/.mim/configs/resnet/resnet18_digits.py' in names
    assert 'imgcls/.mim/configs/_base_/datasets/digits.py' in names
    site = tmp_path / 'site'
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '--no-index', '-q', '--target', str(site),
                    str(wheel)], check=True, capture_output=True)
    home = tmp_path / 'home'  # a folder with no checkout in it or above it
    home.mkdir()
    env = {'PATH': '/usr/bin:/bin', 'PYTHONPATH': str(site), 'OMP_NUM_THREADS': '1', 'HOME': str(home)}

    def imgcls(*args):
        return subprocess.run([sys.executable, '-m', 'imgcls', *args], cwd=home, env=env, capture_output=True,
                              text=True)
    where = subprocess.run([sys.executable, '-c', 'import imgcls; print(imgcls.__file__)'], cwd=home, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(site))  # the wheel's copy, not the checkout's
    listed = imgcls('list', 'configs')
    assert listed.returncode == 0, listed.stderr
    assert 'configs/resnet/resnet18_digits.py' in listed.stdout.split()
    # the main job by name, shrunk to seconds: one epoch of an 8-channel ResNet-18
    trained = imgcls('train', 'resnet18_digits', '--cfg-options', 'runner.max_epochs=1', 'channels_last=False',
                     'model.backbone.stem_channels=8', 'model.backbone.base_channels=8', 'model.head.in_channels=64',
                     'data.workers_per_gpu=0')
    assert trained.returncode == 0, trained.stderr
    assert 'accuracy_top-1' in trained.stdout
    assert (home / 'work_dirs' / 'resnet18_digits' / 'latest.pth').is_file()
