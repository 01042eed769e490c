"""Metrics on hand-built predictions whose answers are worked out in the comments."""

import numpy as np
import pytest
import torch

from imgcls.errors import ConfigError, DataError
from imgcls.evaluation import (
    accuracy,
    average_performance,
    average_precision,
    confusion_matrix,
    evaluate_multilabel,
    evaluate_single_label,
    f1_score,
    mAP,
    precision,
    precision_recall_f1,
    recall,
    support,
)

# 5 images, 3 classes.         true  argmax  top-2      top score
SCORES = np.array([[0.70, 0.20, 0.10],  # 0     0 ok    {0, 1}     0.70
                   [0.10, 0.60, 0.30],  # 1     1 ok    {1, 2}     0.60
                   [0.25, 0.35, 0.40],  # 1     2 x     {2, 1} ok  0.40
                   [0.50, 0.40, 0.10],  # 1     0 x     {0, 1} ok  0.50
                   [0.20, 0.10, 0.70]])  # 2    2 ok    {2, 0}     0.70
LABELS = np.array([0, 1, 1, 1, 2])
# confusion (rows true, columns predicted): [[1, 0, 0], [1, 1, 1], [0, 0, 1]]
# per class: true positives [1, 1, 1], predicted [2, 1, 2], actual [1, 3, 1]
# precision [50, 100, 50]; recall [100, 33.33, 100]; F1 [66.67, 50, 66.67]


def test_accuracy_topk():
    assert accuracy(SCORES, LABELS) == pytest.approx(60.0)  # 3 of 5
    assert accuracy(SCORES, LABELS, topk=(1, 2)) == pytest.approx([60.0, 100.0])
    assert accuracy(SCORES, LABELS, topk=(1, 5)) == pytest.approx([60.0, 100.0])  # k > classes: all classes
    # thr 0.55 keeps rows 0, 1, 4 (top-1 all right); in top-2, rows 2 and 3 have the label under 0.55
    top1, top2 = accuracy(SCORES, LABELS, topk=(1, 2), thrs=(0.0, 0.55))
    assert top1 == pytest.approx([60.0, 60.0]) and top2 == pytest.approx([100.0, 60.0])
    assert accuracy(torch.tensor(SCORES), torch.tensor(LABELS), topk=2, thrs=0.55) == pytest.approx(60.0)
    assert accuracy(list(SCORES), LABELS) == pytest.approx(60.0)  # a list of per-image vectors


def test_tied_scores_rank_the_lower_class_first_everywhere():
    """bf16 logits tie often: the metric, the loss-side accuracy, inference and --out must agree."""
    from imgcls.apis.inference import _result
    from imgcls.apis.predictions import prediction_rows
    from imgcls.models.losses.accuracy import accuracy as head_accuracy

    # softmax scores rounded to bf16 over 10 classes: some images have two classes tied at the top, and
    # torch.topk (k=1 and k=5 alike) does not always put the lower index first among them
    gen = torch.Generator().manual_seed(0)
    scores = (torch.randn(2000, 10, generator=gen) * 3).bfloat16().float().softmax(1).bfloat16().float()
    labels = scores.argmax(1)
    assert accuracy(scores, labels, topk=(1, 5))[0] == pytest.approx(100.0)
    assert float(head_accuracy(scores, labels, topk=(1, 5))[0]) == pytest.approx(100.0)
    assert all(_result(s, 5, None)['pred_label'] == int(s.argmax()) for s in scores)

    class Data:
        CLASSES = [str(i) for i in range(10)]

        def get_gt_labels(self):
            return labels.numpy()
    rows = prediction_rows(Data(), scores.numpy())
    assert all(r['pred_label'] == r['label'] for r in rows)


def test_precision_recall_f1_macro_micro_none():
    p, r, f = precision_recall_f1(SCORES, LABELS, average_mode='none')
    assert p == pytest.approx([50.0, 100.0, 50.0])
    assert r == pytest.approx([100.0, 100 / 3, 100.0])
    assert f == pytest.approx([200 / 3, 50.0, 200 / 3])  # 2PR/(P+R): 2*50*100/150, 2*100*33.3/133.3
    assert precision(SCORES, LABELS) == pytest.approx(200 / 3)  # mean of [50, 100, 50]
    assert recall(SCORES, LABELS) == pytest.approx(700 / 9)  # mean of [100, 33.3, 100]
    assert f1_score(SCORES, LABELS) == pytest.approx(550 / 9)  # mean of [66.7, 50, 66.7]
    # micro: 3 true positives of 5 predictions and of 5 labels
    assert precision_recall_f1(SCORES, LABELS, average_mode='micro') == pytest.approx((60.0, 60.0, 60.0))


def test_precision_with_thresholds():
    # thr 0.55 drops the predictions of rows 2 and 3: predicted per class [1, 1, 1], all right
    p, r, _ = precision_recall_f1(SCORES, LABELS, average_mode='none', thrs=0.55)
    assert p == pytest.approx([100.0, 100.0, 100.0])
    assert r == pytest.approx([100.0, 100 / 3, 100.0])
    ps, rs, _ = precision_recall_f1(SCORES, LABELS, thrs=(0.0, 0.55))
    assert ps == pytest.approx([200 / 3, 100.0])
    assert rs == pytest.approx([700 / 9, 700 / 9])


def test_class_never_predicted_nor_present():
    # class 2 has no image and no prediction: precision/recall 0 (mmcls), counted in the macro mean
    scores = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]])
    p, r, f = precision_recall_f1(scores, [0, 1], average_mode='none')
    assert p == [100.0, 100.0, 0.0] and r == [100.0, 100.0, 0.0] and f == [100.0, 100.0, 0.0]
    assert precision(scores, [0, 1]) == pytest.approx(200 / 3)


def test_support_and_confusion_matrix():
    assert support(SCORES, LABELS, average_mode='none') == [1, 3, 1]
    assert support(SCORES, LABELS) == 5.0
    cm = confusion_matrix(SCORES, LABELS)
    assert cm.tolist() == [[1, 0, 0], [1, 1, 1], [0, 0, 1]]
    # from predicted labels
    assert confusion_matrix(np.array([0, 2, 2]), np.array([0, 1, 2]), num_classes=4).tolist() == [
        [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]


def test_evaluate_single_label_keys_as_mmcls():
    out = evaluate_single_label(SCORES, LABELS, ['accuracy', 'precision', 'recall', 'f1_score', 'support'],
                                {'topk': (1, 2)})
    assert out == pytest.approx({'accuracy_top-1': 60.0, 'accuracy_top-2': 100.0, 'support': 5.0,
                                 'precision': 200 / 3, 'recall': 700 / 9, 'f1_score': 550 / 9})
    assert evaluate_single_label(SCORES, LABELS, 'accuracy', {'topk': 1}) == pytest.approx({'accuracy': 60.0})
    out = evaluate_single_label(SCORES, LABELS, ['accuracy', 'precision'], {'topk': 1, 'thrs': (0.0, 0.55)})
    assert out == pytest.approx({'accuracy_thr_0.00': 60.0, 'accuracy_thr_0.55': 60.0,
                                 'precision_thr_0.00': 200 / 3, 'precision_thr_0.55': 100.0})
    out = evaluate_single_label(SCORES, LABELS, ['recall', 'support'], {'average_mode': None})  # 'none' on CLI
    assert out['support'] == [1, 3, 1] and out['recall'] == pytest.approx([100.0, 100 / 3, 100.0])


def test_evaluate_errors_name_the_fix():
    with pytest.raises(ConfigError, match=r"did you mean 'precision'.*accuracy.*f1_score"):
        evaluate_single_label(SCORES, LABELS, 'precison')
    with pytest.raises(ConfigError, match='mAP.*not supported for single-label'):
        evaluate_single_label(SCORES, LABELS, ['accuracy', 'mAP'])
    with pytest.raises(ConfigError, match="unknown metric_options key.*'topK'"):
        evaluate_single_label(SCORES, LABELS, 'accuracy', {'topK': 1})
    with pytest.raises(ConfigError, match="average_mode='weighted'.*macro"):
        evaluate_single_label(SCORES, LABELS, 'precision', {'average_mode': 'weighted'})
    with pytest.raises(DataError, match='4 results for 5 images'):
        evaluate_single_label(SCORES[:4], LABELS)
    with pytest.raises(DataError, match='label 3 of image 1 is outside 0..2'):
        evaluate_single_label(SCORES[:2], [0, 3])


def test_dataset_evaluate_delegates(tmp_path):
    from imgcls.data import Digits
    ds = Digits(split='val')
    labels = ds.get_gt_labels()
    perfect = np.eye(10)[labels]
    out = ds.evaluate(perfect, metric=['accuracy', 'f1_score'], metric_options={'topk': (1,)})
    assert out == pytest.approx({'accuracy_top-1': 100.0, 'f1_score': 100.0})
    out = ds.evaluate(perfect[:3], metric='support', metric_options={'average_mode': 'none'}, indices=[0, 1, 2])
    assert sum(out['support']) == 3


# -- multi-label -------------------------------------------------------------------------------------------

ML_SCORES = np.array([[0.90, 0.50, 0.50],
                      [0.20, 0.80, 0.30],
                      [0.60, 0.10, 0.10],
                      [0.95, 0.20, 0.70]])
ML_TARGET = np.array([[1, 0, -1],
                      [0, 1, 0],
                      [1, 1, 0],
                      [-1, 0, 0]])  # -1: difficult


def test_average_precision_ignores_difficult():
    ap = average_precision(ML_SCORES, ML_TARGET)
    # class 0, rows 0-2 (row 3 difficult): 0.9+, 0.6+, 0.2- -> AP 1. (Counted as a negative, row 3's 0.95
    #   would rank first and give (1/2 + 2/3) / 2.)
    # class 1: 0.8+, 0.5-, 0.2-, 0.1+ -> (1/1 + 2/4) / 2 = 0.75
    # class 2, rows 1-3: no positive -> 0 (as mmcls)
    assert ap == pytest.approx([1.0, 0.75, 0.0])
    assert mAP(ML_SCORES, ML_TARGET) == pytest.approx(175 / 3)


def test_average_precision_all_difficult_class_and_a_skipped_rank():
    # a class whose labels are all difficult scores AP 0 (as mmcls), and does not fail
    assert average_precision(np.array([[0.3], [0.7]]), np.array([[-1], [-1]])) == [0.0]
    # 0.9+, 0.8 difficult, 0.7-, 0.6+: the difficult one takes no rank -> (1/1 + 2/3) / 2
    ap = average_precision(np.array([[0.9], [0.8], [0.7], [0.6]]), np.array([[1], [-1], [0], [1]]))
    assert ap == pytest.approx([5 / 6])


def test_average_performance_thr_and_k():
    # thr 0.5 (>=) predicts rows [1,1,1], [0,1,0], [1,0,0], [1,0,1]; difficult labels count as negatives (mmcls):
    # class 0: tp 2 fp 1 (row 3) fn 0; class 1: tp 1 fp 1 fn 1; class 2: tp 0 fp 2 -> precision 0, recall 0
    cp, cr, cf1, op, o_r, of1 = average_performance(ML_SCORES, ML_TARGET, thr=0.5)
    assert (cp, cr) == pytest.approx((100 * (2 / 3 + 1 / 2) / 3, 50.0))
    assert cf1 == pytest.approx(2 * cp * cr / (cp + cr))
    assert (op, o_r, of1) == pytest.approx((300 / 7, 75.0, 2 * (300 / 7) * 75 / (300 / 7 + 75)))  # 3/7, 3/4
    assert average_performance(ML_SCORES, ML_TARGET) == pytest.approx((cp, cr, cf1, op, o_r, of1))  # thr 0.5
    # k=1 predicts class 0, 1, 0, 0: class 0 tp 2 fp 1 (row 3, difficult); class 1 tp 1 fn 1; class 2 nothing
    cp, cr, _, op, o_r, _ = average_performance(ML_SCORES, ML_TARGET, k=1)
    assert (cp, cr, op, o_r) == pytest.approx((500 / 9, 50.0, 75.0, 75.0))


def test_evaluate_multilabel():
    out = evaluate_multilabel(ML_SCORES, ML_TARGET, ['mAP', 'CP', 'OR'])
    assert out == pytest.approx({'mAP': 175 / 3, 'CP': 350 / 9, 'OR': 75.0})
    assert evaluate_multilabel(ML_SCORES, ML_TARGET, 'OP', {'k': 1}) == pytest.approx({'OP': 75.0})
    assert evaluate_multilabel(ML_SCORES, ML_TARGET, 'OP', {'thrs': 0.5}) == pytest.approx({'OP': 300 / 7})
    with pytest.raises(ConfigError, match='accuracy.*multi-label.*mAP'):
        evaluate_multilabel(ML_SCORES, ML_TARGET, 'accuracy')
    with pytest.raises(ConfigError, match='topk.*thr, k'):
        evaluate_multilabel(ML_SCORES, ML_TARGET, 'CP', {'topk': 1})
    with pytest.raises(DataError, match=r'image 0, class 1 is 2'):
        evaluate_multilabel(ML_SCORES, np.array([[1, 2, 0]] * 4), 'mAP')
    with pytest.raises(DataError, match='do not match'):
        evaluate_multilabel(ML_SCORES, ML_TARGET[:, :2], 'mAP')


# -- DDP: collect_scores puts the ranks' shares back in dataset order (all_gather simulated) -----------------

class _IndexDataset(torch.utils.data.Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {'img': torch.full((1, 1, 1), i, dtype=torch.uint8)}


class _EchoModel(torch.nn.Module):
    """Scores whose first column is the image's index."""

    def test_step(self, data):
        idx = data['img'].flatten(1).float()
        return torch.cat([idx, torch.zeros_like(idx)], dim=1)


def _rank_loaders(world=2, drop_last=False):
    from torch.utils.data import DataLoader, DistributedSampler

    from imgcls.data import collate
    data = _IndexDataset()
    return [DataLoader(data, batch_size=2, collate_fn=collate, drop_last=False,
                       sampler=DistributedSampler(data, world, r, shuffle=False, drop_last=drop_last))
            for r in range(world)]


def _fake_world(monkeypatch, loaders):
    """Pretend to be rank 0 of len(loaders) processes; all_gather returns what each rank's loader scores."""
    from imgcls.engine.hooks import evaluation
    local = [torch.cat([_EchoModel().test_step(b) for b in loader]) for loader in loaders]

    def all_gather(parts, tensor):
        for rank, part in enumerate(parts):
            part.copy_(local[rank] if tensor.ndim == 2 else torch.tensor([len(local[rank])]))

    monkeypatch.setattr(evaluation, 'is_distributed', lambda: True)
    monkeypatch.setattr(evaluation, 'get_world_size', lambda: len(loaders))
    monkeypatch.setattr(torch.distributed, 'all_gather', all_gather)
    return evaluation.collect_scores


def test_collect_scores_ddp_removes_padding(monkeypatch):
    # 5 images on 2 ranks: rank 0 scores 0, 2, 4 and rank 1 scores 1, 3 and 0 again (DistributedSampler's padding)
    loaders = _rank_loaders()
    collect = _fake_world(monkeypatch, loaders)
    assert collect(_EchoModel(), loaders[0], None, 5)[:, 0].tolist() == [0, 1, 2, 3, 4]
    # 3 ranks: 0, 3 | 1, 4 | 2, 0
    loaders = _rank_loaders(world=3)
    collect = _fake_world(monkeypatch, loaders)
    assert collect(_EchoModel(), loaders[0], None, 5)[:, 0].tolist() == [0, 1, 2, 3, 4]


def test_collect_scores_ddp_refuses_dropped_samples_and_keeps_unshared_loaders(monkeypatch):
    loaders = _rank_loaders(drop_last=True)  # 2 images each: image 4 is never scored
    collect = _fake_world(monkeypatch, loaders)
    with pytest.raises(DataError, match='scored 4 of 5 images.*drop_last'):
        collect(_EchoModel(), loaders[0], None, 5)
    # a loader that is not split between processes already has every image, in order
    whole = torch.utils.data.DataLoader(_IndexDataset(), batch_size=2, collate_fn=loaders[0].collate_fn)
    assert collect(_EchoModel(), whole, None, 5)[:, 0].tolist() == [0, 1, 2, 3, 4]


def test_topk_beyond_the_class_count_is_left_out_and_said_once(caplog):
    import logging

    from imgcls.engine.warn import reset_warnings
    reset_warnings()
    with caplog.at_level(logging.WARNING):
        out = evaluate_single_label(SCORES, LABELS, 'accuracy', {'topk': (1, 2, 5)})
        again = evaluate_single_label(SCORES, LABELS, 'accuracy', {'topk': (1, 2, 5)})
    assert out == again == pytest.approx({'accuracy_top-1': 60.0, 'accuracy_top-2': 100.0})
    assert [r.getMessage() for r in caplog.records] == [
        'evaluation: topk=(1, 2, 5) clipped to (1, 2): there are only 3 classes']


def test_head_training_accuracy_clips_topk_to_the_classes(caplog):
    import logging

    from imgcls.models.heads.cls_head import ClsHead
    head = ClsHead(topk=(1, 5), cal_acc=True)
    scores = torch.tensor([[2.0, 1.0], [0.0, 3.0]])
    with caplog.at_level(logging.WARNING):
        losses = head.loss(scores, torch.tensor([0, 0]))
        head.loss(scores, torch.tensor([0, 0]))
    assert set(losses['accuracy']) == {'top-1'} and losses['accuracy']['top-1'].item() == pytest.approx(50.0)
    assert [r.getMessage() for r in caplog.records] == [
        'ClsHead: topk=(1, 5) clipped to (1,): there are only 2 classes']
