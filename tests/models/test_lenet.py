"""LeNet5: mmcls's MNIST config trains and tests unchanged; parameter count, key layout, shapes."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from mmcls_layout import check_mmcls_layout, conv_keys

from imgcls import Config
from imgcls.cli.main import main
from imgcls.errors import ConfigError
from imgcls.models.builder import build_backbone, build_classifier

CONFIG = Path(__file__).resolve().parents[2] / 'configs' / 'lenet' / 'lenet5_mnist.py'
# mmcls's LeNet5 with 10 classes: convs 156 + 2,416 + 48,120, linear layers 10,164 + 850
PARAMS = 61_706


def _keys(num_classes: int = 10):
    keys = {**conv_keys('backbone.features.0', 1, 6, 5, bias=True),
            **conv_keys('backbone.features.3', 6, 16, 5, bias=True),
            **conv_keys('backbone.features.6', 16, 120, 5, bias=True)}
    keys.update({'backbone.classifier.0.weight': (84, 120), 'backbone.classifier.0.bias': (84,),
                 'backbone.classifier.2.weight': (num_classes, 84), 'backbone.classifier.2.bias': (num_classes,)})
    return keys


def test_params_and_mmcls_layout(tmp_path):
    cfg = Config.fromfile(str(CONFIG))['model']
    assert sum(p.numel() for p in build_classifier(cfg).parameters()) == PARAMS
    check_mmcls_layout(tmp_path, cfg, _keys(), side=32, channels=1)


def test_features_only_and_a_batch_of_one():
    features = build_backbone(dict(type='LeNet5')).eval()
    classifier = build_backbone(dict(type='LeNet5', num_classes=10)).eval()
    with torch.no_grad():
        assert features(torch.randn(2, 1, 32, 32))[0].shape == (2, 120, 1, 1)
        assert classifier(torch.randn(1, 1, 32, 32))[0].shape == (1, 10)
    with pytest.raises(ConfigError, match='LeNet5 num_classes must be a positive int, or -1 for features only, got 0'):
        build_backbone(dict(type='LeNet5', num_classes=0))


def _write_idx(folder: Path, split: str, n: int, rng: np.random.Generator) -> None:
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    (folder / f'{split}-images-idx3-ubyte').write_bytes(struct.pack('>IIII', 0x0803, n, 28, 28) + images.tobytes())
    (folder / f'{split}-labels-idx1-ubyte').write_bytes(struct.pack('>II', 0x0801, n) + labels.tobytes())


@pytest.mark.slow  # a real (one-epoch) training run through the CLI
def test_mmcls_mnist_config_trains_and_tests(tmp_path):
    data = tmp_path / 'mnist'
    data.mkdir()
    rng = np.random.default_rng(0)
    _write_idx(data, 'train', 32, rng)
    _write_idx(data, 't10k', 16, rng)
    options = [f'data.{s}.data_prefix={data}' for s in ('train', 'val', 'test')] + [
        'runner.max_epochs=1', 'data.samples_per_gpu=8', 'data.workers_per_gpu=0', 'evaluation.interval=1',
        'log_config.interval=1']
    work = tmp_path / 'work'
    assert main(['train', str(CONFIG), '--work-dir', str(work), '--device', 'cpu', '--cfg-options', *options]) == 0
    assert (work / 'epoch_1.pth').is_file()
    records = [json.loads(line) for line in (work / 'log.jsonl').read_text().splitlines()]
    assert any('accuracy_top-1' in r for r in records)
    out = tmp_path / 'preds.json'
    assert main(['test', str(CONFIG), str(work / 'epoch_1.pth'), '--out', str(out), '--cfg-options', *options]) == 0
    assert out.is_file()
