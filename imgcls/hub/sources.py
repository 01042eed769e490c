"""Where weights come from: one function that turns any weight reference into a checkpoint dict.

A reference is any of

* a local path (``.pth`` or ``.safetensors``),
* an ``https://`` (or ``http://``) URL, downloaded into torch's hub cache (:mod:`imgcls.hub.download`),
* ``torchvision://NAME`` (e.g. ``torchvision://resnet50``), torchvision's ImageNet weights, converted,
* ``timm/<hub id>`` (e.g. ``timm/resnet50.a1_in1k``), from the Hugging Face hub, safetensors, converted.

``get_model(pretrained=...)``, ``load_from=`` and ``init_cfg=dict(type='Pretrained', checkpoint=...)`` all read
through :func:`load_checkpoint`, so they accept the same forms.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import torch

from ..checkpoint_io import get_state_dict, read_checkpoint
from ..convert import convert_state_dict
from ..errors import CheckpointError
from .download import download_url, is_offline
from .torchvision_urls import TORCHVISION_URLS

__all__ = ['load_checkpoint', 'torchvision_url']

_LEGACY = ('open-mmlab://', 'mmcls://', 'modelzoo://', 'openmmlab://')
_TIMM = 'timm/'
# what a timm repository on the hub holds, best first: safetensors cannot carry code
_TIMM_FILES = ('model.safetensors', 'pytorch_model.bin')


def torchvision_url(name: str) -> str:
    """The download URL of ``torchvision://NAME``; an error listing near names when unknown."""
    if name in TORCHVISION_URLS:
        return TORCHVISION_URLS[name]
    near = difflib.get_close_matches(name, list(TORCHVISION_URLS), n=5, cutoff=0.5)
    hint = f' Did you mean {", ".join(near)}?' if near else ''
    raise CheckpointError(f'torchvision://{name}: no such torchvision weights among the families imgcls converts.'
                          f'{hint} imgcls.hub.torchvision_urls.TORCHVISION_URLS lists all {len(TORCHVISION_URLS)}.')


def _converted(ckpt: dict, library: str, source: str) -> dict:
    """An imgcls checkpoint dict from another library's state dict."""
    family, state = convert_state_dict(get_state_dict(ckpt), library)
    return {'state_dict': state, 'meta': {'source': source, 'converted_from': library, 'family': family}}


def _timm_file(repo_id: str) -> Path:
    """The weights file of a timm model on the Hugging Face hub (safetensors when it has one)."""
    try:
        import huggingface_hub  # optional dependency (imgcls[hub])
        from huggingface_hub import constants as hf_constants  # optional dependency
        from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError  # optional
    except ImportError as e:  # an optional extra: only timm/ references need it
        raise CheckpointError(f'{repo_id}: loading timm weights from the Hugging Face hub needs huggingface_hub: '
                              'pip install "imgcls[hub]" (or pip install huggingface_hub).') from e
    offline = is_offline() or hf_constants.HF_HUB_OFFLINE
    last: Exception | None = None
    for filename in _TIMM_FILES:
        try:
            return Path(huggingface_hub.hf_hub_download(repo_id, filename, local_files_only=is_offline()))
        except EntryNotFoundError as e:  # also LocalEntryNotFoundError: not in the cache, or no such file
            last = e
        except HfHubHTTPError as e:  # no such repository, a gated one, a server error
            raise CheckpointError(f'{repo_id}: the Hugging Face hub refused it ({str(e).splitlines()[0]}); timm\'s '
                                  'ids look like timm/resnet50.a1_in1k (see https://huggingface.co/timm).') from e
    if isinstance(last, LocalEntryNotFoundError):
        why = ('offline (IMGCLS_OFFLINE or HF_HUB_OFFLINE)' if offline
               else 'the Hugging Face hub could not be reached')
        raise CheckpointError(f'{repo_id}: {why} and not in the Hugging Face cache '
                              f'({hf_constants.HF_HUB_CACHE}); run once with network access, '
                              'or unset the offline variable.') from last
    raise CheckpointError(f'{repo_id} has none of {", ".join(_TIMM_FILES)} on the Hugging Face hub.') from last


def load_checkpoint(source: str | os.PathLike, map_location: str | torch.device = 'cpu',
                    unsafe: bool = False) -> dict:
    """The checkpoint dict named by ``source`` (see the module docstring for the forms), loaded safely."""
    text = os.fspath(source)
    if text.startswith(_LEGACY):
        raise CheckpointError(f'{text}: the mmcv model-zoo schemes are not supported; give the https:// URL of '
                              'the file, torchvision://NAME, timm/<hub id> or a local path.')
    if text.startswith('torchvision://'):
        path = download_url(torchvision_url(text[len('torchvision://'):]))
        return _converted(read_checkpoint(path, map_location), 'torchvision', text)
    if text.startswith(_TIMM) and not os.path.exists(text):
        return _converted(read_checkpoint(_timm_file(text), map_location), 'timm', text)
    if text.startswith(('http://', 'https://')):
        return read_checkpoint(download_url(text), map_location, unsafe=unsafe)
    return read_checkpoint(os.path.expanduser(text), map_location, unsafe=unsafe)
