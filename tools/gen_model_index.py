"""Write imgcls/hub/model_index.json: the models MMClassification 0.25 published, as facts about each.

Usage: python tools/gen_model_index.py --mim PATH/mmcls/.mim [--out imgcls/hub/model_index.json]

``PATH/mmcls/.mim`` is the data folder of the unpacked ``mmcls==0.25.0`` wheel
(``pip download --no-deps mmcls==0.25.0`` and unzip it). The tool reads its ``model-index.yml`` and the
``configs/*/metafile.yml`` files that lists, and writes for each published model: its name, config path,
weights URL, the dataset and top-1/top-5 it was evaluated with, parameter count and FLOPs. Where imgcls's
config loader can read the model's config, the ``model`` part of it is stored too, so that ``get_model``
can build the model even where imgcls ships no copy of that config. Rerun it when the config loader
learns more of the mmcls config language: more entries then carry their model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing imgcls
    sys.path.insert(0, str(ROOT))

from imgcls import Config  # noqa: E402
from imgcls.apis.model import prepare_config  # noqa: E402
from imgcls.errors import ImgclsError  # noqa: E402
from imgcls.fileio import atomic_write_text  # noqa: E402

DEFAULT_OUT = ROOT / 'imgcls' / 'hub' / 'model_index.json'


def _plain(value):
    """Config values as plain dicts, lists and tuples (``repr`` of the result reads back with literal_eval)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value) if isinstance(value, tuple) else [_plain(v) for v in value]
    return value


def _model_of(mim: Path, config: str | None) -> str | None:
    """The ``model`` dict of ``config`` as Python literal text, or None where imgcls cannot load the config."""
    if not config or not (mim / config).is_file():
        return None
    try:
        cfg = Config.fromfile(str(mim / config))
    except (ImgclsError, SyntaxError, KeyError, AttributeError, TypeError, ValueError):
        return None
    try:  # the pipeline's Normalize becomes model.data_preprocessor, as imgcls runs it
        prepare_config(cfg)
    except ImgclsError:  # e.g. train and test pipelines normalising differently: keep the model as written
        pass
    model = cfg.get('model')
    if not isinstance(model, dict):
        return None
    return repr(_plain(model.to_dict() if hasattr(model, 'to_dict') else dict(model)))


def _metric(results: list, key: str) -> float | None:
    for result in results:
        value = (result.get('Metrics') or {}).get(key)
        if value is not None:
            return float(value)
    return None


def entry(mim: Path, model: dict) -> dict:
    """One index entry from a metafile's ``Models`` item."""
    meta = model.get('Metadata') or {}
    results = model.get('Results') or []
    config = model.get('Config')
    return {
        'name': model['Name'],
        'collection': model.get('In Collection'),
        'family': Path(config).parent.name if config else None,
        'config': config,
        'weights': model.get('Weights'),
        'dataset': results[0].get('Dataset') if results else None,
        'top1': _metric(results, 'Top 1 Accuracy'),
        'top5': _metric(results, 'Top 5 Accuracy'),
        'params': meta.get('Parameters'),
        'flops': meta.get('FLOPs'),
        'model': _model_of(mim, config),
    }


def build_index(mim: Path) -> list[dict]:
    """Every model of the wheel's model index, sorted by name."""
    index = yaml.safe_load((mim / 'model-index.yml').read_text(encoding='utf-8'))
    entries = []
    for metafile in index.get('Import', []):
        data = yaml.safe_load((mim / metafile).read_text(encoding='utf-8')) or {}
        entries += [entry(mim, m) for m in data.get('Models') or []]
    names = [e['name'] for e in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SystemExit(f'model names published twice: {duplicates}')
    return sorted(entries, key=lambda e: e['name'])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--mim', type=Path, required=True, help="the mmcls wheel's mmcls/.mim folder")
    parser.add_argument('--out', type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if not (args.mim / 'model-index.yml').is_file():
        parser.error(f'{args.mim} has no model-index.yml: give the mmcls/.mim folder of the unpacked wheel')
    entries = build_index(args.mim)
    text = json.dumps({'source': 'mmcls 0.25.0 model-index.yml', 'models': entries}, indent=1) + '\n'
    atomic_write_text(args.out, text)
    with_model = sum(e['model'] is not None for e in entries)
    print(f'wrote {len(entries)} models ({with_model} with their model config) to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
