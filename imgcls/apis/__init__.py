"""The Python API behind the ``imgcls`` commands."""

from .inference import inference_model, init_model
from .model import build_model, prepare_config
from .test import load_trained_model, test_model
from .train import train_model

__all__ = ['build_model', 'prepare_config', 'train_model', 'test_model', 'load_trained_model',
           'init_model', 'inference_model']
