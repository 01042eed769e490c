"""Choosing precision and memory format: bf16 autocast + channels_last where the hardware has them."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from ..errors import ConfigError

_AMP_VALUES = ('auto', 'bf16', 'fp16', 'fp32', None, False, True)


def cpu_supports_bf16() -> bool:
    """True when oneDNN has fast bf16 kernels on this CPU (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@dataclass
class SpeedSettings:
    """What the engine does for speed on this device, and why (printed at start)."""

    device: torch.device
    amp_dtype: torch.dtype | None  # None: fp32
    channels_last: bool
    compile: bool
    use_scaler: bool
    reason: str

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def apply_memory_format(self, model: torch.nn.Module) -> torch.nn.Module:
        """Put ``model`` (in place) and the batches its data preprocessor makes in channels_last, if chosen."""
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
            model.data_preprocessor.channels_last = True
        return model

    @property
    def precision_name(self) -> str:
        return {None: 'fp32', torch.bfloat16: 'bf16', torch.float16: 'fp16'}[self.amp_dtype]

    def describe(self) -> str:
        prec = {None: 'fp32', torch.bfloat16: 'bf16 autocast', torch.float16: 'fp16 autocast + loss scaling'}
        return (f'{prec[self.amp_dtype]}, channels_last={"on" if self.channels_last else "off"}, '
                f'torch.compile={"on" if self.compile else "off"} on {self.device} ({self.reason})')


def choose_speed_settings(device: torch.device, amp='auto', channels_last='auto', compile=False,
                          fp16: dict | None = None) -> SpeedSettings:
    """Resolve the config's ``amp`` / ``channels_last`` / ``compile`` / mmcls ``fp16`` keys for ``device``."""
    if amp not in _AMP_VALUES:
        raise ConfigError(f'amp={amp!r} is not valid; use "auto", "bf16", "fp16" or None (fp32)')
    if channels_last not in ('auto', True, False):
        raise ConfigError(f'channels_last={channels_last!r} is not valid; use "auto", True or False')
    if fp16 is not None and amp == 'auto':
        amp = 'fp16'  # an mmcls 0.x config asking for mixed precision
    reason = 'set in the config'
    if amp == 'auto' or amp is True:
        if device.type == 'cuda':
            amp = 'bf16' if torch.cuda.is_bf16_supported() else 'fp16'
            reason = 'auto: CUDA'
        elif device.type == 'cpu' and cpu_supports_bf16():
            amp, reason = 'bf16', 'auto: this CPU has bf16 instructions'
        else:
            amp, reason = None, 'auto: no fast low-precision math on this device'
    if amp == 'fp16' and device.type == 'cpu':
        amp, reason = ('bf16', 'fp16 asked for, bf16 used: fp16 is slow on CPUs') if cpu_supports_bf16() \
            else (None, 'fp16 asked for, fp32 used: this CPU has no fast half precision')
    dtype = {'bf16': torch.bfloat16, 'fp16': torch.float16}.get(amp)
    if channels_last == 'auto':
        channels_last = device.type in ('cpu', 'cuda')
    return SpeedSettings(device=device, amp_dtype=dtype, channels_last=bool(channels_last),
                         compile=bool(compile), use_scaler=dtype is torch.float16, reason=reason)


def configure_cudnn(device: torch.device, deterministic: bool = False, cudnn_benchmark=None) -> bool:
    """Let cuDNN time its convolution algorithms on the first batch of each shape (on CUDA, unless
    ``deterministic``); mmcls configs' ``cudnn_benchmark`` key overrides. Returns the setting."""
    if cudnn_benchmark not in (None, True, False):
        raise ConfigError(f'cudnn_benchmark={cudnn_benchmark!r} is not valid; use True or False')
    on = device.type == 'cuda' and not deterministic and cudnn_benchmark is not False
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = on
    return on


def channels_last_hazards(model: torch.nn.Module) -> list[str]:
    """Convs whose CPU weight gradient oneDNN computes wrongly in channels_last (memory corruption).

    oneDNN's 1x1 strided convolution backward-weights kernel overruns its buffer for NHWC inputs with
    fewer input channels than its block size (oneDNN issue #6035, seen with torch 2.14 here: a
    1x1 stride-2 conv with 8 input channels and an odd batch segfaults). We keep such models in
    the default (NCHW) memory format for training on CPUs.
    """
    hazards = []
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Conv2d) and module.kernel_size == (1, 1) \
                and max(module.stride) > 1 and module.in_channels < 16:
            hazards.append(f'{name} ({module.in_channels} input channels, stride {module.stride[0]})')
    return hazards


def apply_channels_last_guard(speed: SpeedSettings, model: torch.nn.Module, requested) -> SpeedSettings:
    """Turn channels_last off for CPU training of models that would hit :func:`channels_last_hazards`."""
    if not speed.channels_last or speed.device.type != 'cpu':
        return speed
    hazards = channels_last_hazards(model)
    if not hazards:
        return speed
    if requested is True:
        raise ConfigError(
            f'channels_last=True cannot train this model on the CPU: oneDNN computes wrong weight gradients '
            f'(and can crash) for 1x1 strided convolutions with < 16 input channels in channels_last, e.g. '
            f'{hazards[0]}. Use channels_last="auto" or False, or widen those layers.')
    speed.channels_last = False
    speed.reason += '; channels_last off: 1x1 strided convs with < 16 input channels (oneDNN issue #6035)'
    return speed
