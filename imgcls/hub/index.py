"""The published models of MMClassification 0.25: names, configs, weights, accuracy, size.

The data is ``model_index.json`` beside this file, written by ``tools/gen_model_index.py`` from the
mmcls 0.25 wheel's model index. Whether imgcls can build an entry is decided when asked, from the
registries as they are then (families are being added), never from a frozen list.
"""

from __future__ import annotations

import ast
import difflib
import fnmatch
import functools
import json
from dataclasses import dataclass
from pathlib import Path

from ..config.shipped import configs_dir
from ..errors import ConfigError

__all__ = ['ModelInfo', 'list_models', 'model_info', 'shipped_config', 'waits_for']

_INDEX = Path(__file__).with_name('model_index.json')

# the installed-base work that adds what an entry lacks, by the mmcls config folder of the entry
_CONV_FAMILIES = {'repvgg', 'hrnet', 'densenet', 'res2net', 'resnest', 'cspnet', 'shufflenet_v1', 'lenet',
                  'convmixer', 'hornet', 'van', 'poolformer', 'efficientformer', 'repmlp'}
_TRANSFORMER_FAMILIES = {'deit', 't2t_vit', 'tnt', 'twins', 'mlp_mixer', 'conformer', 'mvit',
                         'swin_transformer_v2', 'csra'}
_HAVE_TRANSFORMERS = {'vision_transformer', 'swin_transformer', 'convnext'}  # their variants are part 3's
PART_1 = 'installed base, part 1 (the mmcls config language; issue 12)'
PART_2 = 'installed base, part 2 (the convolutional families; issue 13)'
PART_3 = 'installed base, part 3 (the transformer and MLP families; issue 14)'


@dataclass(frozen=True)
class ModelInfo:
    """One published model: what it is and how well it did, as mmcls 0.25 published it."""

    name: str
    collection: str | None
    family: str | None
    config: str | None  # e.g. 'configs/resnet/resnet50_8xb32_in1k.py', as in the mmcls repository
    weights: str | None
    dataset: str | None
    top1: float | None
    top5: float | None
    params: int | None
    flops: int | None
    model: str | None  # the config's ``model`` dict as Python literal text, where the generator could read it

    def model_cfg(self) -> dict | None:
        """The stored ``model`` dict (a fresh copy), or None."""
        return ast.literal_eval(self.model) if self.model else None


@functools.lru_cache(maxsize=1)
def _entries() -> dict[str, ModelInfo]:
    data = json.loads(_INDEX.read_text(encoding='utf-8'))
    return {e['name']: ModelInfo(**e) for e in data['models']}


def list_models(pattern: str | None = None) -> list[str]:
    """Published model names, sorted; ``pattern`` is a shell wildcard (``'resnet50*'``) or a substring."""
    names = sorted(_entries())
    if not pattern:
        return names
    if any(ch in pattern for ch in '*?['):
        return [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    return [n for n in names if pattern in n]


def model_info(name: str) -> ModelInfo:
    """The index entry of ``name``; a ConfigError naming near names when there is none."""
    entries = _entries()
    if name in entries:
        return entries[name]
    near = difflib.get_close_matches(name, list(entries), n=5, cutoff=0.6)
    hint = f' Did you mean {", ".join(near)}?' if near else ''
    raise ConfigError(f'{name!r} is not a published model name, a config file or a shipped config.{hint} '
                      '`imgcls list models [PATTERN]` lists the names.')


def shipped_config(relative: str) -> Path | None:
    """The imgcls copy of the config ``configs/<family>/<file>.py`` (or ``<name>`` / ``<name>.py``), if shipped."""
    rel = Path(relative)
    if rel.parts and rel.parts[0] == 'configs':
        rel = Path(*rel.parts[1:])
    root = configs_dir()
    if root is not None:
        if len(rel.parts) > 1 and (root / rel).is_file():
            return root / rel
        stem = rel.stem if rel.suffix == '.py' else rel.name
        found = sorted(p for p in root.rglob(f'{stem}.py') if '_base_' not in p.parts)
        if len(rel.parts) == 1 and found:
            return found[0]
    return None


def waits_for(family: str | None, missing: list[str]) -> str:
    """Which part of the installed-base work brings a model of ``family`` to imgcls.

    ``missing`` lists the types imgcls lacks; empty when the model's config could not be read at all.
    """
    if family in _CONV_FAMILIES:
        return PART_2
    if family in _TRANSFORMER_FAMILIES:
        return PART_3
    if not missing:
        return PART_1
    return PART_3 if family in _HAVE_TRANSFORMERS else PART_2
