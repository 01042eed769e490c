"""The training loop: EpochBasedRunner and IterBasedRunner, driven by hooks.

One iteration is: fetch a batch → :class:`~imgcls.engine.step.TrainStep` (forward and loss under autocast,
backward, clip, optimizer step, loss scaling) → hooks (loggers, checkpoints, EMA act on their intervals).
Nothing here forces a host sync except the logging interval.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from pathlib import Path

import torch
from torch.utils.data import IterableDataset

from .. import __version__
from ..errors import CheckpointError, ImgclsError
from .checkpoint import (
    get_rng_state,
    get_state_dict,
    load_checkpoint,
    load_model_weights,
    save_checkpoint,
    set_rng_state,
    unwrap_model,
)
from .dist import get_world_size, is_main_process
from .hooks import EMAHook, Hook, LogBuffer, LoggerHook, OptimizerHook, get_priority
from .hooks.checkpoint_hook import link_latest
from .log import FILE_ONLY
from .precision import SpeedSettings
from .step import TrainStep, accumulation_group


class TrainingDiverged(ImgclsError):
    """The loss became NaN or infinite."""


class TrainingInterrupted(ImgclsError):
    """SIGINT / SIGTERM arrived; a resumable checkpoint was saved."""


class EpochBasedRunner:
    """Runs ``max_epochs`` passes over the training loader."""

    by_epoch = True

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, work_dir: str | Path,
                 speed: SpeedSettings, logger: logging.Logger | None = None, max_epochs: int | None = None,
                 max_iters: int | None = None, meta: dict | None = None,
                 step_module: torch.nn.Module | None = None):
        self.model, self.optimizer = model, optimizer
        # step_module: the model's train_step as a module, possibly DDP- or torch.compile-wrapped
        self.step_module = step_module
        self.work_dir = Path(work_dir)
        self.speed = speed
        self.logger = logger or logging.getLogger('imgcls')
        self.meta = dict(meta or {})
        self._max_epochs, self._max_iters = max_epochs, max_iters
        self.epoch = self.iter = self.inner_iter = 0
        self.iters_per_epoch = 0
        self.hooks: list[Hook] = []
        self.log_buffer = LogBuffer()
        self.outputs: dict = {}
        self.last_eval: dict = {}
        self.train_step = TrainStep(step_module if step_module is not None else model.train_step, optimizer,
                                    speed, self.logger)
        self._window_losses: list[torch.Tensor] = []
        self._stop_requested: str | None = None
        self._resume_inner_iter = 0
        self._resume_rng: dict | None = None

    # -- bookkeeping --------------------------------------------------------------
    @property
    def max_epochs(self) -> int:
        return self._max_epochs if self._max_epochs is not None else math.ceil(self.max_iters / self.iters_per_epoch)

    @property
    def max_iters(self) -> int:
        if self._max_iters is not None:
            return self._max_iters
        return self._max_epochs * self.iters_per_epoch

    @property
    def scaler(self) -> torch.amp.GradScaler | None:
        """The fp16 loss scaler of the training step (None unless training in fp16)."""
        return self.train_step.scaler

    def register_hook(self, hook: Hook, priority: int | str | None = None) -> None:
        """Insert ``hook`` so that hooks run in priority order (stable for equal priorities).

        An :class:`OptimizerHook` carries the settings of the training step (clip, accumulation, loss scale).
        """
        if isinstance(hook, OptimizerHook):
            self.train_step.configure(**hook.step_settings())
        hook.priority = get_priority(priority if priority is not None else hook.priority)
        index = len(self.hooks)
        for i, other in enumerate(self.hooks):
            if hook.priority < other.priority:
                index = i
                break
        self.hooks.insert(index, hook)

    def call_hook(self, name: str) -> None:
        for hook in self.hooks:
            getattr(hook, name)(self)

    def hook_state_keys(self) -> list[tuple[str, Hook]]:
        """A checkpoint key per hook: its type name, then ``Name.2``, ``Name.3`` for more hooks of that type."""
        counts: dict[str, int] = {}
        keys = []
        for hook in self.hooks:
            name = type(hook).__name__
            counts[name] = counts.get(name, 0) + 1
            keys.append((name if counts[name] == 1 else f'{name}.{counts[name]}', hook))
        return keys

    def log_record(self, record: dict) -> None:
        for hook in self.hooks:
            if isinstance(hook, LoggerHook):
                hook.write(self, record)

    def current_lr(self) -> float:
        return self.optimizer.param_groups[0]['lr']

    # -- checkpoints ----------------------------------------------------------------
    def checkpoint_dict(self, epoch: int, iter: int, save_optimizer: bool = True) -> dict:
        model = unwrap_model(self.model)
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        meta = dict(self.meta, epoch=epoch, iter=iter, imgcls_version=__version__,
                    torch_version=str(torch.__version__), time=time.strftime('%Y-%m-%d %H:%M:%S'),
                    rng=get_rng_state(), world_size=get_world_size())
        ckpt = {'meta': meta, 'state_dict': state}
        if save_optimizer:
            ckpt['optimizer'] = self.optimizer.state_dict()
            if self.scaler is not None:
                ckpt['scaler'] = self.train_step.state_dict()
            hooks = {key: h.state_dict() for key, h in self.hook_state_keys() if h.state_dict() is not None}
            if hooks:
                ckpt['hooks'] = hooks
        # the first EMA's weights are also a plain state dict (``state_dict_ema``), loadable as a model
        ema_key, ema = next(((k, h) for k, h in self.hook_state_keys() if isinstance(h, EMAHook)), (None, None))
        if ema is not None and ema.ema:
            ckpt['state_dict_ema'] = {k: v.detach().cpu() for k, v in ema.ema.items()}
            ckpt.get('hooks', {}).pop(ema_key, None)
        return ckpt

    def save_checkpoint(self, path: str | Path, epoch: int, iter: int, save_optimizer: bool = True) -> None:
        save_checkpoint(path, self.checkpoint_dict(epoch, iter, save_optimizer))

    def resume(self, path: str | Path, unsafe: bool = False) -> None:
        """Continue from a checkpoint: weights, optimizer, scaler, hook states, counters and RNG."""
        ckpt = load_checkpoint(path, map_location='cpu', unsafe=unsafe)
        if 'optimizer' not in ckpt:
            raise CheckpointError(f'{path} has no optimizer state, so training cannot resume from it exactly '
                                  '(it was saved for release or as a best checkpoint). Use --load-from to '
                                  'fine-tune from its weights instead.')
        load_model_weights(self.model, get_state_dict(ckpt), strict=True, source=str(path), skip_mismatched=False)
        try:
            self.optimizer.load_state_dict(ckpt['optimizer'])
        except (ValueError, KeyError) as e:
            raise CheckpointError(f'{path}: the optimizer state does not fit this config\'s optimizer ({e}); '
                                  'was the optimizer or paramwise_cfg changed? Use --load-from instead.') from e
        if self.scaler is not None and 'scaler' in ckpt:
            self.train_step.load_state_dict(ckpt['scaler'])
        hook_states = dict(ckpt.get('hooks', {}))
        keys = self.hook_state_keys()
        ema_key = next((k for k, h in keys if isinstance(h, EMAHook)), None)
        if 'state_dict_ema' in ckpt and ema_key is not None:
            hook_states[ema_key] = {'ema': ckpt['state_dict_ema']}
        for key, hook in keys:
            state = hook_states.get(key)
            if state is not None:
                hook.load_state_dict(state)
        meta = ckpt.get('meta', {})
        self.epoch, self.iter = int(meta.get('epoch', 0)), int(meta.get('iter', 0))
        # a checkpoint saved mid-epoch (on SIGINT/SIGTERM) records how far into the epoch it got
        self._resume_inner_iter = int(meta.get('inner_iter', 0))
        self._resume_rng = meta.get('rng')
        if self._resume_rng is not None and not self._resume_inner_iter:
            set_rng_state(self._resume_rng)
        where = f', {self._resume_inner_iter} iterations into epoch {self.epoch + 1}' if self._resume_inner_iter else ''
        self.logger.info(f'resumed from {path} at epoch {self.epoch}, iter {self.iter}{where}')

    # -- the loop -----------------------------------------------------------------------
    def run(self, train_loader) -> None:
        self.train_loader = train_loader
        self.iters_per_epoch = len(train_loader)
        if self.iters_per_epoch == 0:
            raise ImgclsError('the training loader yields no batches: the dataset is smaller than one batch '
                              'with drop_last, or empty; lower data.samples_per_gpu')
        self.call_hook('before_run')
        previous = self._install_signal_handlers()
        try:
            while not self._finished():
                self.train_epoch(train_loader)
        finally:
            self._restore_signal_handlers(previous)
            self.call_hook('after_run')

    def _install_signal_handlers(self) -> dict:
        """On SIGINT/SIGTERM finish the current iteration, save a resumable checkpoint, then stop."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}

        def request_stop(signum, frame):
            if self._stop_requested is not None:  # a second signal: stop now
                raise KeyboardInterrupt
            self._stop_requested = signal.Signals(signum).name

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, request_stop)
        return previous

    @staticmethod
    def _restore_signal_handlers(previous: dict) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def _stop_now(self) -> None:
        """Save ``latest.pth`` at the current position (mid-epoch) and raise TrainingInterrupted."""
        path = self.work_dir / f'interrupted_iter_{self.iter}.pth'
        if is_main_process():
            ckpt = self.checkpoint_dict(self.epoch, self.iter)
            ckpt['meta']['inner_iter'] = self.inner_iter + 1
            save_checkpoint(path, ckpt)
            link_latest(path, self.work_dir / 'latest.pth')
        message = (f'{self._stop_requested} received: stopped after iteration {self.iter} (epoch {self.epoch + 1}) '
                   f'and saved a resumable checkpoint to {path}; continue with `imgcls train ... --resume`.')
        self.logger.warning(message, extra=FILE_ONLY)  # the CLI prints it; train.log keeps it too
        raise TrainingInterrupted(message)

    def _finished(self) -> bool:
        return self.epoch >= self.max_epochs if self.by_epoch else self.iter >= self.max_iters

    def train_epoch(self, loader) -> None:
        self.model.train()
        sampler = getattr(loader, 'sampler', None)
        if hasattr(sampler, 'set_epoch'):
            sampler.set_epoch(self.epoch)
        batch_sampler = getattr(loader, 'batch_sampler', None)
        if hasattr(getattr(batch_sampler, 'sampler', None), 'set_epoch'):
            batch_sampler.sampler.set_epoch(self.epoch)
        if isinstance(loader.dataset, IterableDataset) and hasattr(loader.dataset, 'set_epoch'):
            sampler = loader.dataset  # a streaming dataset orders its samples itself
            sampler.set_epoch(self.epoch)
        self.call_hook('before_train_epoch')
        skip, self._resume_inner_iter = self._resume_inner_iter, 0
        if skip and hasattr(sampler, 'set_start') and loader.batch_size:
            # resuming mid-epoch: the order is fixed by (seed, epoch), so start after what was done
            sampler.set_start(skip * loader.batch_size)
            batches = iter(loader)
        else:
            batches = iter(loader)
            for _ in range(skip):  # a sampler of the user's: load and drop the batches already done
                next(batches)
        if skip and self._resume_rng is not None:
            set_rng_state(self._resume_rng)
        window_start = time.perf_counter()
        data_time, samples = 0.0, 0
        fetch_start = time.perf_counter()
        for i, data in enumerate(batches, start=skip):
            data_time += time.perf_counter() - fetch_start
            self.inner_iter = i
            self.data_batch = data
            self.call_hook('before_train_iter')
            left = self.iters_per_epoch - i  # iterations left in this epoch (or run), this one included
            if not self.by_epoch:
                left = min(left, self.max_iters - self.iter)
            apply, divisor = accumulation_group(i, left, self.train_step.cumulative_iters)
            self.outputs = self.train_step(data, apply=apply, divisor=divisor)
            self.log_buffer.update(self.outputs['log_vars'], self.outputs['num_samples'])
            self._window_losses.append(self.outputs['loss'].detach())
            samples += self.outputs['num_samples']
            self.call_hook('after_train_iter')
            if (i + 1) % self.log_interval == 0 or i + 1 == self.iters_per_epoch:
                self._log_window(window_start, data_time, samples)
                window_start, data_time, samples = time.perf_counter(), 0.0, 0
            self.iter += 1
            if self._stop_requested is not None and apply:  # mid-accumulation: finish the group first
                self._stop_now()
            if not self.by_epoch and self.iter >= self.max_iters:
                break
            fetch_start = time.perf_counter()
        self._report_bad_images(loader)
        self.call_hook('after_train_epoch')
        self.epoch += 1

    def _report_bad_images(self, loader) -> None:
        """With ``skip_bad_images=True`` unreadable images are skipped; say which, once each."""
        bad = list(getattr(loader.dataset, 'bad_images', None) or [])
        reported = getattr(self, '_bad_reported', 0)
        if len(bad) > reported:
            new = bad[reported:]
            self.logger.warning(f'skipped {len(new)} unreadable image(s) this epoch ({len(bad)} so far): '
                                + ', '.join(map(str, new[:20])) + (' ...' if len(new) > 20 else ''))
            self.log_record({'mode': 'data', 'epoch': self.epoch + 1, 'skipped_images': [str(b) for b in new]})
            self._bad_reported = len(bad)

    @property
    def log_interval(self) -> int:
        intervals = [h.interval for h in self.hooks if isinstance(h, LoggerHook)]
        return max(1, min(intervals)) if intervals else 50

    def _log_window(self, window_start: float, data_time: float, samples: int) -> None:
        """Copy the window's averages to the host (the sync point), check for divergence, log."""
        losses = torch.stack(self._window_losses).float().cpu()  # sync point, once per log interval
        # timed after the sync: on a GPU the host runs ahead, and the wait belongs to this window's steps
        elapsed = time.perf_counter() - window_start
        first_iter = self.iter + 1 - len(self._window_losses)
        self._window_losses.clear()
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            at = first_iter + int(bad[0])
            message = (f'the loss became {losses[bad[0]].item()} at iteration {at} (epoch {self.epoch + 1}); '
                       f'training stopped. The last good checkpoint in {self.work_dir} is kept. Lower the learning '
                       'rate (optimizer.lr), add optimizer_config.grad_clip=dict(max_norm=...), or check the data.')
            self.logger.error(message, extra=FILE_ONLY)
            raise TrainingDiverged(message)
        record = {'mode': 'train', 'epoch': self.epoch + 1, 'iter': self.iter + 1, 'lr': self.current_lr()}
        record.update(self.log_buffer.average())
        self.log_buffer.clear()
        iters = max(len(losses), 1)
        record['time'] = elapsed / iters
        record['data_time'] = data_time / iters
        record['img_per_s'] = samples * get_world_size() / max(elapsed, 1e-9)
        record['data_share'] = data_time / max(elapsed, 1e-9)
        record['eta_s'] = (self.max_iters - self.iter - 1) * record['time']
        if self.speed.device.type == 'cuda':
            record['memory_mb'] = torch.cuda.max_memory_allocated() / 2 ** 20
        self.log_record(record)


class IterBasedRunner(EpochBasedRunner):
    """Runs ``max_iters`` iterations, cycling the loader; checkpoints and evaluation count iterations."""

    by_epoch = False
