"""Runner hooks: lr schedules, optimizer step, checkpoints, evaluation, logging."""

from .checkpoint_hook import CheckpointHook
from .ema import EMAHook
from .evaluation import EvalHook, collect_scores
from .hook import HOOKS, PRIORITIES, Hook, get_priority
from .logger import JsonLoggerHook, LogBuffer, LoggerHook, TextLoggerHook
from .lr_updater import LrUpdaterHook, build_lr_updater
from .optimizer_hook import OptimizerHook
from .precise_bn import PreciseBNHook
from .stop_at_target import StopAtTargetHook
from .trackers import MlflowLoggerHook, TensorboardLoggerHook, WandbLoggerHook

__all__ = [
    'HOOKS', 'PRIORITIES', 'Hook', 'get_priority', 'CheckpointHook', 'EvalHook', 'collect_scores',
    'JsonLoggerHook', 'LogBuffer', 'LoggerHook', 'TensorboardLoggerHook', 'TextLoggerHook',
    'LrUpdaterHook', 'build_lr_updater', 'OptimizerHook', 'EMAHook', 'PreciseBNHook', 'StopAtTargetHook',
    'WandbLoggerHook', 'MlflowLoggerHook',
]
