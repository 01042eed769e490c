"""The config schema: known top-level keys, defaults for the runtime keys, early validation."""

from __future__ import annotations

import difflib

from ..errors import ConfigError
from ..warn import warn_once

KNOWN_KEYS = {
    # mmcls 0.x
    'model', 'data', 'evaluation', 'optimizer', 'optimizer_config', 'lr_config', 'momentum_config', 'runner',
    'total_epochs', 'checkpoint_config', 'log_config', 'log_level', 'custom_hooks', 'load_from',
    'resume_from', 'workflow', 'custom_imports', 'fp16', 'dist_params', 'work_dir', 'gpu_ids', 'seed',
    'deterministic', 'cudnn_benchmark', 'opencv_num_threads', 'mp_start_method', 'device', 'auto_scale_lr',
    'img_norm_cfg', 'dataset_type', 'data_root', 'train_pipeline', 'test_pipeline', 'val_pipeline',
    'default_scope', 'train_cfg', 'test_cfg',
    # imgcls additions
    'data_preprocessor', 'amp', 'channels_last', 'compile', 'sync_bn', 'fuse_conv_bn',
}

DEFAULTS = {
    'checkpoint_config': {'interval': 1},
    'log_config': {'interval': 10, 'hooks': [{'type': 'TextLoggerHook'}]},
    'evaluation': {'interval': 1, 'metric': 'accuracy'},
    'optimizer_config': {'grad_clip': None},
    'workflow': [('train', 1)],
    'custom_hooks': [],
    'load_from': None,
    'resume_from': None,
    'amp': 'auto',
    'channels_last': 'auto',
    'compile': False,
    'fuse_conv_bn': True,
}


def check_top_level_keys(cfg) -> None:
    """Report a top-level key that looks like a misspelt known key (``optimzer``)."""
    for key in cfg.keys():
        if key in KNOWN_KEYS or key.startswith('_'):
            continue
        close = difflib.get_close_matches(key, sorted(KNOWN_KEYS), n=1, cutoff=0.8)
        if close:
            raise ConfigError(f"unknown top-level config key '{key}' in {cfg.filename or 'the config'}: did "
                              f"you mean '{close[0]}'? (keys that are not imgcls settings, such as helper "
                              'variables, are fine when they do not look like one)')


def _require_dict(cfg, key: str) -> dict:
    value = cfg.get(key)
    if not isinstance(value, dict):
        raise ConfigError(f'the config key "{key}" must be a dict, got {type(value).__name__}: {value!r}')
    return value


def check_for_training(cfg) -> None:
    """Validate what ``imgcls train`` needs before anything is built."""
    check_top_level_keys(cfg)
    for key in ('model', 'data', 'optimizer'):
        if key not in cfg:
            raise ConfigError(f'the config {cfg.filename or ""} has no "{key}" key, which training needs; '
                              f'inherit one with _base_ (see configs/_base_/) or define it')
    data = _require_dict(cfg, 'data')
    if 'train' not in data:
        raise ConfigError('data.train is missing: add the training dataset config (see configs/_base_/datasets/)')
    spg = data.get('samples_per_gpu')
    if not isinstance(spg, int) or spg <= 0:
        raise ConfigError(f'data.samples_per_gpu must be a positive int (the batch size per process), got {spg!r}')
    wpg = data.get('workers_per_gpu', 2)
    if not isinstance(wpg, int) or wpg < 0:
        raise ConfigError(f'data.workers_per_gpu must be an int >= 0, got {wpg!r}')
    runner = cfg.get('runner')
    if runner is None and 'total_epochs' in cfg:
        return
    if not isinstance(runner, dict) or runner.get('type') not in ('EpochBasedRunner', 'IterBasedRunner'):
        raise ConfigError(f'runner must be dict(type="EpochBasedRunner", max_epochs=N) or '
                          f'dict(type="IterBasedRunner", max_iters=N), got {runner!r}')
    key = 'max_epochs' if runner['type'] == 'EpochBasedRunner' else 'max_iters'
    if not isinstance(runner.get(key), int) or runner[key] <= 0:
        raise ConfigError(f'runner.{key} must be a positive int, got {runner.get(key)!r}')
    other = 'max_iters' if key == 'max_epochs' else 'max_epochs'
    if runner.get(other) is not None:  # e.g. --cfg-options runner.type=IterBasedRunner runner.max_iters=N
        warn_once(None, f'runner.{other}', f'runner.{other}={runner[other]!r} is not used: an {runner["type"]} '
                                           f'runs for {key}={runner[key]}')
    ipu = sorted(set(runner) & {'ipu_model_cfg', 'options_cfg'})
    if ipu:  # mmcls's IPU configs: settings of Graphcore's runner, meaningless here
        warn_once(None, 'runner.ipu', f'runner keys {ipu} configure Graphcore IPUs, which imgcls does not run on: '
                                      'ignored')
    unknown = set(runner) - {'type', 'max_epochs', 'max_iters', *ipu}
    if unknown:
        raise ConfigError(f'runner has unknown keys {sorted(unknown)}; allowed: type, max_epochs / max_iters')


def with_defaults(cfg) -> None:
    """Fill the runtime keys a config may leave out (in place)."""
    for key, value in DEFAULTS.items():
        if key not in cfg:
            cfg[key] = value
