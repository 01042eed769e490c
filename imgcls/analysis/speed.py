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

from ..errors import ConfigError


@dataclass
class SpeedResult:
    """Images per second of each mode, with the settings that produced them."""

    batch_size: int
    input_shape: tuple[int, int, int]
    settings: str
    img_per_s: dict[str, float] = field(default_factory=dict)  # mode -> median images/s
    spread: dict[str, tuple[float, float]] = field(default_factory=dict)  # mode -> (min, max) images/s

    def table(self) -> str:
        """A printable table: mode, batch, median img/s, ms per batch, min-max img/s."""
        lines = [f'{"mode":<10} {"batch":>5} {"img/s":>10} {"ms/batch":>10}   {"min-max img/s":<20}']
        for mode, ips in self.img_per_s.items():
            low, high = self.spread[mode]
            lines.append(f'{mode:<10} {self.batch_size:>5} {ips:>10.1f} {1000 * self.batch_size / ips:>10.2f}   '
                         f'{low:.1f}-{high:.1f}')
        c, h, w = self.input_shape
        lines.append(f'input {c}x{h}x{w} uint8 through the data preprocessor; {self.settings}')
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
    from ..apis.train import TrainStep
    step_module = torch.compile(TrainStep(model)) if speed.compile else TrainStep(model)
    scaler = torch.amp.GradScaler(speed.device.type) if speed.use_scaler else None

    def step():
        with speed.autocast():
            loss = step_module(batch)['loss']
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
    return step


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
    from ..apis import build_model, prepare_config
    from ..apis.train import resolve_device
    from ..engine import choose_speed_settings
    from ..engine.precision import apply_channels_last_guard
    cfg = copy.deepcopy(cfg)
    prepare_config(cfg)
    dev = resolve_device(device or cfg.get('device'))
    channels_last = cfg.get('channels_last', 'auto') if channels_last is None else channels_last
    speed = choose_speed_settings(
        dev, amp=cfg.get('amp', 'auto') if amp is None else amp, channels_last=channels_last,
        compile=cfg.get('compile', False) if compile is None else compile, fp16=cfg.get('fp16'))
    model = build_model(cfg, device=dev)
    if train:
        speed = apply_channels_last_guard(speed, model, channels_last)
    speed.apply_memory_format(model)
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
    from ..apis.model import prepare_for_inference
    from ..engine import build_optimizer
    if mode == 'inference':
        return _inference_fn(prepare_for_inference(copy.deepcopy(model), cfg, speed), speed, batch)
    if mode == 'train':
        optimizer_cfg = dict(cfg.get('optimizer') or {'type': 'SGD', 'lr': 0.01, 'momentum': 0.9})
        return _train_step_fn(model.train(), build_optimizer(model, optimizer_cfg), speed, batch)
    raise ConfigError(f'benchmark mode {mode!r} is not one of inference, train')


def benchmark(cfg, batch_size: int = 32, shape: tuple[int, int, int] = (3, 224, 224), device: str | None = None,
              amp=None, channels_last=None, compile: bool | None = None, iters: int = 20, warmup: int = 5,
              repeats: int = 5, modes: tuple[str, ...] = ('inference', 'train')) -> SpeedResult:
    """Measure images/s of ``modes`` for ``cfg.model``; None settings come from the config (or 'auto')."""
    for name, value, low in (('--batch-size', batch_size, 1), ('--iters', iters, 1), ('warmup', warmup, 0),
                             ('repeats', repeats, 1)):
        if not isinstance(value, int) or value < low:
            raise ConfigError(f'{name} must be an int >= {low}, got {value!r}')
    cfg, speed, model, batch = setup(cfg, batch_size, shape, device, amp, channels_last, compile,
                                     train='train' in modes)
    result = SpeedResult(batch_size, tuple(shape), speed.describe())
    for mode in modes:
        step = make_step(mode, cfg, speed, model, batch)
        if mode == 'inference' and cfg.get('fuse_conv_bn', True):
            result.settings += '; inference: BatchNorms folded into their convolutions'
        rates = [batch_size * iters / t for t in time_steps(step, speed.device, iters, warmup, repeats)]
        result.img_per_s[mode] = statistics.median(rates)
        result.spread[mode] = (min(rates), max(rates))
    return result
