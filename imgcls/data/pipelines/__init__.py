"""Pipeline steps: loading, geometric transforms, formatting, and Compose."""

from .compose import Compose
from .formatting import Collect, ImageToTensor, ToTensor, to_chw_tensor, to_tensor
from .loading import ImageReadError, LoadImageFromFile, decode_image_bytes, read_image_file
from .normalize import Normalize
from .resize import CenterCrop, EfficientNetCenterCrop, Resize
from .transforms import EfficientNetRandomCrop, RandomCrop, RandomFlip, RandomResizedCrop

__all__ = [
    'Compose', 'LoadImageFromFile', 'decode_image_bytes', 'read_image_file', 'Resize', 'CenterCrop',
    'RandomCrop', 'RandomResizedCrop', 'EfficientNetCenterCrop', 'EfficientNetRandomCrop', 'RandomFlip',
    'Normalize', 'ImageToTensor', 'ToTensor', 'Collect', 'to_chw_tensor', 'to_tensor', 'ImageReadError',
]

# modules added to this folder later register themselves too
from ...discover import import_all_submodules  # noqa: E402

__all__ += import_all_submodules(__name__, globals())
