"""The training engine: runners, hooks, optimizers, lr schedules, checkpoints."""

from .checkpoint import load_checkpoint, load_model_weights, save_checkpoint
from .hooks import HOOKS, Hook
from .lamb import Lamb
from .optimizer import OPTIMIZERS, build_optimizer
from .precision import SpeedSettings, choose_speed_settings
from .runner import EpochBasedRunner, IterBasedRunner, TrainingDiverged

__all__ = ['HOOKS', 'Hook', 'OPTIMIZERS', 'Lamb', 'build_optimizer', 'EpochBasedRunner', 'IterBasedRunner',
           'TrainingDiverged', 'SpeedSettings', 'choose_speed_settings', 'load_checkpoint',
           'load_model_weights', 'save_checkpoint']
