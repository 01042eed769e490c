"""``test_model``: evaluate a checkpoint on the config's test split."""

from __future__ import annotations

import copy

import numpy as np

from ..data import build_dataloader, build_dataset
from ..data.datasets import BaseDataset, MultiLabelDataset
from ..engine import choose_speed_settings
from ..engine.checkpoint import get_state_dict, load_checkpoint, load_model_weights
from ..engine.hooks import collect_scores
from ..errors import ConfigError
from ..evaluation import evaluate_multilabel, evaluate_single_label
from .model import build_model, prepare_config, prepare_for_inference
from .train import resolve_device


def load_trained_model(cfg, checkpoint: str | None, device, unsafe_load: bool = False):
    """Build ``cfg.model`` and load ``checkpoint`` into it (strict: every weight must fit)."""
    model = build_model(cfg, device=device, init=checkpoint is None)
    meta = {}
    if checkpoint is not None:
        ckpt = load_checkpoint(checkpoint, unsafe=unsafe_load)
        load_model_weights(model, get_state_dict(ckpt), strict=True, source=str(checkpoint), skip_mismatched=False)
        meta = ckpt.get('meta', {}) if isinstance(ckpt.get('meta'), dict) else {}
    model.eval()
    model.CLASSES = meta.get('CLASSES')
    return model, meta


def _check_metrics_early(dataset, metric, options) -> None:
    """Evaluate made-up scores of a few images, so that a misspelt metric or option fails before the long
    forward pass (for datasets that use imgcls's single- or multi-label evaluation)."""
    method = getattr(type(dataset), 'evaluate', None)
    labels = np.asarray(dataset.get_gt_labels())[:64] if hasattr(dataset, 'get_gt_labels') else None
    if labels is None or len(labels) == 0:
        return
    if method is BaseDataset.evaluate and labels.ndim == 1:
        fake = np.eye(int(labels.max()) + 1, dtype=np.float32)[labels]
        check = evaluate_single_label
    elif method is MultiLabelDataset.evaluate and labels.ndim == 2:
        fake, check = np.clip(labels, 0, 1).astype(np.float32), evaluate_multilabel
    else:
        return
    try:
        check(fake, labels, metric, options)
    except ConfigError:
        raise
    except Exception:  # noqa: BLE001 - anything else is for the real evaluation to report
        return


def test_model(cfg, checkpoint: str | None, metrics=None, metric_options: dict | None = None,
               device: str | None = None, split: str = 'test', unsafe_load: bool = False,
               batch_size: int | None = None) -> tuple[dict, np.ndarray, object]:
    """Evaluate; returns ``(metrics, scores (N, C), dataset)``."""
    cfg = copy.deepcopy(cfg)
    prepare_config(cfg)
    data_cfg = cfg.get('data') or {}
    if split not in data_cfg:
        raise ConfigError(f'the config has no data.{split} dataset to evaluate on')
    dev = resolve_device(device)
    dataset = build_dataset(data_cfg[split], default_args={'test_mode': True})
    loader = build_dataloader(dataset, batch_size or data_cfg.get('samples_per_gpu', 32),
                              data_cfg.get('workers_per_gpu', 2), dist=False, shuffle=False)
    model, _ = load_trained_model(cfg, checkpoint, dev, unsafe_load)
    speed = choose_speed_settings(dev, amp=cfg.get('amp', 'auto'), channels_last=cfg.get('channels_last', 'auto'))
    prepare_for_inference(model, cfg, speed)
    eval_cfg = dict(cfg.get('evaluation') or {})
    metric = metrics or eval_cfg.get('metric', 'accuracy')
    options = metric_options if metric_options is not None else eval_cfg.get('metric_options')
    _check_metrics_early(dataset, metric, options)
    scores = collect_scores(model, loader, speed, len(dataset))
    results = dataset.evaluate(scores, metric=metric, metric_options=options)
    return results, scores, dataset

