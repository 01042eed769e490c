"""imgcls analyze logs / lr, imgcls benchmark and imgcls cam."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from imgcls.analysis.cam import as_feature_map, default_target_layer, grad_cam
from imgcls.analysis.log_curves import read_log, series
from imgcls.analysis.lr_schedule import simulate_lr
from imgcls.analysis.speed import benchmark
from imgcls.cli.common import load_config
from imgcls.cli.main import main
from imgcls.errors import ConfigError, DataError

CONFIG = str(Path(__file__).resolve().parents[1] / 'configs' / 'resnet' / 'resnet18_digits.py')


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """One intra-op thread: on a busy shared CPU, several spin-waiting threads make each forward ~20x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _assert_real_png(path: Path, min_size: int = 100) -> np.ndarray:
    assert path.is_file()
    with Image.open(path) as im:
        assert im.format == 'PNG'
        pixels = np.asarray(im.convert('RGB'))
    assert min(pixels.shape[:2]) >= min_size
    assert pixels.reshape(-1, 3).std(axis=0).max() > 5  # not a blank canvas
    return pixels


# -- training curves ---------------------------------------------------------------------
def _write_log(path: Path, scale: float, truncate_last: bool = False) -> None:
    lines = []
    for epoch in (1, 2):
        for it in (5, 10):
            step = (epoch - 1) * 10 + it
            lines.append({'mode': 'train', 'epoch': epoch, 'iter': step, 'lr': 0.1, 'loss': scale / step,
                          'accuracy.top-1': 50.0 + step})
        lines.append({'mode': 'val', 'epoch': epoch, 'iter': epoch * 10, 'accuracy_top-1': 60.0 + 10 * epoch * scale})
    path.parent.mkdir(parents=True, exist_ok=True)
    text = ''.join(json.dumps(r) + '\n' for r in lines)
    if truncate_last:
        text += '{"mode": "train", "epoch": 3, "iter": 2'  # killed while writing
    path.write_text(text)


def test_log_curves_two_runs(tmp_path, capsys):
    a, b = tmp_path / 'run_a' / 'log.jsonl', tmp_path / 'run_b' / 'log.jsonl'
    _write_log(a, 1.0)
    _write_log(b, 2.0, truncate_last=True)
    out = tmp_path / 'plots' / 'curves.png'
    with pytest.warns(UserWarning, match='malformed last line'):
        rc = main(['analyze', 'logs', str(a), str(b), '--keys', 'loss', 'accuracy_top-1', '--out', str(out),
                   '--legend', 'A', 'B'])
    assert rc == 0
    assert 'loss (train), accuracy_top-1 (val)' in capsys.readouterr().out
    pixels = _assert_real_png(out)
    assert pixels.shape[0] > pixels.shape[1] * 0.6  # two panels stacked


def test_read_log_truncated_resumed_and_corrupt(tmp_path):
    path = tmp_path / 'log.jsonl'
    _write_log(path, 1.0, truncate_last=True)
    with pytest.warns(UserWarning, match='line 7'):
        run = read_log(path)
    assert len(run.train) == 4 and len(run.val) == 2
    assert series(run, 'val', 'accuracy_top-1') == ([1, 2], [70.0, 80.0])
    # a run resumed from an earlier checkpoint re-logs iterations 10 and 15: the newer values win
    with open(path, 'w') as f:
        for it, loss in ((5, 1.0), (10, 0.9), (15, 0.8), (10, 0.5), (15, 0.4), (20, 0.3)):
            f.write(json.dumps({'mode': 'train', 'epoch': 1, 'iter': it, 'loss': loss}) + '\n')
    assert series(read_log(path), 'train', 'loss') == ([5, 10, 15, 20], [1.0, 0.5, 0.4, 0.3])
    path.write_text('{"mode": "train", "iter": 1, "loss": 1}\nnot json\n{"mode": "train", "iter": 2, "loss": 1}\n')
    with pytest.raises(DataError, match='line 2'):
        read_log(path)


def test_log_curves_unknown_key(tmp_path, capsys):
    log = tmp_path / 'run' / 'log.jsonl'
    _write_log(log, 1.0)
    assert main(['analyze', 'logs', str(log), '--keys', 'acuracy', '--out', str(tmp_path / 'x.png')]) == 1
    err = capsys.readouterr().err
    assert 'acuracy' in err and 'accuracy_top-1' in err
    assert not (tmp_path / 'x.png').exists()


# -- lr schedule -----------------------------------------------------------------------------
def test_step_schedule_by_epoch():
    cfg = {'optimizer': {'type': 'SGD', 'lr': 0.1}, 'lr_config': {'policy': 'step', 'step': [2, 3]},
           'runner': {'type': 'EpochBasedRunner', 'max_epochs': 4}}
    schedule = simulate_lr(cfg, iters_per_epoch=5)
    assert schedule.max_iters == 20
    np.testing.assert_allclose(schedule.lrs, [0.1] * 10 + [0.01] * 5 + [0.001] * 5, rtol=1e-12)
    assert list(schedule.epochs) == [e for e in range(4) for _ in range(5)]


def test_step_schedule_iter_based_with_constant_warmup():
    cfg = {'optimizer': {'lr': 1.0}, 'runner': {'type': 'IterBasedRunner', 'max_iters': 7},
           'lr_config': {'policy': 'step', 'step': [4], 'gamma': 0.5, 'by_epoch': False,
                         'warmup': 'constant', 'warmup_iters': 2, 'warmup_ratio': 0.25}}
    schedule = simulate_lr(cfg, iters_per_epoch=3)
    np.testing.assert_allclose(schedule.lrs, [0.25, 0.25, 1, 1, 0.5, 0.5, 0.5], rtol=1e-12)


def test_digits_cosine_with_linear_warmup_from_the_dataset():
    # configs/_base_/schedules/digits_cosine.py: lr 0.1, cosine to 0 per iteration, linear warmup over 23
    # iterations from 0.1x; 10 epochs of ceil(1437 / 64) = 23 iterations
    schedule = simulate_lr(load_config(CONFIG))
    assert schedule.iters_per_epoch == 23 and schedule.max_iters == 230

    def expected(i):
        regular = 0.05 * (1 + math.cos(math.pi * i / 230))
        if i < 23:
            return regular * (1 - (1 - i / 23) * 0.9)
        return regular
    assert schedule.lr_at(0) == pytest.approx(0.01)
    assert schedule.lr_at(115) == pytest.approx(0.05)
    for i in (0, 10, 22, 23, 100, 229):
        assert schedule.lr_at(i) == pytest.approx(expected(i), rel=1e-12)


def test_lr_cli_writes_png(tmp_path, capsys):
    out = tmp_path / 'lr.png'
    assert main(['analyze', 'lr', CONFIG, '--out', str(out), '--iters-per-epoch', '4',
                 '--cfg-options', 'runner.max_epochs=3']) == 0
    assert '12 iterations (4 per epoch)' in capsys.readouterr().out
    _assert_real_png(out)


def test_lr_bad_iters_per_epoch():
    with pytest.raises(ConfigError, match='iters-per-epoch'):
        simulate_lr(load_config(CONFIG), iters_per_epoch=0)


# -- benchmark ----------------------------------------------------------------------------
def test_benchmark_cli_tiny(capsys):
    assert main(['benchmark', CONFIG, '--batch-size', '2', '--iters', '1', '--warmup', '0', '--repeats', '2',
                 '--shape', '8', '8', '--no-amp', '--no-channels-last', '--device', 'cpu']) == 0
    out = capsys.readouterr().out
    assert 'inference' in out and 'train' in out and 'img/s' in out
    assert 'fp32, channels_last=off, torch.compile=off on cpu' in out


@pytest.mark.parametrize('config, extra, shape', [
    # the digits ResNet (CIFAR-style) at the 48 px its test pipeline gives, not the 32 px CIFAR fallback
    (CONFIG, ["test_pipeline = [dict(type='Resize', size=(48, 48)), dict(type='Normalize', mean=[77.8], "
              "std=[96.5], to_rgb=False), dict(type='ImageToTensor', keys=['img']), dict(type='Collect', "
              "keys=['img'])]", 'data = dict(test=dict(pipeline=test_pipeline))'], [1, 48, 48]),
    # LeNet5 takes one channel without an in_channels argument: only the built model tells
    (str(Path(CONFIG).parents[1] / 'lenet' / 'lenet5_mnist.py'), [], [1, 32, 32]),
])
def test_benchmark_and_complexity_default_to_the_config_input(config, extra, shape, tmp_path, capsys):
    path = tmp_path / 'cfg.py'
    path.write_text('\n'.join([f'_base_ = [{config!r}]', *extra]) + '\n')
    assert main(['benchmark', str(path), '--batch-size', '1', '--iters', '1', '--warmup', '0', '--repeats', '1',
                 '--modes', 'inference', '--no-amp', '--device', 'cpu', '--json']) == 0
    assert json.loads(capsys.readouterr().out)['input_shape'] == shape
    assert main(['analyze', 'complexity', str(path)]) == 0
    assert f'input shape {tuple(shape)}' in capsys.readouterr().out


@pytest.mark.parametrize('command', ['benchmark', 'export', 'analyze complexity'])
def test_shape_help_says_where_the_default_comes_from(command, capsys):
    with pytest.raises(SystemExit):
        main([*command.split(), '--help'])
    text = ' '.join(capsys.readouterr().out.split())
    assert "default: the size every image has after the config's test pipeline" in text
    assert "C defaults to the channels the model's first layer takes" in text


def test_benchmark_api_reports_positive_rates():
    result = benchmark(load_config(CONFIG), batch_size=2, shape=(1, 8, 8), device='cpu', amp='fp32',
                       channels_last=True, iters=1, warmup=1, repeats=1, modes=('inference',))
    assert list(result.img_per_s) == ['inference'] and result.img_per_s['inference'] > 0
    with pytest.raises(ConfigError, match='--batch-size'):
        benchmark(load_config(CONFIG), batch_size=0, shape=(1, 8, 8), device='cpu')


# -- Grad-CAM -------------------------------------------------------------------------------
def _two_detector_model() -> nn.Module:
    """Class 0 = mean redness, class 1 = mean greenness: each class 'looks' where its colour is."""
    conv = nn.Conv2d(3, 2, 1, bias=False)
    fc = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0] = 1.0  # channel 0 detects red
        conv.weight[1, 1] = 1.0  # channel 1 detects green
        fc.weight.copy_(torch.eye(2))
    return nn.Sequential(conv, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), fc).eval()


def test_grad_cam_peaks_where_the_class_evidence_is():
    model = _two_detector_model()
    img = torch.zeros(1, 3, 16, 16)
    img[0, 0, 2:6, 2:6] = 1.0  # a red square top-left
    img[0, 1, 10:14, 10:14] = 0.5  # a dimmer green square bottom-right
    assert default_target_layer(model, img) == '1'  # the ReLU map, not the 1x1 pooled output
    red = grad_cam(model, img)
    assert red.target_class == 0 and red.layer == '1'  # the predicted class: more red than green
    assert red.cam.shape == (16, 16) and red.cam.min() >= 0 and red.cam.max() == pytest.approx(1.0)
    assert np.unravel_index(red.cam.argmax(), red.cam.shape)[0] < 8
    assert red.cam[2:6, 2:6].mean() > 0.5 and red.cam[10:14, 10:14].max() < 0.05
    green = grad_cam(model, img, target_layer='1', target_class=1)
    assert green.cam[10:14, 10:14].mean() > 0.5 and green.cam[2:6, 2:6].max() < 0.05


def test_grad_cam_errors():
    model = _two_detector_model()
    img = torch.rand(1, 3, 8, 8)
    with pytest.raises(ConfigError, match='close names'):
        grad_cam(model, img, target_layer='relu')
    with pytest.raises(ConfigError, match='out of range'):
        grad_cam(model, img, target_class=5)
    with pytest.raises(ConfigError, match='not a 4-D'):
        grad_cam(model, img, target_layer='3')


def test_transformer_tokens_become_a_grid():
    tokens = torch.arange(2 * 17 * 3, dtype=torch.float32).reshape(2, 17, 3)  # a class token + 4x4 patches
    grid = as_feature_map(tokens, 'layers.0')
    assert grid.shape == (2, 3, 4, 4)
    assert torch.equal(grid[1, 2, 0, 1], tokens[1, 2, 2])  # patch (0, 1) is token 2, after the class token
    with pytest.raises(ConfigError, match='no square grid'):
        as_feature_map(torch.zeros(1, 7, 3), 'layers.0')


def test_cam_cli_on_the_digits_resnet(tmp_path, capsys):
    from imgcls.apis import build_model, prepare_config
    from imgcls.engine.checkpoint import save_checkpoint
    cfg = load_config(CONFIG)
    prepare_config(cfg)
    torch.manual_seed(0)
    model = build_model(cfg)
    ckpt = tmp_path / 'model.pth'
    save_checkpoint(ckpt, {'state_dict': model.state_dict(), 'meta': {'CLASSES': [f'digit{i}' for i in range(10)]}})
    digit = np.zeros((20, 20), dtype=np.uint8)
    digit[3:17, 8:12] = 255  # a "1"
    Image.fromarray(digit).convert('RGB').save(tmp_path / 'one.png')
    out = tmp_path / 'cam.png'
    assert main(['cam', CONFIG, str(ckpt), str(tmp_path / 'one.png'), '--out', str(out),
                 '--target-class', '1']) == 0
    printed = capsys.readouterr().out
    assert 'class 1 (digit1)' in printed and 'backbone.layer4' in printed
    _assert_real_png(out, min_size=200)



def test_apis_does_not_import_analysis():
    """analysis builds on apis, never the reverse: no apis module imports from analysis, at any level."""
    import ast
    from pathlib import Path

    import imgcls.apis
    offenders = []
    for path in sorted(Path(imgcls.apis.__file__).parent.glob('*.py')):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [('.' * node.level) + (node.module or '')]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            offenders += [f'{path.name}: {n}' for n in names if n in ('..analysis', 'imgcls.analysis')
                          or n.startswith(('..analysis.', 'imgcls.analysis.'))]
    assert offenders == []
