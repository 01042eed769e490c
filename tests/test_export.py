"""ONNX / TorchScript export of the digits ResNet-18: outputs match PyTorch, failures leave no file."""

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from imgcls.apis import build_model, prepare_config
from imgcls.apis import export as export_api
from imgcls.apis.export import export_model
from imgcls.cli.common import load_config
from imgcls.cli.main import main
from imgcls.engine.checkpoint import save_checkpoint
from imgcls.errors import ImgclsError

CONFIG = str(Path(__file__).resolve().parents[1] / 'configs' / 'resnet' / 'resnet18_digits.py')
SHAPE = (1, 32, 32)


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """One intra-op thread: on a busy shared CPU, several spin-waiting threads make each forward ~20x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope='module')
def digits(tmp_path_factory):
    """The digits ResNet-18 with random weights, and a checkpoint of it."""
    torch.manual_seed(0)
    cfg = load_config(CONFIG)
    prepare_config(cfg)
    model = build_model(cfg).eval()
    ckpt = tmp_path_factory.mktemp('ckpt') / 'model.pth'
    save_checkpoint(ckpt, {'state_dict': model.state_dict(), 'meta': {'CLASSES': [str(i) for i in range(10)]}})
    return model, str(ckpt)


def _ort(path):
    import onnxruntime as ort
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    return lambda x: session.run(None, {'input': x.numpy()})[0]


@pytest.mark.slow
def test_cli_onnx_matches_pytorch(digits, tmp_path, capsys):
    model, ckpt = digits
    out = tmp_path / 'model.onnx'
    assert main(['export', CONFIG, ckpt, '--out', str(out)]) == 0
    printed = capsys.readouterr().out
    assert 'max |exported - PyTorch|' in printed and 'batch 1' in printed and 'exporter: dynamo' in printed
    x = torch.randn(1, *SHAPE)
    with torch.no_grad():
        expected = torch.softmax(model.head(model.extract_feat(x)), 1).numpy()
    got = _ort(out)(x)
    assert got.shape == (1, 10)
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.slow
def test_dynamic_batch_with_preprocess_in_graph(digits, tmp_path):
    model, _ = digits
    out = tmp_path / 'model.onnx'
    result = export_model(model, out, shape=SHAPE, dynamic_batch=True, include_preprocess=True, logits=True)
    assert result.exporter == 'dynamo' and result.verified
    assert sorted(result.max_abs_diff) == [1, 2, 5]
    assert all(d <= 1e-4 for d in result.max_abs_diff.values())
    run = _ort(out)
    for n in (1, 3, 7):  # batch sizes the verification did not use
        x = torch.randint(0, 256, (n, *SHAPE), dtype=torch.uint8)
        with torch.no_grad():
            img, _ = model.data_preprocessor(x)
            expected = model.head(model.extract_feat(img)).numpy()
        got = run(x)
        assert got.shape == (n, 10)
        np.testing.assert_allclose(got, expected, atol=1e-4)


@pytest.mark.slow
def test_broken_verification_fails_and_writes_nothing(digits, tmp_path, monkeypatch, capsys):
    model, ckpt = digits
    # export once through the API (the CLI below then reuses the bytes: this test is about verification)
    module = export_api.DeployModel(model).eval()
    model_bytes = export_api.export_onnx_bytes(module, torch.zeros(1, *SHAPE), 'scores', False, None)
    monkeypatch.setattr(export_api, 'export_onnx_bytes', lambda *args, **kwargs: model_bytes)
    real_runner = export_api.onnx_runner

    def off_by_a_bit(model_bytes):
        run = real_runner(model_bytes)
        return lambda x: run(x) + 1e-2
    monkeypatch.setattr(export_api, 'onnx_runner', off_by_a_bit)
    out = tmp_path / 'model.onnx'
    assert main(['export', CONFIG, ckpt, '--out', str(out)]) == 1
    err = capsys.readouterr().err
    assert 'differs from PyTorch by up to 0.01' in err and '--atol' in err and 'nothing was written' in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left either


@pytest.mark.slow
def test_torchscript_loads_and_matches(digits, tmp_path):
    model, _ = digits
    out = tmp_path / 'model.pt'
    result = export_model(model, out, fmt='torchscript', shape=SHAPE, dynamic_batch=True)
    assert result.verified and sorted(result.max_abs_diff) == [1, 2, 5]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FutureWarning)  # torch.jit.load is deprecated in favour of torch.export
        loaded = torch.jit.load(str(out))
    x = torch.randn(3, *SHAPE)
    with torch.no_grad():
        np.testing.assert_allclose(loaded(x).numpy(), model.simple_test(x, post_process=False).numpy(), atol=1e-5)


@pytest.mark.slow
def test_fallback_to_torchscript_exporter(digits, tmp_path, monkeypatch):
    model, _ = digits

    def broken(*args, **kwargs):
        raise RuntimeError('unsupported operator for this test')
    monkeypatch.setattr(export_api, '_onnx_dynamo', broken)
    out = tmp_path / 'model.onnx'
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        with pytest.warns(UserWarning, match='falling back to the TorchScript-based exporter'):
            result = export_model(model, out, shape=SHAPE, opset=13)
    assert result.exporter == 'torchscript-onnx' and result.verified and out.is_file()
    assert result.opset == 13 and export_api.onnx_opset(out.read_bytes()) == 13


def test_missing_onnx_names_the_extra(digits, tmp_path, monkeypatch, capsys):
    model, ckpt = digits
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)  # makes `import onnxruntime` raise ImportError
    out = tmp_path / 'model.onnx'
    with pytest.raises(ImgclsError, match=r"pip install 'imgcls\[export\]'") as info:
        export_model(model, out, shape=SHAPE)
    assert 'onnxruntime' in str(info.value)
    assert main(['export', CONFIG, ckpt, '--out', str(out)]) == 1
    assert "pip install 'imgcls[export]'" in capsys.readouterr().err
    assert not out.exists()


def test_bad_arguments_are_reported(digits, tmp_path):
    model, _ = digits
    with pytest.raises(ImgclsError, match='--atol'):
        export_model(model, tmp_path / 'm.onnx', shape=SHAPE, atol=-1)
    with pytest.raises(ImgclsError, match='--opset'):
        export_model(model, tmp_path / 'm.onnx', shape=SHAPE, opset=3)
    with pytest.raises(ImgclsError, match='--format'):
        export_model(model, tmp_path / 'm.onnx', fmt='tflite', shape=SHAPE)


def _onnx_input_dims(path):
    import onnx
    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    return [d.dim_param or d.dim_value for d in dims]


@pytest.mark.slow
def test_cli_takes_the_input_size_from_the_test_pipeline(digits, tmp_path, capsys):
    _, ckpt = digits
    config = tmp_path / 'digits48.py'
    config.write_text(f'_base_ = [{CONFIG!r}]\n'
                      "test_pipeline = [dict(type='Resize', size=(48, 48)), dict(type='Normalize', mean=[77.8], "
                      "std=[96.5], to_rgb=False), dict(type='ImageToTensor', keys=['img']), "
                      "dict(type='Collect', keys=['img'])]\n"
                      'data = dict(val=dict(pipeline=test_pipeline), test=dict(pipeline=test_pipeline))\n')
    out = tmp_path / 'model.onnx'
    assert main(['export', str(config), ckpt, '--out', str(out)]) == 0
    assert 'float32 (1, 1, 48, 48)' in capsys.readouterr().out
    assert _onnx_input_dims(out) == [1, 1, 48, 48]


@pytest.mark.slow
def test_dynamic_height_and_width(digits, tmp_path, capsys):
    model, ckpt = digits
    out = tmp_path / 'model.onnx'
    assert main(['export', CONFIG, ckpt, '--out', str(out), '--dynamic-batch', '--dynamic-hw']) == 0
    printed = capsys.readouterr().out
    assert 'float32 (N, 1, H, W)' in printed and '48x40: ' in printed and '(traced at 32x32)' in printed
    assert _onnx_input_dims(out) == ['batch', 1, 'height', 'width']
    run = _ort(out)
    for shape in ((3, 1, 40, 56), (2, 1, 24, 24)):  # batches and sizes the verification did not use
        x = torch.randn(*shape)
        with torch.no_grad():
            expected = torch.softmax(model.head(model.extract_feat(x)), 1).numpy()
        np.testing.assert_allclose(run(x), expected, atol=1e-5)
    script = export_model(model, tmp_path / 'model.pt', fmt='torchscript', shape=SHAPE, dynamic_hw=True)
    assert script.verified and list(script.other_size_diff) == [(48, 40)]


def test_pipeline_input_size():
    from imgcls.apis.inference import pipeline_input_size
    from imgcls.config import Config

    def size(*steps, where='test'):
        return pipeline_input_size(Config(dict(data={where: dict(pipeline=list(steps))})))
    assert size(dict(type='Resize', size=(256, -1)), dict(type='CenterCrop', crop_size=224)) == (224, 224)
    assert size(dict(type='Resize', size=48), where='val') == (48, 48)
    assert size(dict(type='Resize', size=(40, 56))) == (40, 56)
    assert size(dict(type='Resize', size=(40, 56)), dict(type='Resize', size=(64, -1))) is None  # keeps aspect
    assert size(dict(type='Resize', size=32), dict(type='Pad', pad_to_square=True)) is None
    assert size(dict(type='Normalize', mean=[0], std=[1])) is None
    assert pipeline_input_size(Config(dict(test_pipeline=[dict(type='CenterCrop', crop_size=(20, 30))]))) == (20, 30)
