"""Exporting a classifier to ONNX or TorchScript, verified against PyTorch before the file is written.

What the exported graph computes:

* default: float32, already-normalised ``(N, C, H, W)`` images → class scores (softmax, or the head's
  own activation) — the same contract as mmcls deployment, so existing ONNX pipelines that
  normalise on their own keep working;
* ``include_preprocess=True``: uint8 ``(N, C, H, W)`` images in RGB order (what imgcls's loaders
  produce) → scores; the model's data preprocessor (BGR flip where the model was trained on BGR,
  to-float, normalise) is baked into the graph, so a deployment only resizes / crops;
* ``logits=True`` returns the raw class logits instead of scores.

The file is written only after ONNX Runtime (or the re-loaded TorchScript module) reproduced the
PyTorch outputs within ``atol``; a failed check raises :class:`ImgclsError` and leaves ``out``
as it was (written atomically).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..errors import ConfigError, ImgclsError
from ..fileio import atomic_write_bytes

FORMATS = ('onnx', 'torchscript')
INPUT_NAME = 'input'
EXPORT_EXTRA_HINT = "pip install 'imgcls[export]'"


def classifier_logits(model: nn.Module, img: torch.Tensor) -> torch.Tensor:
    """Raw class logits of normalised images: ``head(extract_feat(img))``, or ``model(img)`` for plain modules."""
    if hasattr(model, 'extract_feat') and getattr(model, 'head', None) is not None:
        return model.head(model.extract_feat(img))
    return model(img)


class DeployModel(nn.Module):
    """Images → scores (or logits): the part of a classifier that runs in deployment."""

    def __init__(self, model: nn.Module, logits: bool = False, include_preprocess: bool = False):
        super().__init__()
        self.model, self.logits, self.include_preprocess = model, logits, include_preprocess

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        if self.include_preprocess:
            img = self.model.data_preprocessor(img)[0]
        if self.logits or not hasattr(self.model, 'simple_test'):
            return classifier_logits(self.model, img)
        # the head's own scores: softmax for single-label heads, sigmoid for multi-label ones
        return self.model.simple_test(img, post_process=False)


@dataclass
class ExportResult:
    """What :func:`export_model` wrote and how well the exported model matched PyTorch."""

    path: Path
    format: str
    exporter: str  # 'dynamo', 'torchscript-onnx' (the fallback) or 'jit.trace'
    input_shape: tuple[int, ...]
    input_dtype: str
    output_name: str
    dynamic_batch: bool
    opset: int | None = None  # ONNX only
    max_abs_diff: dict[int, float] = field(default_factory=dict)  # batch size -> max |exported - torch|
    verified: bool = False
    dynamic_hw: bool = False
    # (h, w) of the other image size a dynamic-size export was checked at -> max |exported - torch|
    other_size_diff: dict[tuple[int, int], float] = field(default_factory=dict)

    def summary(self) -> str:
        """One printable paragraph: file, input, output and the verification."""
        batch = 'N' if self.dynamic_batch else str(self.input_shape[0])
        hw = ['H', 'W'] if self.dynamic_hw else [str(s) for s in self.input_shape[2:]]
        shape = ', '.join([batch, str(self.input_shape[1]), *hw])
        fmt = f'onnx opset {self.opset}' if self.opset is not None else self.format
        text = (f'exported {self.path} ({fmt}, exporter: {self.exporter}); input "{INPUT_NAME}": '
                f'{self.input_dtype} ({shape}), output "{self.output_name}"')
        if self.verified:
            diffs = [f'batch {b}: {d:.2e}' for b, d in self.max_abs_diff.items()]
            diffs += [f'{h}x{w}: {d:.2e}' for (h, w), d in self.other_size_diff.items()]
            text += f'; max |exported - PyTorch| {", ".join(diffs)}'
            if self.dynamic_hw:
                text += f' (traced at {self.input_shape[2]}x{self.input_shape[3]})'
        else:
            text += '; not verified (--no-verify)'
        return text


def require_export_packages(verify: bool = True) -> None:
    """Raise ImgclsError naming ``pip install 'imgcls[export]'`` when onnx (or onnxruntime) is missing."""
    needed = ['onnx', 'onnxscript'] + (['onnxruntime'] if verify else [])
    missing = []
    for name in needed:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ImgclsError(f'ONNX export needs the optional package(s) {", ".join(missing)}, which are not '
                          f'installed: {EXPORT_EXTRA_HINT} (or pip install {" ".join(missing)}); '
                          '--format torchscript works without them')


def model_in_channels(model: nn.Module, default: int = 3) -> int:
    """The channel count the model's first convolution (or patch embedding) expects."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Conv1d, nn.Conv3d)):
            return module.in_channels
    return default


def example_input(shape: tuple[int, ...], uint8: bool, seed: int = 0) -> torch.Tensor:
    """A reproducible random batch: uint8 pixels, or float values like normalised images."""
    gen = torch.Generator().manual_seed(seed)
    if uint8:
        return torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8)
    return torch.randn(shape, generator=gen)


def _check_args(fmt: str, opset: int | None, atol: float, shape: tuple[int, ...]) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f'--format {fmt!r} is not supported; choose one of {", ".join(FORMATS)}')
    if opset is not None and (not isinstance(opset, int) or opset < 7):
        raise ConfigError(f'--opset must be an ONNX opset version >= 7 (e.g. 17 or 18), got {opset!r}')
    if not atol >= 0:
        raise ConfigError(f'--atol must be a number >= 0, got {atol!r}')
    if len(shape) != 3 or any(not isinstance(s, int) or s <= 0 for s in shape):
        raise ConfigError(f'the input shape must be positive (C, H, W), got {shape!r}')


@contextlib.contextmanager
def _quiet_exporter_logs():
    """Hide the exporters' progress and version-conversion chatter; what matters is reported by us."""
    loggers = [logging.getLogger(name) for name in ('torch.onnx', 'torch.export', 'onnxscript', 'onnx_ir')]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def onnx_opset(model_bytes: bytes) -> int | None:
    """The default-domain (ai.onnx) opset version of a serialised model."""
    import onnx  # optional dependency (imgcls[export])
    model = onnx.load_from_string(model_bytes)
    return next((o.version for o in model.opset_import if o.domain in ('', 'ai.onnx')), None)


def _dynamic_dims(dynamic: bool, dynamic_hw: bool) -> dict[int, str]:
    """The free input dimensions: index -> name."""
    return {**({0: 'batch'} if dynamic else {}), **({2: 'height', 3: 'width'} if dynamic_hw else {})}


def _onnx_dynamo(module: nn.Module, x: torch.Tensor, output_name: str, dynamic: bool, opset: int | None,
                 dynamic_hw: bool = False) -> bytes:
    dims = {i: torch.export.Dim(name, min=1) for i, name in _dynamic_dims(dynamic, dynamic_hw).items()}
    dynamic_shapes = {'img': dims} if dims else None
    with _quiet_exporter_logs(), contextlib.redirect_stdout(io.StringIO()):
        program = torch.onnx.export(module, (x,), None, dynamo=True, input_names=[INPUT_NAME],
                                    output_names=[output_name], opset_version=opset, dynamic_shapes=dynamic_shapes,
                                    verbose=False, external_data=False)
    model_bytes = program.model_proto.SerializeToString()
    got = onnx_opset(model_bytes)
    if opset is not None and got != opset:  # it converts down from its lowest opset (18) and may fail quietly
        raise RuntimeError(f'it produced opset {got} instead of the requested {opset}')
    return model_bytes


def _onnx_torchscript(module: nn.Module, x: torch.Tensor, output_name: str, dynamic: bool,
                      opset: int | None, dynamic_hw: bool = False) -> bytes:
    buf = io.BytesIO()
    dims = _dynamic_dims(dynamic, dynamic_hw)
    axes = {INPUT_NAME: dims, **({output_name: {0: 'batch'}} if dynamic else {})} if dims else None
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # its deprecation notice: we already told the user
        torch.onnx.export(module, (x,), buf, dynamo=False, input_names=[INPUT_NAME], output_names=[output_name],
                          opset_version=opset or 17, dynamic_axes=axes)
    return buf.getvalue()


def export_onnx_bytes(module: nn.Module, x: torch.Tensor, output_name: str, dynamic: bool,
                      opset: int | None, dynamic_hw: bool = False) -> tuple[bytes, str]:
    """Serialised ONNX model and the exporter used: torch.export-based, else the TorchScript-based one."""
    try:
        return _onnx_dynamo(module, x, output_name, dynamic, opset, dynamic_hw), 'dynamo'
    except Exception as first:  # the exporter raises many types; the fallback decides
        reason = str(first).strip().splitlines()[0][:300] if str(first).strip() else type(first).__name__
        warnings.warn(f'the torch.export-based ONNX exporter failed ({type(first).__name__}: {reason}); '
                      'falling back to the TorchScript-based exporter (torch.onnx.export(dynamo=False))',
                      stacklevel=2)
        try:
            return _onnx_torchscript(module, x, output_name, dynamic, opset, dynamic_hw), 'torchscript-onnx'
        except Exception as second:
            raise ImgclsError(f'ONNX export failed with both exporters: torch.export-based: {reason}; '
                              f'TorchScript-based: {type(second).__name__}: {second}. Try another --opset, '
                              'or --format torchscript') from second


def onnx_runner(model_bytes: bytes):
    """A function running the serialised ONNX model on a tensor with ONNX Runtime (CPU)."""
    import onnxruntime as ort  # optional dependency (imgcls[export])
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    session = ort.InferenceSession(model_bytes, options, providers=['CPUExecutionProvider'])
    return lambda x: session.run(None, {INPUT_NAME: x.numpy()})[0]


def torchscript_runner(model_bytes: bytes):
    """A function running the serialised TorchScript module on a tensor."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FutureWarning)  # torch.jit's deprecation notice
        loaded = torch.jit.load(io.BytesIO(model_bytes), map_location='cpu')

    def run(x: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return loaded(x).numpy()
    return run


def verify_outputs(run_exported, module: nn.Module, batch_sizes: list[int], shape: tuple[int, ...], uint8: bool,
                   atol: float, what: str) -> dict[int, float]:
    """Compare ``run_exported(x)`` with PyTorch on random batches; raise ImgclsError beyond ``atol``."""
    diffs = {}
    for n in batch_sizes:
        x = example_input((n, *shape), uint8, seed=n)
        with torch.no_grad():
            expected = module(x).numpy()
        got = run_exported(x)
        if got.shape != expected.shape:
            raise ImgclsError(f'{what}: the exported model returned shape {got.shape} for batch {n}, '
                              f'PyTorch {expected.shape}; nothing was written')
        diff = float(np.max(np.abs(got.astype(np.float64) - expected))) if got.size else 0.0
        diffs[n] = diff
        if not diff <= atol:  # also catches NaN
            raise ImgclsError(f'{what}: the exported model differs from PyTorch by up to {diff:.3g} on a batch '
                              f'of {n} (tolerance --atol {atol:g}); nothing was written. This usually means an '
                              'operator is exported incorrectly: try another --opset or --format, or raise '
                              '--atol if the difference is acceptable')
    return diffs


def other_size(h: int, w: int) -> tuple[int, int]:
    """A second, non-square image size a dynamic-size export is checked at: 1.5x the height, 1.25x the width."""
    return (h * 3 // 2, w * 5 // 4)


def export_model(model: nn.Module, out: str | Path, fmt: str = 'onnx', shape: tuple[int, int, int] = (3, 224, 224),
                 dynamic_batch: bool = False, opset: int | None = None, include_preprocess: bool = False,
                 logits: bool = False, verify: bool = True, atol: float = 1e-4,
                 dynamic_hw: bool = False) -> ExportResult:
    """Export ``model`` (an imgcls classifier) to ``out`` and verify it, writing only a verified file.

    Args:
        shape: (C, H, W) of one input image (with ``dynamic_hw``, the size the graph is traced at).
        dynamic_batch: the batch dimension is free (verified on batches of 1, 2 and 5), else fixed to 1.
        dynamic_hw: height and width are free (also verified at :func:`other_size` of ``shape``).
        include_preprocess: take uint8 RGB images and normalise inside the graph.
        logits: output raw logits instead of scores.
    """
    _check_args(fmt, opset, atol, tuple(shape))
    if fmt == 'onnx':
        require_export_packages(verify)
    out = Path(out)
    if out.is_dir():
        raise ConfigError(f'--out {out} is a directory; give a file name such as {out / "model.onnx"}')
    model = model.cpu().float().eval()
    if getattr(model, 'data_preprocessor', None) is not None:
        model.data_preprocessor.channels_last = False
    module = DeployModel(model, logits=logits, include_preprocess=include_preprocess).eval()
    output_name = 'logits' if logits else 'scores'
    # batch 2 for a dynamic export: torch.export would specialise a batch of 1 to a constant
    x = example_input((2 if dynamic_batch else 1, *shape), include_preprocess)
    if fmt == 'onnx':
        model_bytes, exporter = export_onnx_bytes(module, x, output_name, dynamic_batch, opset, dynamic_hw)
    else:
        model_bytes, exporter = _trace_bytes(module, x), 'jit.trace'
    result = ExportResult(path=out, format=fmt, exporter=exporter, input_shape=tuple(x.shape),
                          input_dtype='uint8' if include_preprocess else 'float32', output_name=output_name,
                          dynamic_batch=dynamic_batch, opset=onnx_opset(model_bytes) if fmt == 'onnx' else None,
                          dynamic_hw=dynamic_hw)
    if verify:
        _verify(result, model_bytes, module, tuple(shape), atol)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, model_bytes)
    return result


def _verify(result: ExportResult, model_bytes: bytes, module: nn.Module, shape: tuple[int, ...],
            atol: float) -> None:
    """Run the serialised model against PyTorch at every batch size and image size it must accept."""
    fmt, out = result.format, result.path
    uint8 = result.input_dtype == 'uint8'
    try:
        run = (onnx_runner if fmt == 'onnx' else torchscript_runner)(model_bytes)
        what = f'{fmt} export to {out}'
        result.max_abs_diff = verify_outputs(run, module, [1, 2, 5] if result.dynamic_batch else [1], shape,
                                             uint8, atol, what)
        if result.dynamic_hw:
            size = other_size(*shape[1:])
            result.other_size_diff = {size: verify_outputs(run, module, [1], (shape[0], *size), uint8, atol,
                                                           f'{what} at {size[0]}x{size[1]}')[1]}
    except ImgclsError:
        raise
    except Exception as e:  # the runtime rejected the file or an input size: as much a failed check as a wrong output
        runtime = 'ONNX Runtime' if fmt == 'onnx' else 'torch.jit.load'
        raise ImgclsError(f'{fmt} export to {out}: {runtime} could not run the exported model '
                          f'({type(e).__name__}: {str(e)[:300]}); nothing was written. Try another --opset '
                          'or --format' + (', or drop --dynamic-hw' if result.dynamic_hw else '')) from e
    result.verified = True


def _trace_bytes(module: nn.Module, x: torch.Tensor) -> bytes:
    """``torch.jit.trace`` the module and serialise it (the batch size stays free in the trace)."""
    with warnings.catch_warnings():
        # TracerWarnings about Python values (verification checks the result) and torch.jit's deprecation
        warnings.simplefilter('ignore')
        with torch.no_grad():
            traced = torch.jit.trace(module, (x,), check_trace=False)
        buf = io.BytesIO()
        torch.jit.save(traced, buf)
    return buf.getvalue()
