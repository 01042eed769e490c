"""Evaluation metrics: single-label (accuracy, precision, recall, F1, support, confusion matrix) and
multi-label (mAP, CP, CR, CF1, OP, OR, OF1), in percent as in MMClassification 0.x."""

from .metrics import (
                      AVERAGE_MODES,
                      SINGLE_LABEL_METRICS,
                      accuracy,
                      as_score_matrix,
                      confusion_matrix,
                      evaluate_single_label,
                      f1_score,
                      precision,
                      precision_recall_f1,
                      recall,
                      support,
)
from .multilabel import MULTI_LABEL_METRICS, average_performance, average_precision, evaluate_multilabel, mAP

__all__ = [
    'AVERAGE_MODES', 'SINGLE_LABEL_METRICS', 'MULTI_LABEL_METRICS', 'as_score_matrix', 'accuracy',
    'confusion_matrix', 'precision_recall_f1', 'precision', 'recall', 'f1_score', 'support',
    'evaluate_single_label', 'average_precision', 'mAP', 'average_performance', 'evaluate_multilabel',
]
