"""Inference and training-step throughput of a config's model on this machine, with synthetic images.

The input is a random uint8 batch that goes through the model's data preprocessor, as real batches
do; the model is the config's, randomly initialised. Each measurement: warm-up steps (allocator,
autotuning, compilation), then ``repeats`` timed runs of ``iters`` steps; the median is reported.
"""

from __future__ import annotations

import copy
import statistics
import time
from dataclasses import dataclass, field

import torch

from ..apis import build_model, prepare_config
from ..apis.export import model_in_channels
from ..apis.model import prepare_for_inference
from ..apis.train import resolve_device
from ..data import build_dataloader, build_dataset
from ..engine import build_optimizer, choose_speed_settings
from ..engine.precision import apply_channels_last_guard, configure_cudnn
from ..engine.step import StepForward, TrainStep
from ..errors import ConfigError


@dataclass
class SpeedResult:
    """Images per second of each mode, with the settings that produced them."""

    batch_size: int
    input_shape: tuple[int, int, int]
    settings: str
    img_per_s: dict[str, float] = field(default_factory=dict)  # mode -> median images/s
    spread: dict[str, tuple[float, float]] = field(default_factory=dict)  # mode -> (min, max) images/s
    peak_memory_gb: dict[str, float] = field(default_factory=dict)  # mode -> peak GPU memory (CUDA only)
    loader_img_per_s: float | None = None  # what the config's train loader delivers (``--data``)

    def as_dict(self) -> dict:
        """The result as plain JSON-ready values."""
        return dict(batch_size=self.batch_size, input_shape=list(self.input_shape), settings=self.settings,
                    img_per_s=self.img_per_s, spread={k: list(v) for k, v in self.spread.items()},
                    peak_memory_gb=self.peak_memory_gb, loader_img_per_s=self.loader_img_per_s,
                    loader_headroom=self.loader_headroom)

    @property
    def loader_headroom(self) -> float | None:
        """Loader images/s over training images/s: below 1 the loader bounds training."""
        if self.loader_img_per_s is None or 'train' not in self.img_per_s:
            return None
        return self.loader_img_per_s / self.img_per_s['train']

    def table(self) -> str:
        """A printable table: mode, batch, median img/s, ms per batch, min-max img/s."""
        lines = [f'{"mode":<10} {"batch":>5} {"img/s":>10} {"ms/batch":>10}   {"min-max img/s":<20}'
                 + ('peak GPU memory' if self.peak_memory_gb else '')]
        lines[0] = lines[0].rstrip()
        for mode, ips in self.img_per_s.items():
            low, high = self.spread[mode]
            mem = f'{self.peak_memory_gb[mode]:.2f} GiB' if mode in self.peak_memory_gb else ''
            lines.append(f'{mode:<10} {self.batch_size:>5} {ips:>10.1f} {1000 * self.batch_size / ips:>10.2f}   '
                         f'{f"{low:.1f}-{high:.1f}":<20}{mem}'.rstrip())
        c, h, w = self.input_shape
        lines.append(f'input {c}x{h}x{w} uint8 through the data preprocessor; {self.settings}')
        if self.loader_img_per_s is not None:
            line = f'train loader (the config\'s data.train): {self.loader_img_per_s:.1f} img/s'
            if self.loader_headroom is not None:
                verdict = ('keeps up' if self.loader_headroom >= 1
                           else 'bounds training: add workers or a lighter pipeline')
                line += f', {self.loader_headroom:.2f}x what training consumes ({verdict})'
            lines.append(line)
        return '\n'.join(lines)


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)  # the clock must see finished kernels, not queued ones


def time_steps(step, device: torch.device, iters: int, warmup: int, repeats: int) -> list[float]:
    """Seconds per ``iters`` calls of ``step``, for each of ``repeats`` runs after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iters):
            step()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def _num_classes(cfg) -> int:
    num = (cfg['model'].get('head') or {}).get('num_classes')
    return num if isinstance(num, int) and num > 0 else 2


def _train_step_fn(model, optimizer, speed, batch):
    """The engine's own training step (forward, loss, backward, optimizer step, loss scaling) on ``batch``."""
    forward = StepForward(model)
    step = TrainStep(torch.compile(forward) if speed.compile else forward, optimizer, speed)
    return lambda: step(batch)


def _inference_fn(model, speed, batch):
    test_step = torch.compile(model.test_step) if speed.compile else model.test_step

    def step():
        with torch.no_grad(), speed.autocast():
            test_step(batch)
    return step


def setup(cfg, batch_size: int, shape: tuple[int, int, int], device: str | None = None, amp=None,
          channels_last=None, compile: bool | None = None, train: bool = True):
    """The model, speed settings and synthetic batch :func:`benchmark` times; returns ``(cfg, speed, model,
    batch)`` with ``cfg`` prepared. None settings come from the config (or 'auto'); ``train`` applies the CPU
    channels_last guard training applies, so the numbers match a real run."""
    cfg = copy.deepcopy(cfg)
    prepare_config(cfg)
    dev = resolve_device(device or cfg.get('device'))
    configure_cudnn(dev, bool(cfg.get('deterministic', False)), cfg.get('cudnn_benchmark'))
    channels_last = cfg.get('channels_last', 'auto') if channels_last is None else channels_last
    speed = choose_speed_settings(
        dev, amp=cfg.get('amp', 'auto') if amp is None else amp, channels_last=channels_last,
        compile=cfg.get('compile', False) if compile is None else compile, fp16=cfg.get('fp16'))
    model = build_model(cfg, device=dev)
    if train:
        speed = apply_channels_last_guard(speed, model, channels_last)
    speed.apply_memory_format(model)
    if shape[0] is None:  # the channels only the built model tells (e.g. LeNet5)
        shape = (model_in_channels(model), *shape[1:])
    gen = torch.Generator().manual_seed(0)
    batch = {'img': torch.randint(0, 256, (batch_size, *shape), generator=gen, dtype=torch.uint8),
             'gt_label': torch.randint(0, _num_classes(cfg), (batch_size,), generator=gen)}
    if dev.type == 'cuda':
        batch = {k: v.pin_memory() for k, v in batch.items()}  # as the loader hands them over
    return cfg, speed, model, batch


def make_step(mode: str, cfg, speed, model, batch):
    """One inference batch or one training step of ``model`` on ``batch``, as a function of no arguments.

    Inference runs on a copy set up as ``init_model`` / ``imgcls test`` set it up (BatchNorms folded), so
    ``model`` stays trainable."""
    if mode == 'inference':
        return _inference_fn(prepare_for_inference(copy.deepcopy(model), cfg, speed), speed, batch)
    if mode == 'train':
        optimizer_cfg = dict(cfg.get('optimizer') or {'type': 'SGD', 'lr': 0.01, 'momentum': 0.9})
        return _train_step_fn(model.train(), build_optimizer(model, optimizer_cfg), speed, batch)
    raise ConfigError(f'benchmark mode {mode!r} is not one of inference, train')


def benchmark(cfg, batch_size: int = 32, shape: tuple[int, int, int] = (3, 224, 224), device: str | None = None,
              amp=None, channels_last=None, compile: bool | None = None, iters: int = 20, warmup: int = 5,
              repeats: int = 5, modes: tuple[str, ...] = ('inference', 'train'),
              data_batches: int = 0) -> SpeedResult:
    """Measure images/s of ``modes`` for ``cfg.model``; None settings come from the config (or 'auto').
    ``shape`` is (C, H, W), C None for the channels the model's first convolution takes.
    With ``data_batches``, also time that many batches of the config's training loader (the headroom)."""
    for name, value, low in (('--batch-size', batch_size, 1), ('--iters', iters, 1), ('warmup', warmup, 0),
                             ('repeats', repeats, 1)):
        if not isinstance(value, int) or value < low:
            raise ConfigError(f'{name} must be an int >= {low}, got {value!r}')
    cfg, speed, model, batch = setup(cfg, batch_size, shape, device, amp, channels_last, compile,
                                     train='train' in modes)
    result = SpeedResult(batch_size, tuple(batch['img'].shape[1:]), speed.describe())
    for mode in modes:
        step = make_step(mode, cfg, speed, model, batch)
        if mode == 'inference' and cfg.get('fuse_conv_bn', True):
            result.settings += '; inference: BatchNorms folded into their convolutions'
        if speed.device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(speed.device)
        rates = [batch_size * iters / t for t in time_steps(step, speed.device, iters, warmup, repeats)]
        result.img_per_s[mode] = statistics.median(rates)
        result.spread[mode] = (min(rates), max(rates))
        if speed.device.type == 'cuda':
            result.peak_memory_gb[mode] = torch.cuda.max_memory_allocated(speed.device) / 2 ** 30
        del step
    if data_batches:
        result.loader_img_per_s = loader_throughput(cfg, data_batches, batch_size)
    return result


def loader_throughput(cfg, batches: int, batch_size: int) -> float:
    """Images/s the config's training loader delivers (``data.train``, its workers, pinned memory when
    CUDA is there), timed over ``batches`` batches after the first (worker start-up is not counted)."""
    if not isinstance(batches, int) or batches < 1:
        raise ConfigError(f'--data must be a number of batches >= 1, got {batches!r}')
    if 'train' not in (cfg.get('data') or {}):
        raise ConfigError('--data times the training loader, but the config has no data.train')
    data_cfg = cfg['data']
    dataset = build_dataset(data_cfg['train'])
    loader = build_dataloader(dataset, batch_size, data_cfg.get('workers_per_gpu', 2), shuffle=True, seed=0,
                              drop_last=True)
    if len(loader) < 2:
        raise ConfigError(f'--data needs at least 2 batches of {batch_size} in data.train, which has '
                          f'{len(dataset)} images; use a smaller --batch-size')
    it, done = iter(loader), 0
    next(it)  # worker start-up and the first batch
    start = time.perf_counter()
    for _ in range(batches):
        try:
            done += len(next(it)['img'])
        except StopIteration:
            it = iter(loader)
    return done / (time.perf_counter() - start)
