"""tools/gen_model_zoo.py: a Markdown table of params and MACs for every config."""

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

from imgcls import Config
from imgcls.models.builder import build_classifier

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {'resnet': 'resnet18_digits.py', 'mobilenet_v3': 'mobilenet-v3-small_8xb128_in1k.py'}


def load_tool():
    """tools/ is not a package: import the script from its path."""
    if 'gen_model_zoo' not in sys.modules:
        spec = importlib.util.spec_from_file_location('gen_model_zoo', ROOT / 'tools' / 'gen_model_zoo.py')
        module = importlib.util.module_from_spec(spec)
        sys.modules['gen_model_zoo'] = module  # its dataclass looks its module up there
        spec.loader.exec_module(module)
    return sys.modules['gen_model_zoo']


@pytest.fixture
def configs_dir(tmp_path):
    missing = [f'{family}/{name}' for family, name in CONFIGS.items()
               if not (ROOT / 'configs' / family / name).is_file()]
    if missing:
        pytest.skip(f'configs not in this checkout: {missing}')
    shutil.copytree(ROOT / 'configs' / '_base_', tmp_path / 'configs' / '_base_')
    for family, name in CONFIGS.items():
        (tmp_path / 'configs' / family).mkdir()
        shutil.copy(ROOT / 'configs' / family / name, tmp_path / 'configs' / family / name)
    return tmp_path / 'configs'


def parse_table(text):
    """family -> ['', family, model, params, macs, input, config] for each table row."""
    rows = {}
    for line in text.splitlines():
        if line.startswith('| ') and not line.startswith('| family'):
            cells = [''] + [c.strip() for c in line.strip('|').split('|')]
            rows[cells[1]] = cells
    return rows


def test_table_of_two_configs(configs_dir, tmp_path):
    out = tmp_path / 'docs' / 'model_zoo.md'
    assert load_tool().main(['--configs-dir', str(configs_dir), '--out', str(out)]) == 0
    text = out.read_text()
    assert text.startswith('# Model zoo')
    assert '| family | model | params (M) | MACs (G) | input | config |' in text
    rows = parse_table(text)
    assert set(rows) == {'mobilenet_v3', 'resnet'}  # _base_ is not a family

    _, family, model, params, macs, shape, config = rows['resnet']
    assert model == 'resnet18_digits' and config == '`configs/resnet/resnet18_digits.py`'
    assert shape == '1x32x32'  # the digits model: one channel, 32x32 test images
    expected = build_classifier(Config.fromfile(str(configs_dir / 'resnet' / 'resnet18_digits.py')).model)
    assert params == f'{sum(p.numel() for p in expected.parameters()) / 1e6:.2f}' == '11.17'
    assert 0.54 <= float(macs) <= 0.57  # ResNet-18 at 32x32: ~0.56 G MACs

    _, _, model, params, macs, shape, _ = rows['mobilenet_v3']
    assert model == 'mobilenet-v3-small_8xb128_in1k' and shape == '3x224x224'
    assert params == '2.54' and macs == '0.06'  # as mmcls's model zoo lists MobileNetV3-small


def test_broken_config_is_listed_and_fails_the_run(configs_dir, tmp_path):
    (configs_dir / 'broken').mkdir()
    (configs_dir / 'broken' / 'nope.py').write_text("model = dict(type='ImageClassifier', "
                                                    "backbone=dict(type='NoSuchNet'))\n")
    out = tmp_path / 'zoo.md'
    assert load_tool().main(['--configs-dir', str(configs_dir), '--out', str(out)]) == 1
    rows = parse_table(out.read_text())
    assert 'not built' in rows['broken'][-1] and 'NoSuchNet' in rows['broken'][-1]
    assert rows['resnet'][3] == '11.17'  # the others are still counted


def test_a_config_with_a_teacher_counts_its_student(tmp_path):
    """The teacher's checkpoint is needed only to train: the zoo counts the student without loading it."""
    config = tmp_path / 'configs' / 'deit' / 'deit-tiny_teacher.py'
    config.parent.mkdir(parents=True)
    config.write_text(
        f"_base_ = '{ROOT / 'configs' / 'deit' / 'deit-tiny-distilled_pt-4xb256_in1k.py'}'\n"
        "model = dict(type='DistilledImageClassifier', head=dict(distill=dict(mode='hard', alpha=0.5)),\n"
        "             teacher=dict(config='regnet.py', checkpoint='no-such-teacher.pth'))\n")
    row = load_tool().measure(config, config.parent.parent)
    assert row.error is None
    assert f'{row.params / 1e6:.2f}' == '5.91'  # DeiT-Tiny distilled, as the student's own config
    assert row.input_shape == (3, 224, 224)
