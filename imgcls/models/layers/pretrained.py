"""Load pretrained weights into a model part (``init_cfg=dict(type='Pretrained', checkpoint=...)``).

The checkpoint may be any reference :func:`imgcls.hub.sources.load_checkpoint` accepts: a local path, an
``https://`` URL, ``torchvision://NAME`` or ``timm/<hub id>``.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator

import torch
import torch.nn as nn

from ...checkpoint_io import get_state_dict
from ...errors import CheckpointError, ConfigError
from ...hub.sources import load_checkpoint

logger = logging.getLogger(__name__)


_ALLOW_UNSAFE: contextvars.ContextVar[bool] = contextvars.ContextVar('imgcls_allow_unsafe_pretrained',
                                                                     default=False)


@contextlib.contextmanager
def allow_unsafe_pretrained(allow: bool = True) -> Iterator[None]:
    """Let ``init_cfg`` Pretrained checkpoints read inside this block hold any pickle (``--unsafe-load``)."""
    token = _ALLOW_UNSAFE.set(bool(allow))
    try:
        yield
    finally:
        _ALLOW_UNSAFE.reset(token)


def read_state_dict(checkpoint: str, map_location: str | torch.device = 'cpu') -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint (``.pth``, with or without a ``state_dict`` key, or ``.safetensors``)."""
    try:  # the same safe loading (weights_only, checksums, clear errors) as every other checkpoint
        return get_state_dict(load_checkpoint(checkpoint, map_location, unsafe=_ALLOW_UNSAFE.get()))
    except CheckpointError as e:
        raise CheckpointError(f'pretrained weights (init_cfg checkpoint={checkpoint!r}): {e}') from e


def describe_partial_load(source: str, loaded: int, mismatched: dict[str, tuple], missing: list[str],
                          unexpected: list[str]) -> str | None:
    """One log line saying which weights of ``source`` were not loaded and why (None when all were).

    ``mismatched`` maps a key to its (checkpoint shape, model shape).
    """
    parts = []
    if mismatched:
        keys = ', '.join(f'{k} {a}->{b}' for k, (a, b) in mismatched.items())
        why = ('the classification head, num_classes differs from the checkpoint\'s'
               if all(k.startswith('head.') or '.head.' in k for k in mismatched) else 'the shapes differ')
        parts.append(f'skipped {len(mismatched)} with another shape ({why}; they keep their init): {keys}')
    if missing:
        parts.append(f'{len(missing)} model weights are not in the checkpoint (they keep their init): '
                     + ', '.join(missing[:8]) + (' ...' if len(missing) > 8 else ''))
    if unexpected:
        parts.append(f'{len(unexpected)} checkpoint weights have no place in the model (ignored): '
                     + ', '.join(unexpected[:8]) + (' ...' if len(unexpected) > 8 else ''))
    if not parts:
        return None
    return f'loaded {loaded} weights from {source}; ' + '; '.join(parts)


def _first_conv(model: nn.Module) -> tuple[str, nn.Module] | None:
    """The state-dict key of the weight of the first convolution registered in ``model``, and the conv."""
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            return (f'{name}.weight' if name else 'weight'), module
    return None


def adapt_input_conv_weights(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Fit the RGB filters of a checkpoint's first conv to a model whose first conv takes other channels.

    For a model taking C != 3 channels where the checkpoint's first conv takes 3: C = 1 sums the RGB
    filters (a gray image is R = G = B); C > 1 repeats them cyclically (RGBRGB...) over the C channels
    and scales them by 3 / C, so the response to a constant input keeps its size. Other keys, and a
    checkpoint that does not match that pattern, are returned as they are.

    Returns:
        ``state_dict`` with the adapted weight (a new dict when something changed).
    """
    found = _first_conv(model)
    if found is None:
        return state_dict
    key, conv = found
    weight = state_dict.get(key)
    target = conv.weight
    if (weight is None or weight.dim() != target.dim() or weight.dim() < 3 or weight.shape[1] != 3
            or conv.in_channels == 3 or conv.groups != 1 or weight.shape[0] != target.shape[0]
            or weight.shape[2:] != target.shape[2:]):
        return state_dict
    channels = conv.in_channels
    rgb = weight.float()
    if channels == 1:
        adapted = rgb.sum(dim=1, keepdim=True)
    else:
        repeats = -(-channels // 3)  # ceil
        adapted = rgb.repeat(1, repeats, *([1] * (rgb.dim() - 2)))[:, :channels] * (3 / channels)
    how = 'summed the RGB filters' if channels == 1 else f'repeated the RGB filters, scaled by 3/{channels}'
    logger.warning(f'adapted the pretrained {key} from 3 to {channels} input channels ({how})')
    return {**state_dict, key: adapted.to(weight.dtype)}


def apply_load_hooks(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Run the model's load-state-dict pre-hooks on a copy of ``state_dict``.

    Models resize some weights to fit while loading (ViT's position embedding for another image
    size, Swin's relative-position tables for another window): doing that first means such weights
    are loaded, not skipped as shape mismatches.
    """
    state = dict(state_dict)
    for name, module in model.named_modules():
        for hook in list(module._load_state_dict_pre_hooks.values()):
            hook(state, f'{name}.' if name else '', {}, False, [], [], [])
    return state


def load_pretrained(module: nn.Module, checkpoint: str | None, prefix: str | None = None,
                    map_location: str | torch.device = 'cpu') -> tuple[list[str], list[str]]:
    """Load ``checkpoint`` into ``module`` non-strictly, warning about keys that do not fit.

    Args:
        prefix: keep only the checkpoint keys under ``prefix.`` (e.g. ``'backbone'``), without it.
            When not given and the checkpoint is a whole classifier, ``backbone.`` is used if
            ``module``'s own keys do not start with it.

    Returns:
        ``(missing_keys, unexpected_keys)``.
    """
    if not isinstance(checkpoint, str) or not checkpoint:
        raise ConfigError(f"a pretrained init needs checkpoint='path/to/file.pth', got {checkpoint!r}")
    state = read_state_dict(checkpoint, map_location)
    own = module.state_dict()
    if prefix is None and any(k.startswith('backbone.') for k in state) \
            and not any(k.startswith('backbone.') for k in own):
        prefix = 'backbone'
    if prefix:
        head = prefix.rstrip('.') + '.'
        state = {k[len(head):]: v for k, v in state.items() if k.startswith(head)}
        if not state:
            raise CheckpointError(f'checkpoint {checkpoint!r} has no keys under prefix {prefix!r}.')
    state = adapt_input_conv_weights(state, module)
    state = apply_load_hooks(module, state)

    mismatched = {k: (tuple(v.shape), tuple(own[k].shape)) for k, v in state.items()
                  if k in own and own[k].shape != v.shape}
    for k in mismatched:
        del state[k]
    # buffers such as BN counters always fit; a file whose learned weights mostly do not is for another model
    params = {name for name, _ in module.named_parameters()}
    fit = sum(k in params for k in state)
    other = sum(k in params for k in mismatched)
    if fit == 0 or other > fit:
        shapes = f', {other} weights of the same name have other shapes' if other else ''
        raise CheckpointError(f'checkpoint {checkpoint!r} shares no weights with {type(module).__name__} '
                              f'({fit} of its {len(params)} learned weights fit{shapes}; checkpoint keys start '
                              f'{sorted(state or mismatched)[:3]}, model keys {list(own)[:3]}): is it for another '
                              'architecture or model size?')
    missing, unexpected = module.load_state_dict(state, strict=False)
    missing = [k for k in missing if k not in mismatched]
    line = describe_partial_load(f'{checkpoint!r} into {type(module).__name__}',
                                 len(state) - len(unexpected), mismatched, missing, list(unexpected))
    if line:
        logger.warning(line)
    return missing + list(mismatched), list(unexpected)
