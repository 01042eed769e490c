"""Writing per-image predictions (``imgcls test --out``) as JSON or CSV, atomically."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..fileio import atomic_write_text


def _label(value):
    """An int class index, a list (a multi-label vector of 1 / 0 / -1) or None."""
    if value is None:
        return None
    if np.ndim(value) == 0:
        return int(value)
    return [int(v) for v in np.asarray(value).ravel()]


def prediction_rows(dataset, scores: np.ndarray) -> list[dict]:
    """One dict per image: path, label, pred_label, pred_class, pred_score, scores."""
    classes = list(getattr(dataset, 'CLASSES', None) or [])
    labels = dataset.get_gt_labels() if hasattr(dataset, 'get_gt_labels') else [None] * len(scores)
    infos = getattr(dataset, 'data_infos', [{}] * len(scores))
    rows = []
    for i, s in enumerate(scores):
        info = infos[i] if i < len(infos) else {}
        name = (info.get('img_info') or {}).get('filename') or info.get('filename') or str(i)
        prefix = info.get('img_prefix')
        pred = int(np.argmax(s))
        rows.append({'path': str(Path(prefix) / name) if prefix else name, 'label': _label(labels[i]),
                     'pred_label': pred, 'pred_class': classes[pred] if pred < len(classes) else str(pred),
                     'pred_score': float(s[pred]), 'scores': [round(float(v), 6) for v in s]})
    return rows


def write_predictions(path: str, dataset, scores: np.ndarray) -> None:
    """Write :func:`prediction_rows` to a .json (a list of objects) or .csv file (scores space-separated)."""
    check_predictions_path(path)
    rows = prediction_rows(dataset, scores)
    suffix = Path(path).suffix.lower()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if suffix == '.json':
        atomic_write_text(path, json.dumps(rows, indent=1))
    elif suffix == '.csv':
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(['path', 'label', 'pred_label', 'pred_class', 'pred_score', 'scores'])
        for r in rows:
            label = ' '.join(str(v) for v in r['label']) if isinstance(r['label'], list) else r['label']
            writer.writerow([r['path'], label, r['pred_label'], r['pred_class'], f"{r['pred_score']:.6f}",
                             ' '.join(f'{v:.6f}' for v in r['scores'])])
        atomic_write_text(path, buf.getvalue())


def check_predictions_path(path: str) -> None:
    """Refuse an --out name that is neither .json nor .csv (before any work is done)."""
    if Path(path).suffix.lower() not in ('.json', '.csv'):
        raise ConfigError(f'--out {path}: use a .json or .csv file name')
