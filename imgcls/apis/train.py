"""``train_model``: everything ``imgcls train`` does, callable from Python."""

from __future__ import annotations

import contextlib
import copy
import logging
import os
from pathlib import Path

import torch

from ..data import build_dataloader, build_dataset
from ..engine import EpochBasedRunner, IterBasedRunner, build_optimizer, choose_speed_settings
from ..engine.checkpoint import get_state_dict, load_checkpoint, load_model_weights
from ..engine.dist import (
    get_rank,
    get_world_size,
    init_distributed,
    is_main_process,
    launched_by_torchrun,
    shutdown_distributed,
)
from ..engine.hooks import HOOKS, EvalHook, build_lr_updater
from ..engine.hooks.evaluation import format_evaluation
from ..engine.log import get_logger
from ..engine.precision import apply_channels_last_guard, configure_cudnn
from ..engine.seed import random_seed, set_random_seed
from ..engine.step import StepForward
from ..engine.threads import set_num_threads
from ..errors import ConfigError
from ..models.layers.pretrained import allow_unsafe_pretrained
from ..registry import build_from_cfg
from ..warn import reset_warnings, warn_once
from .model import build_model, prepare_config
from .schema import check_for_training, with_defaults


def default_work_dir(cfg) -> Path:
    name = Path(cfg.filename).stem if getattr(cfg, 'filename', None) else 'imgcls_run'
    return Path('work_dirs') / name


def resolve_device(device: str | None) -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:N``; None → CUDA when available."""
    if device is None:
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise ConfigError(f'--device {device!r} is not a device; use cpu, cuda or cuda:N') from e
    if dev.type == 'cuda' and not torch.cuda.is_available():
        raise ConfigError(f'--device {device} was asked for but this machine has no usable CUDA GPU; '
                          'use --device cpu')
    return dev


def find_latest_checkpoint(work_dir: Path) -> Path | None:
    latest = work_dir / 'latest.pth'
    if latest.is_file():
        return latest
    for prefix in ('epoch_', 'iter_'):  # names like epoch_final.pth (a user's copy) are not ours: skip them
        ckpts = [p for p in work_dir.glob(f'{prefix}*.pth') if p.stem[len(prefix):].isdigit()]
        if ckpts:
            return max(ckpts, key=lambda p: int(p.stem[len(prefix):]))
    return None


def _dataset_classes(dataset) -> list[str]:
    classes = getattr(dataset, 'CLASSES', None)
    return list(classes) if classes is not None else []


def _check_num_classes(cfg, classes: list[str], logger: logging.Logger | None = None) -> None:
    """Too few outputs for the dataset's classes is an error; more outputs than classes is said before training."""
    head = cfg['model'].get('head') or {}
    num = head.get('num_classes')
    if not classes or not isinstance(num, int) or num == len(classes):
        return
    names = f'{", ".join(classes[:5])}{"..." if len(classes) > 5 else ""}'
    if num < len(classes):
        raise ConfigError(f'model.head.num_classes={num} but the training dataset has {len(classes)} classes '
                          f'({names}); set --cfg-options model.head.num_classes={len(classes)}')
    (logger or logging.getLogger('imgcls')).warning(
        f'model.head.num_classes={num} but the training dataset has {len(classes)} classes ({names}): '
        f'{num - len(classes)} output{"s" if num - len(classes) > 1 else ""} will never be a label; set '
        f'model.head.num_classes={len(classes)} '
        'unless you mean to add classes later')


def build_loaders(cfg, distributed: bool, seed: int, logger: logging.Logger | None = None):
    """The train dataset and loader, and the val loader (None without ``data.val`` or evaluation)."""
    data_cfg = cfg['data']
    train_set = build_dataset(data_cfg['train'])
    classes = _dataset_classes(train_set)
    _check_num_classes(cfg, classes, logger)
    train_args = dict(data_cfg.get('train_dataloader', {}))
    workers = train_args.pop('workers_per_gpu', data_cfg.get('workers_per_gpu', 2))
    train_loader = build_dataloader(
        train_set, train_args.pop('samples_per_gpu', data_cfg['samples_per_gpu']), workers, dist=distributed,
        shuffle=True, seed=seed, drop_last=train_args.pop('drop_last', False),
        **with_start_method(cfg, train_args, workers))
    eval_cfg = dict(cfg.get('evaluation') or {})
    if 'val' not in data_cfg or eval_cfg.get('interval', 1) <= 0:
        return train_set, train_loader, None
    val_set = build_dataset(data_cfg['val'], default_args={'test_mode': True})
    val_args = dict(data_cfg.get('val_dataloader', {}))
    workers = val_args.pop('workers_per_gpu', data_cfg.get('workers_per_gpu', 2))
    val_loader = build_dataloader(
        val_set, val_args.pop('samples_per_gpu', data_cfg['samples_per_gpu']), workers, dist=distributed,
        shuffle=False, seed=seed, **with_start_method(cfg, val_args, workers))
    return train_set, train_loader, val_loader


def with_start_method(cfg, loader_args: dict, workers) -> dict:
    """``loader_args`` with mmcls's ``mp_start_method`` as the loader workers' ``multiprocessing_context``
    (where the loader has workers and its own settings do not choose one)."""
    import multiprocessing
    method = cfg.get('mp_start_method')
    if method is None:
        return loader_args
    if method not in multiprocessing.get_all_start_methods():
        raise ConfigError(f'mp_start_method={method!r} is not a start method of this platform; use one of '
                          f'{", ".join(multiprocessing.get_all_start_methods())}')
    if isinstance(workers, int) and workers > 0:
        loader_args = {'multiprocessing_context': method, **loader_args}
    return loader_args


def register_hooks(runner, cfg, val_loader) -> None:
    """The hooks the config's runtime keys ask for, in mmcls 0.x order and priorities."""
    by_epoch = runner.by_epoch
    lr_hook = build_lr_updater(cfg.get('lr_config'))
    if lr_hook is not None:
        runner.register_hook(lr_hook)
    opt_hook_cfg = dict(cfg.get('optimizer_config') or {})
    opt_hook_cfg.setdefault('type', 'OptimizerHook')
    fp16 = cfg.get('fp16')
    if fp16 is not None:  # as mmcls's train_model: the fp16 settings go to the optimizer hook
        if not isinstance(fp16, dict):
            raise ConfigError(f'fp16 must be a dict such as dict(loss_scale=512.), got {fp16!r}')
        fp16 = dict(fp16)
        opt_hook_cfg['loss_scale'] = fp16.pop('loss_scale', opt_hook_cfg.get('loss_scale', 'dynamic'))
        for key in sorted(fp16):  # e.g. velocity_accum_type: mmcv's own fp16 optimizer internals
            warn_once(runner.logger, f'fp16.{key}', f'fp16.{key}={fp16[key]!r} is ignored: imgcls trains with '
                      'torch autocast and keeps fp32 master weights and optimizer state')
    runner.register_hook(build_from_cfg(opt_hook_cfg, HOOKS, path='optimizer_config'))
    ckpt_cfg = dict(cfg.get('checkpoint_config') or {})
    ckpt_cfg.setdefault('by_epoch', by_epoch)
    runner.register_hook(build_from_cfg(dict(type='CheckpointHook', **ckpt_cfg), HOOKS, path='checkpoint_config'))
    if val_loader is not None:
        eval_cfg = dict(cfg.get('evaluation') or {})
        eval_cfg.setdefault('by_epoch', by_epoch)
        runner.register_hook(EvalHook(val_loader, **eval_cfg))
    log_cfg = dict(cfg.get('log_config') or {})
    interval = log_cfg.get('interval', 10)
    hook_cfgs = list(log_cfg.get('hooks', [{'type': 'TextLoggerHook'}]))
    if not any(h.get('type') == 'JsonLoggerHook' for h in hook_cfgs):
        hook_cfgs.append({'type': 'JsonLoggerHook'})  # log.jsonl is part of the work-dir contract
    for i, hook_cfg in enumerate(hook_cfgs):
        runner.register_hook(build_from_cfg(hook_cfg, HOOKS, default_args={'interval': interval, 'by_epoch': by_epoch},
                                            path=f'log_config.hooks.{i}'))
    for i, hook_cfg in enumerate(cfg.get('custom_hooks') or []):
        hook_cfg = dict(hook_cfg)
        priority = hook_cfg.pop('priority', None)
        runner.register_hook(build_from_cfg(hook_cfg, HOOKS, path=f'custom_hooks.{i}'), priority)


def resolve_resume(resume, cfg, work_dir: Path) -> Path | None:
    """The checkpoint to resume from: ``--resume [CKPT]``, ``resume_from``, or a torchrun restart."""
    if resume is None:
        resume = cfg.get('resume_from')
    restarted = launched_by_torchrun() and int(os.environ.get('TORCHELASTIC_RESTART_COUNT', 0)) > 0
    if not resume and restarted:
        # torchrun --max-restarts restarted the workers after a failure: continue from the last checkpoint
        return find_latest_checkpoint(work_dir)
    if not resume:
        return None
    path = find_latest_checkpoint(work_dir) if resume is True else Path(resume)
    if path is None:
        # a job script that always passes --resume must work on its first run, or after a kill that came
        # before the first checkpoint: there is nothing to lose, so start from the beginning
        logging.getLogger('imgcls').warning(f'--resume: {work_dir} has no latest.pth or epoch_*.pth yet; '
                                            'starting from the beginning')
    return path


@contextlib.contextmanager
def _held_back_logs():
    """Keep what the ``imgcls`` logger is given inside the block in a list, to be handled later."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger, keep = logging.getLogger('imgcls'), Keep()
    handlers, propagate = logger.handlers[:], logger.propagate
    for h in handlers:
        logger.removeHandler(h)
    logger.addHandler(keep)
    logger.propagate = False

    def restore() -> None:
        logger.removeHandler(keep)
        for h in handlers:
            logger.addHandler(h)
        logger.propagate = propagate

    try:
        yield records
    except BaseException:  # the block failed: say what was held back now, then the error
        restore()
        for record in records:
            logger.handle(record)
        raise
    restore()


def train_model(cfg, work_dir: str | os.PathLike | None = None, resume: str | bool | None = None,
                load_from: str | None = None, seed: int | None = None, deterministic: bool = False,
                device: str | None = None, unsafe_load: bool = False) -> dict:
    """Train ``cfg`` and return the last evaluation's metrics.

    Args:
        resume: a checkpoint path, or True for ``latest.pth`` in the work dir.
        load_from: weights to start from (fine-tuning); overrides ``cfg.load_from``.
    """
    cfg = copy.deepcopy(cfg)
    reset_warnings()
    with _held_back_logs() as early:  # said before train.log exists: written there (and shown) once it does
        check_for_training(cfg)
        with_defaults(cfg)
        prepare_config(cfg)

    distributed = launched_by_torchrun()
    dev = resolve_device(device or cfg.get('device'))
    dist_notes: list[tuple[str, str]] = []
    if distributed:
        backend, dist_notes = dist_backend(cfg.get('dist_params'), dev.type)
        dev = init_distributed(dev.type, backend)
    work_dir = Path(work_dir or cfg.get('work_dir') or default_work_dir(cfg))
    if is_main_process():
        work_dir.mkdir(parents=True, exist_ok=True)
    logger = get_logger(work_dir / 'train.log' if is_main_process() else None)
    for record in early:
        logger.handle(record)
    for key, note in dist_notes:
        warn_once(logger, key, note)

    seed = next(s for s in (seed, cfg.get('seed'), random_seed()) if s is not None)
    set_random_seed(seed + get_rank(), deterministic or bool(cfg.get('deterministic', False)))
    configure_cudnn(dev, deterministic or bool(cfg.get('deterministic', False)), cfg.get('cudnn_benchmark'))
    cfg['seed'] = seed
    if is_main_process():
        cfg.dump(work_dir / 'config.py')

    # the model first (a misspelt type is reported at once), then the data (bad files and labels are
    # found before any training starts)
    speed = choose_speed_settings(dev, amp=cfg.get('amp', 'auto'), channels_last=cfg.get('channels_last', 'auto'),
                                  compile=cfg.get('compile', False), fp16=cfg.get('fp16'))
    with allow_unsafe_pretrained(unsafe_load):  # --unsafe-load covers init_cfg Pretrained files too
        model = build_model(cfg, device=dev)
    speed = apply_channels_last_guard(speed, model, cfg.get('channels_last', 'auto'))
    logger.info(f'speed settings: {speed.describe()}')
    apply_runtime_keys(cfg, logger, dev, distributed, deterministic or bool(cfg.get('deterministic', False)))
    train_set, train_loader, val_loader = build_loaders(cfg, distributed, seed, logger)
    classes = _dataset_classes(train_set)
    if dev.type == 'cpu':
        local_ranks = int(os.environ.get('LOCAL_WORLD_SIZE', get_world_size()))  # processes on this machine
        logger.info('threads: ' + set_num_threads(getattr(train_loader, 'num_workers', 0), local_ranks))

    if cfg.get('sync_bn') and distributed:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    speed.apply_memory_format(model)
    resume_path = resolve_resume(resume, cfg, work_dir)
    load_from = load_from or cfg.get('load_from')
    if load_from and resume_path is None:
        load_weights(model, load_from, unsafe_load, logger)
    optimizer = build_optimizer(model, dict(cfg['optimizer']))
    step_module = StepForward(model)
    if speed.compile:
        step_module = torch.compile(step_module)
    if distributed:  # compile before wrapping, as DDP's docs advise
        step_module = torch.nn.parallel.DistributedDataParallel(
            step_module, device_ids=[dev.index] if dev.type == 'cuda' else None)

    runner_cfg = dict(cfg.get('runner') or {'type': 'EpochBasedRunner', 'max_epochs': cfg['total_epochs']})
    runner_cls = runner_class(runner_cfg)
    meta = {'seed': int(seed), 'config': cfg.pretty_text, 'CLASSES': [str(c) for c in classes],
            'exp_name': work_dir.name}
    by_epoch = runner_cfg.get('type', 'EpochBasedRunner') == 'EpochBasedRunner'  # its length only (schema.py)
    runner = runner_cls(model, optimizer, work_dir, speed, logger=logger,
                        max_epochs=runner_cfg.get('max_epochs') if by_epoch else None,
                        max_iters=None if by_epoch else runner_cfg.get('max_iters'), meta=meta,
                        step_module=step_module)
    register_hooks(runner, cfg, val_loader)
    if resume_path is not None:
        runner.resume(resume_path, unsafe=unsafe_load)

    logger.info(f'training {cfg.filename or "config"} on {len(train_set)} images, {len(classes)} classes, '
                f'work dir {work_dir}')
    runner.run(train_loader)
    if runner.last_eval:
        logger.info('final ' + format_evaluation(runner.last_eval, f'the end ({runner.epoch} epochs, '
                                                                   f'{runner.iter} iterations)'))
    if distributed:
        shutdown_distributed()
    return dict(runner.last_eval)


def dist_backend(dist_params, device_type: str) -> tuple[str | None, list[tuple[str, str]]]:
    """The process-group backend ``dist_params`` asks for under torchrun (None: NCCL on CUDA, gloo on CPU), and
    ``(key, message)`` for each of its settings that cannot be honoured.

    Without torchrun there is no process group, and ``dist_params`` has no use (as in mmcls)."""
    if dist_params is None:
        return None, []
    if not isinstance(dist_params, dict):
        raise ConfigError(f"dist_params must be a dict such as dict(backend='nccl'), got {dist_params!r}")
    params = dict(dist_params)
    backend = params.pop('backend', None)
    notes = [(f'dist_params.{key}', f'dist_params.{key}={value!r} is not used: torchrun sets the rendezvous '
                                    '(--master-addr / --master-port, or --rdzv-endpoint)')
             for key, value in sorted(params.items())]
    if backend is not None and not isinstance(backend, str):
        raise ConfigError(f"dist_params.backend must be a name such as 'nccl' or 'gloo', got {backend!r}")
    if backend == 'nccl' and device_type != 'cuda':
        notes.append(('dist_params.backend', "dist_params.backend='nccl' needs CUDA devices: this "
                                             f'{device_type} run uses gloo'))
        backend = None
    return backend, notes


def runner_class(runner_cfg: dict):
    """``runner=dict(type='EpochBasedRunner', max_epochs=N)`` or ``dict(type='IterBasedRunner', max_iters=N)``."""
    kinds = {'EpochBasedRunner': (EpochBasedRunner, 'max_epochs'), 'IterBasedRunner': (IterBasedRunner, 'max_iters')}
    kind = runner_cfg.get('type', 'EpochBasedRunner')
    if kind not in kinds:
        raise ConfigError(f'runner.type={kind!r} is not a runner; use EpochBasedRunner or IterBasedRunner')
    cls, length = kinds[kind]
    value = runner_cfg.get(length)
    if not isinstance(value, int) or value < 1:
        raise ConfigError(f'runner: {kind} needs {length} as a positive int, got {value!r}')
    return cls


def load_weights(model: torch.nn.Module, path: str, unsafe: bool, logger: logging.Logger) -> dict:
    """``--load-from``: load what fits. ``load_model_weights`` logs (to train.log too) one line naming the weights
    that were missing, of another shape or unused, and why."""
    report = load_model_weights(model, get_state_dict(load_checkpoint(path, unsafe=unsafe)), strict=False,
                                source=str(path))
    logger.info(f'loaded weights from {path}')
    return report


def apply_runtime_keys(cfg, logger: logging.Logger, dev: torch.device, distributed: bool,
                       deterministic: bool = False) -> None:
    """Honour mmcls's process-level runtime keys; say once for each that cannot be honoured here."""
    if cfg.get('log_level'):
        logger.setLevel(cfg['log_level'])
    benchmark = cfg.get('cudnn_benchmark')
    if benchmark is None:  # fixed-size batches: let cuDNN time its kernels once, unless asked to be deterministic
        benchmark = dev.type == 'cuda' and not deterministic
    torch.backends.cudnn.benchmark = bool(benchmark)
    if cfg.get('opencv_num_threads') is not None:
        try:
            import cv2  # optional dependency
            cv2.setNumThreads(int(cfg['opencv_num_threads']))
        except ImportError:
            pass  # imgcls decodes without OpenCV: nothing to limit
    ignored = {
        'momentum_config': 'momentum schedules are not implemented; the optimizer keeps its momentum',
        'gpu_ids': 'choose devices with --device, CUDA_VISIBLE_DEVICES or torchrun',
    }
    for key, why in ignored.items():
        if cfg.get(key):
            warn_once(logger, key, f'{key}={cfg[key]!r} is ignored: {why}')
    if any(tuple(w)[:1] != ('train',) for w in cfg.get('workflow') or []):
        warn_once(logger, 'workflow', f'workflow={cfg["workflow"]!r}: only the train phase runs; validation is '
                  'the evaluation key\'s (evaluation=dict(interval=...))')
    if cfg.get('sync_bn') and not distributed:
        warn_once(logger, 'sync_bn', 'sync_bn=True has no effect in a single process; it applies under torchrun')
