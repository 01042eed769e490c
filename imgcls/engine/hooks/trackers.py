"""Experiment trackers as ``log_config.hooks``: TensorBoard, Weights & Biases, MLflow (each an optional extra).

Each receives the same records as ``log.jsonl`` (training windows and evaluations) and logs their numbers as
``<mode>/<key>`` (``train/loss``, ``val/accuracy_top-1``) at the record's iteration.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from ...errors import ConfigError
from ...warn import warn_once
from ..checkpoint import unwrap_model
from ..dist import is_main_process
from .hook import HOOKS, Hook
from .logger import LoggerHook


def import_tracker(module: str, hook: str, extra: str) -> ModuleType:
    """Import a tracker's library, or raise a ConfigError naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ConfigError(f'log_config.hooks has a {hook} but the {module.split(".")[0]} package is not '
                          f"installed: pip install 'imgcls[{extra}]' (or remove the hook)") from e


def scalars(record: dict) -> dict[str, float]:
    """The record's numbers as ``mode/key`` (counters and text left out)."""
    mode = record.get('mode', 'train')
    return {f'{mode}/{k}': float(v) for k, v in record.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ('epoch', 'iter')}


@HOOKS.register_module()
class TensorboardLoggerHook(LoggerHook):
    """Scalars to ``WORK_DIR/tensorboard`` (extra ``tensorboard``)."""

    def __init__(self, interval: int = 10, log_dir: str | None = None, **kwargs):
        super().__init__(interval, **kwargs)
        self.log_dir = log_dir
        self.writer = None

    def before_run(self, runner) -> None:
        if not is_main_process():
            return
        import_tracker('tensorboard', 'TensorboardLoggerHook', 'tensorboard')
        from torch.utils.tensorboard import SummaryWriter  # optional dependency (imgcls[tensorboard])
        self.writer = SummaryWriter(self.log_dir or str(Path(runner.work_dir) / 'tensorboard'))

    def write(self, runner, record: dict) -> None:
        if self.writer is None:
            return
        for key, value in scalars(record).items():
            self.writer.add_scalar(key, value, record.get('iter', 0))

    def after_run(self, runner) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


@HOOKS.register_module()
class WandbLoggerHook(LoggerHook):
    """Weights & Biases (extra ``wandb``): ``dict(type='WandbLoggerHook', init_kwargs=dict(project='p'))``.

    ``log_artifact``: at the end, upload the work dir's files ending in ``out_suffix`` as one artifact.
    ``define_metric_cfg``: ``{metric: summary}`` for ``wandb.define_metric`` (``{'val/accuracy_top-1': 'max'}``).
    """

    def __init__(self, init_kwargs: dict | None = None, interval: int = 10, commit: bool = True,
                 with_step: bool = True, log_artifact: bool = True,
                 out_suffix: str | tuple[str, ...] = ('.log.json', '.log', '.py', '.jsonl'),
                 define_metric_cfg: dict | None = None, **kwargs):
        super().__init__(interval, **kwargs)
        self.init_kwargs = dict(init_kwargs or {})
        # mmcv's summary settings, e.g. {'val/accuracy_top-1': 'max'}: wandb.define_metric(name, summary=...)
        if define_metric_cfg is not None and not isinstance(define_metric_cfg, dict):
            raise ConfigError(f"WandbLoggerHook define_metric_cfg must be a dict such as {{'val/accuracy_top-1': "
                              f"'max'}}, got {define_metric_cfg!r}")
        self.define_metric_cfg = dict(define_metric_cfg or {})
        self.commit, self.with_step, self.log_artifact = commit, with_step, log_artifact
        self.out_suffix = (out_suffix,) if isinstance(out_suffix, str) else tuple(out_suffix)
        self.wandb = None

    def before_run(self, runner) -> None:
        if not is_main_process():
            return
        self.wandb = import_tracker('wandb', 'WandbLoggerHook', 'wandb')
        self.init_kwargs.setdefault('dir', str(runner.work_dir))
        self.wandb.init(**self.init_kwargs)
        for metric, summary in self.define_metric_cfg.items():
            self.wandb.define_metric(metric, summary=summary)

    def write(self, runner, record: dict) -> None:
        if self.wandb is None:
            return
        values = scalars(record)
        if self.with_step:
            self.wandb.log(values, step=record.get('iter', 0), commit=self.commit)
        else:
            self.wandb.log(dict(values, iter=record.get('iter', 0)), commit=self.commit)

    def after_run(self, runner) -> None:
        if self.wandb is None:
            return
        if self.log_artifact:
            artifact = self.wandb.Artifact(name='artifacts', type='model')
            for path in sorted(Path(runner.work_dir).iterdir()):
                if path.is_file() and path.name.endswith(self.out_suffix):
                    artifact.add_file(str(path))
            self.wandb.log_artifact(artifact)
        self.wandb.finish()
        self.wandb = None


@HOOKS.register_module()
class MlflowLoggerHook(LoggerHook):
    """MLflow (extra ``mlflow``): ``dict(type='MlflowLoggerHook', exp_name='e', tags=..., params=...)``.

    ``log_model``: at the end, log the trained model with ``mlflow.pytorch.log_model``.
    """

    def __init__(self, exp_name: str | None = None, tags: dict | None = None, params: dict | None = None,
                 log_model: bool = True, interval: int = 10, **kwargs):
        super().__init__(interval, **kwargs)
        self.exp_name, self.tags, self.params, self.log_model = exp_name, tags, params, log_model
        self.mlflow = None

    def before_run(self, runner) -> None:
        if not is_main_process():
            return
        self.mlflow = import_tracker('mlflow', 'MlflowLoggerHook', 'mlflow')
        if self.exp_name is not None:
            self.mlflow.set_experiment(self.exp_name)
        self.mlflow.start_run()
        if self.tags:
            self.mlflow.set_tags(self.tags)
        if self.params:
            self.mlflow.log_params(self.params)

    def write(self, runner, record: dict) -> None:
        if self.mlflow is not None:
            self.mlflow.log_metrics(scalars(record), step=record.get('iter', 0))

    def after_run(self, runner) -> None:
        if self.mlflow is None:
            return
        if self.log_model:
            import_tracker('mlflow.pytorch', 'MlflowLoggerHook', 'mlflow').log_model(unwrap_model(runner.model),
                                                                                      'models')
        self.mlflow.end_run()
        self.mlflow = None



class UnsupportedLoggerHook(Hook):
    """Stands for an mmcv logger hook of a service imgcls has no client for: it logs nothing, and says so once.

    Not a :class:`LoggerHook`, so its ``interval`` does not change how often the other loggers write."""

    def __init__(self, **kwargs):
        name = type(self).__name__
        # interval / by_epoch come from log_config itself; anything else was written for this hook
        given = sorted(set(kwargs) - {'interval', 'by_epoch'})
        with_args = f' (with {", ".join(given)})' if given else ''
        warn_once(None, f'log_config.{name}', f'log_config.hooks: {name}{with_args} is not used: imgcls has no '
                  'client for that service (train.log and log.jsonl are written; TensorboardLoggerHook, '
                  'WandbLoggerHook and MlflowLoggerHook send the metrics to a tracker)')


# mmcv 1.x loggers of services imgcls does not talk to: a config naming one still trains, and says so once
for _name in ('PaviLoggerHook', 'NeptuneLoggerHook', 'DvcliveLoggerHook', 'ClearMLLoggerHook', 'SegmindLoggerHook'):
    HOOKS.register_module(module=type(_name, (UnsupportedLoggerHook,), {'__module__': __name__}))
