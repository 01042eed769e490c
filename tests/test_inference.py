"""init_model / inference_model on a tiny trained digits model (the trained_digits fixture)."""

import numpy as np
import pytest
import torch
from PIL import Image

from imgcls.apis import inference_model, init_model
from imgcls.errors import DataError

# every test here uses the trained_digits fixture, which trains a model first
pytestmark = pytest.mark.slow

NAMES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine']


def _digits(n=12):
    from sklearn.datasets import load_digits
    d = load_digits()
    imgs = [np.round(d.images[i] * 255 / 16).astype(np.uint8) for i in range(n)]
    return imgs, d.target[:n]


@pytest.fixture(scope='module')
def model(trained_digits):
    config, ckpt, _ = trained_digits
    return init_model(str(config), str(ckpt), cfg_options={'amp': 'fp32'})  # fp32: exact comparisons


def test_init_model_sets_classes_and_cfg(model, trained_digits):
    assert model.CLASSES == NAMES  # from the checkpoint's meta
    assert model.cfg.model.head.num_classes == 10
    assert not model.training
    # no checkpoint: the names of the config's test dataset
    assert init_model(str(trained_digits[0])).CLASSES == NAMES


def test_each_input_kind_gives_the_same_prediction(model, tmp_path):
    imgs, _ = _digits(1)
    gray = imgs[0]  # (8, 8) uint8
    path = tmp_path / 'digit.png'
    Image.fromarray(gray).save(path)
    rgb = np.repeat(gray[:, :, None], 3, axis=2)  # the model is 1-channel: RGB becomes luma, the same gray
    inputs = [str(path), path, gray, gray[:, :, None], rgb, Image.fromarray(gray), Image.fromarray(rgb),
              torch.from_numpy(gray)[None], torch.from_numpy(rgb).permute(2, 0, 1)]
    results = [inference_model(model, x) for x in inputs]
    first = results[0]
    assert set(first) == {'pred_label', 'pred_score', 'pred_class'}
    assert isinstance(first['pred_label'], int) and isinstance(first['pred_score'], float)
    assert first['pred_class'] == NAMES[first['pred_label']]
    for r in results[1:]:
        assert r['pred_label'] == first['pred_label']
        assert r['pred_score'] == pytest.approx(first['pred_score'], abs=1e-5)


def test_batched_equals_single_and_topk(model):
    imgs, labels = _digits(12)
    singles = [inference_model(model, x, topk=3) for x in imgs]
    batched = inference_model(model, imgs, topk=3, batch_size=5)  # batches of 5, 5, 2
    assert isinstance(batched, list) and len(batched) == 12
    for s, b in zip(singles, batched):
        assert b['pred_label'] == s['pred_label']
        assert b['pred_score'] == pytest.approx(s['pred_score'], abs=1e-5)
        assert [t['pred_label'] for t in b['topk']] == [t['pred_label'] for t in s['topk']]
        scores = [t['pred_score'] for t in b['topk']]
        assert scores == sorted(scores, reverse=True) and b['topk'][0]['pred_label'] == b['pred_label']
        assert all(t['pred_class'] == NAMES[t['pred_label']] for t in b['topk'])
    assert np.mean([b['pred_label'] == y for b, y in zip(batched, labels)]) > 0.3  # it did learn something


def test_different_sizes_in_one_list(model):
    imgs, _ = _digits(2)
    big = np.asarray(Image.fromarray(imgs[1]).resize((40, 24)))
    out = inference_model(model, [imgs[0], big, imgs[0]])
    assert out[0] == out[2] and len(out) == 3


def test_tta_averages_with_the_flip(model):
    img, _ = _digits(1)
    img = img[0]
    plain = inference_model(model, img, topk=10)
    flipped = inference_model(model, np.ascontiguousarray(img[:, ::-1]), topk=10)
    tta = inference_model(model, img, topk=10, tta=True)
    by_label = lambda r: {t['pred_label']: t['pred_score'] for t in r['topk']}
    a, b, c = by_label(plain), by_label(flipped), by_label(tta)
    for k in range(10):
        assert c[k] == pytest.approx((a[k] + b[k]) / 2, abs=1e-5)


def test_channels_last_and_bf16_settings_are_used(trained_digits):
    config, ckpt, _ = trained_digits
    model = init_model(str(config), str(ckpt), cfg_options={'channels_last': True, 'amp': 'bf16'})
    assert model.speed_settings.channels_last and model.data_preprocessor.channels_last
    imgs, _ = _digits(4)
    out = inference_model(model, imgs)
    assert [r['pred_class'] in NAMES for r in out] == [True] * 4


def test_bad_inputs_name_the_input(model, tmp_path):
    imgs, _ = _digits(1)
    bad = tmp_path / 'bad.png'
    bad.write_bytes(b'not an image')
    with pytest.raises(DataError, match='bad.png'):
        inference_model(model, [imgs[0], str(bad)])
    with pytest.raises(DataError, match='missing.png'):
        inference_model(model, str(tmp_path / 'missing.png'))
    with pytest.raises(DataError, match=r'input 1 .*float32.*uint8'):
        inference_model(model, [imgs[0], imgs[0].astype(np.float32)])
    with pytest.raises(DataError, match=r'input 0 .*shape \(2, 8, 8, 3\)'):
        inference_model(model, np.zeros((2, 8, 8, 3), np.uint8))
    with pytest.raises(DataError, match=r'input 0 \(Tensor of shape \(8, 8, 3\)'):
        inference_model(model, torch.zeros(8, 8, 3, dtype=torch.uint8))  # HWC tensor: must be CHW
    with pytest.raises(DataError, match='input 0 .*not an image'):
        inference_model(model, 42)
    assert inference_model(model, []) == []


def test_the_pipeline_is_not_stored_on_the_model_and_follows_a_new_cfg(model):
    import copy

    from imgcls.apis.inference import _pipeline_for
    imgs, _ = _digits(1)
    before = set(vars(model))
    first = _pipeline_for(model)
    inference_model(model, imgs[0])
    assert set(vars(model)) == before  # nothing attached to the model
    assert _pipeline_for(model) is first  # built once per model
    old_cfg = model.cfg
    try:
        model.cfg = copy.deepcopy(old_cfg)
        assert _pipeline_for(model) is not first  # a replaced cfg gets its own pipeline
    finally:
        model.cfg = old_cfg


def test_on_error_reports_bad_inputs_and_predicts_the_rest(model, tmp_path):
    imgs, _ = _digits(2)
    bad = tmp_path / 'bad.png'
    bad.write_bytes(b'garbage')
    reported = []
    results = inference_model(model, [imgs[0], bad, imgs[1]], on_error=lambda i, e: reported.append((i, str(e))))
    assert [i for i, _ in reported] == [1] and str(bad) in reported[0][1]
    assert results[1] is None
    for got, img in ((results[0], imgs[0]), (results[2], imgs[1])):
        alone = inference_model(model, img)
        assert got['pred_label'] == alone['pred_label']
        assert got['pred_score'] == pytest.approx(alone['pred_score'], abs=1e-5)
    with pytest.raises(DataError, match='bad.png'):  # without on_error the first bad input raises
        inference_model(model, [imgs[0], bad])
