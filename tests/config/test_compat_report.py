"""tools/compat_report.py on a small configs folder laid out as mmcls's wheel lays it out (no download)."""

import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / 'tools') not in sys.path:  # importable by name: the report's spawned workers import it again
    sys.path.insert(0, str(ROOT / 'tools'))
import compat_report  # noqa: E402


def write(directory, name, text):
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip('\n'), encoding='utf-8')
    return path


CIFAR_BASE = """
dataset_type = 'CIFAR10'
img_norm_cfg = dict(mean=[125.307, 122.961, 113.8575], std=[51.5865, 50.847, 51.255], to_rgb=False)
train_pipeline = [dict(type='RandomCrop', size=32, padding=4), dict(type='RandomFlip', flip_prob=0.5),
                  dict(type='Normalize', **img_norm_cfg), dict(type='ImageToTensor', keys=['img']),
                  dict(type='ToTensor', keys=['gt_label']), dict(type='Collect', keys=['img', 'gt_label'])]
test_pipeline = [dict(type='Normalize', **img_norm_cfg), dict(type='ImageToTensor', keys=['img']),
                 dict(type='Collect', keys=['img'])]
data = dict(samples_per_gpu=16, workers_per_gpu=2,
            train=dict(type=dataset_type, data_prefix='data/cifar10', pipeline=train_pipeline),
            val=dict(type=dataset_type, data_prefix='data/cifar10', pipeline=test_pipeline, test_mode=True))
optimizer = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0001)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='step', step=[100, 150])
runner = dict(type='EpochBasedRunner', max_epochs=200)
"""

MODEL = """
_base_ = ['../_base_/cifar.py']
model = dict(type='ImageClassifier', backbone=dict(type='{backbone}', depth=18, num_stages=4, out_indices=(3, ),
             style='pytorch'), neck=dict(type='GlobalAveragePooling'),
             head=dict(type='LinearClsHead', num_classes=10, in_channels=512, loss=dict(type='CrossEntropyLoss')))
"""


@pytest.fixture
def configs(tmp_path):
    root = tmp_path / 'configs'
    write(root, '_base_/cifar.py', CIFAR_BASE)
    write(root, 'resnet/resnet18_cifar.py', MODEL.format(backbone='ResNet_CIFAR'))
    write(root, 'resnet/resnet18_again.py', MODEL.format(backbone='ResNet_CIFAR') + 'log_config = dict(interval=1)\n')
    write(root, 'nosuch/nosuchnet_cifar.py', MODEL.format(backbone='NoSuchNet'))
    write(root, 'nosuch/broken.py', "_base_ = ['../_base_/missing.py']\n")
    write(root, 'resnet/metafile.yml', """
        Models:
          - Name: resnet18_cifar
            Metadata: {Parameters: 11170000}
            Config: configs/resnet/resnet18_cifar.py
          - Name: resnet18_again
            Metadata: {Parameters: 2170000}
            Config: configs/resnet/resnet18_again.py
    """)
    return root


def test_params_match_allows_the_metafiles_rounding():
    assert compat_report.params_match(11_173_962, 11_170_000)
    assert not compat_report.params_match(21_797_672, 2_180_000)
    assert compat_report.params_match(5, None) is None


def test_point_at_tiny_follows_wrappers_and_formats():
    tiny = {'files': '/t/files', 'CIFAR10': '/t/c10', 'CIFAR100': '/t/c100', 'MNIST': '/t/mnist'}
    ds = {'type': 'RepeatDataset', 'times': 2, 'dataset': {'type': 'ImageNet', 'data_prefix': 'x', 'ann_file': 'y'}}
    compat_report.point_at_tiny(ds, tiny)
    assert ds['dataset'] == {'type': 'ImageNet', 'data_prefix': '/t/files/images', 'ann_file': '/t/files/ann.txt'}
    both = [{'type': 'mmcls.CIFAR100', 'data_prefix': 'a'}, {'type': 'MNIST', 'data_prefix': 'b'}]
    compat_report.point_at_tiny(both, tiny)
    assert [d['data_prefix'] for d in both] == ['/t/c100', '/t/mnist']


def test_tiny_data_in_the_formats_of_voc_cub_and_stanford_cars(tmp_path):
    """The dataset configs of mmcls's voc, cub and cars files, pointed at the report's generated data, build."""
    from imgcls.data import build_dataset
    tiny = compat_report.make_tiny_data(tmp_path)
    mmcls_style = {
        'VOC': dict(type='VOC', data_prefix='data/VOCdevkit/VOC2007/',
                    ann_file='data/VOCdevkit/VOC2007/ImageSets/Main/trainval.txt'),
        'CUB': dict(type='CUB', data_prefix='data/CUB_200_2011/images', ann_file='data/CUB_200_2011/images.txt',
                    image_class_labels_file='data/CUB_200_2011/image_class_labels.txt',
                    train_test_split_file='data/CUB_200_2011/train_test_split.txt'),
        'StanfordCars': dict(type='StanfordCars', data_prefix='data/stanfordcars'),
    }
    sizes = {}
    for kind, ds in mmcls_style.items():
        for test_mode in (False, True):
            cfg = dict(ds, test_mode=test_mode, pipeline=[dict(type='LoadImageFromFile')])
            compat_report.point_at_tiny(cfg, tiny)
            dataset = build_dataset(cfg)
            assert tuple(dataset[0]['img'].shape[-2:]) == (256, 320)  # CHW
            sizes[kind, test_mode] = len(dataset)
    assert sizes == {('VOC', False): 4, ('VOC', True): 4, ('CUB', False): 2, ('CUB', True): 2,
                     ('StanfordCars', False): 4, ('StanfordCars', True): 4}


@pytest.mark.slow
def test_report_on_a_small_configs_folder(configs, tmp_path):
    out = tmp_path / 'compat.md'
    assert compat_report.main(['--configs', str(configs), '--out', str(out), '--jobs', '1']) == 0
    text = out.read_text()
    assert ('**Of 4 configs of the `mmcls==0.25.0` wheel: 3 (75%) load, 2 (50%) build (model, datasets and '
            'pipelines on tiny data, optimizer, hooks), 2 (50%) run a training step; 1/2 models with a parameter '
            "count in mmcls's metafiles have that count.**") in text
    rows = {line.split(' | ')[0][2:]: line for line in text.splitlines() if line.startswith('| ') and '.py' in line}
    assert rows['resnet18_cifar.py'].startswith('| resnet18_cifar.py | ✓ | ✓ | 11.17 / 11.17 ✓ | 0.56 | ✓ |')
    assert rows['resnet18_again.py'].endswith("| 11.17 / 2.17 ✗ | 0.56 | ✓ | parameter count differs from mmcls's |")
    # same model, pipeline and optimizer: one step for both (the first in path order runs it)
    assert rows['resnet18_cifar.py'].endswith('| ✓ | step shared with resnet/resnet18_again.py |')
    assert "'NoSuchNet' is not registered in the backbone registry" in rows['nosuchnet_cifar.py']
    assert 'load: broken in mmcls itself: ConfigError: config file _base_/missing.py not found' in rows['broken.py']
    assert '| [resnet](#resnet) | 2 | 2 | 2 | 1/2 | 2 |' in text
    assert 'No step was skipped: every config that builds tried one.' in text


def test_configs_come_from_a_wheel_file_unpacked_into_the_cache(tmp_path):
    import zipfile
    wheel = tmp_path / 'mmcls-0.25.0-py2.py3-none-any.whl'
    with zipfile.ZipFile(wheel, 'w') as zf:
        zf.writestr('mmcls/.mim/configs/resnet/r.py', 'x = 1\n')
        zf.writestr('mmcls/__init__.py', 'raise SystemExit\n')  # code of the wheel: not unpacked
    args = compat_report.parse_args(['--wheel', str(wheel), '--cache', str(tmp_path / 'cache')])
    root = compat_report.configs_dir(args)
    assert root == tmp_path / 'cache' / wheel.stem / 'mmcls' / '.mim' / 'configs'
    assert (root / 'resnet' / 'r.py').read_text() == 'x = 1\n'
    assert not (tmp_path / 'cache' / wheel.stem / 'mmcls' / '__init__.py').exists()
    # an unpacked wheel folder is used where it is
    args = compat_report.parse_args(['--wheel', str(tmp_path / 'cache' / wheel.stem)])
    assert compat_report.configs_dir(args) == root
    # a wheel already in the cache is not downloaded again
    cache = tmp_path / 'cache2'
    cache.mkdir()
    (cache / wheel.name).write_bytes(wheel.read_bytes())
    assert compat_report.fetch_wheel(cache) == cache / wheel.name
