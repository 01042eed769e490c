"""``imgcls test`` (metrics table, --out, --show-dir) and ``imgcls infer`` on the trained_digits model."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from imgcls.cli.main import main

# every test here uses the trained_digits fixture, which trains a model first
pytestmark = pytest.mark.slow

NAMES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine']


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_test_prints_metrics_and_writes_predictions(trained_digits, tmp_path, capsys):
    config, ckpt, _ = trained_digits
    code, out, err = _run(capsys, 'test', config, ckpt, '--metrics', 'accuracy', 'precision', 'support',
                          '--out', tmp_path / 'preds.json', '--device', 'cpu')
    assert code == 0, err
    values = dict(line.split() for line in out.splitlines()[2:6])  # after the header and the rule
    assert set(values) == {'accuracy_top-1', 'accuracy_top-5', 'precision', 'support'}
    assert float(values['support']) == 360 and 30 < float(values['accuracy_top-1']) <= 100
    rows = json.loads((tmp_path / 'preds.json').read_text())
    assert len(rows) == 360
    row = rows[0]
    assert set(row) == {'path', 'label', 'pred_label', 'pred_class', 'pred_score', 'scores'}
    assert len(row['scores']) == 10 and sum(row['scores']) == pytest.approx(1.0, abs=3e-3)  # bf16 autocast
    assert row['pred_label'] == int(np.argmax(row['scores'])) and row['pred_class'] == NAMES[row['pred_label']]
    accuracy = 100 * np.mean([r['label'] == r['pred_label'] for r in rows])
    assert accuracy == pytest.approx(float(values['accuracy_top-1']), abs=0.01)


def test_test_per_class_table_csv_and_figures(trained_digits, tmp_path, capsys):
    config, ckpt, _ = trained_digits
    show = tmp_path / 'show'
    code, out, err = _run(capsys, 'test', config, ckpt, '--metrics', 'recall', 'support', '--metric-options',
                          'average_mode=none', '--out', tmp_path / 'p.csv', '--show-dir', show)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ['class', 'support', 'recall']  # mmcls's order of keys
    per_class = {line.split()[0]: line.split()[1:] for line in lines[2:12]}
    assert list(per_class) == NAMES and sum(int(v[0]) for v in per_class.values()) == 360
    with open(tmp_path / 'p.csv', newline='') as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 360 and rows[0]['pred_class'] in NAMES
    assert len(rows[0]['scores'].split()) == 10
    for name in ('confusion_matrix.png', 'hardest.png'):
        path = show / name
        assert path.stat().st_size > 10_000
        with Image.open(path) as img:
            img.load()
            assert img.width > 300 and img.height > 300
            colors = img.convert('RGB').getcolors(maxcolors=1 << 16)
            assert colors is None or len(colors) > 20  # a drawing, not a blank page


def test_test_rejects_bad_arguments_before_running(trained_digits, tmp_path, capsys):
    config, ckpt, _ = trained_digits
    code, _, err = _run(capsys, 'test', config, ckpt, '--metrics', 'acuracy')
    assert code == 1 and "did you mean 'accuracy'" in err
    code, _, err = _run(capsys, 'test', config, ckpt, '--out', tmp_path / 'preds.txt')
    assert code == 1 and '.json or .csv' in err


def test_infer_json_and_table(trained_digits, tmp_path, capsys):
    from sklearn.datasets import load_digits
    config, ckpt, _ = trained_digits
    digits = load_digits()
    (tmp_path / 'imgs' / 'sub').mkdir(parents=True)
    files = [tmp_path / 'imgs' / 'b.png', tmp_path / 'imgs' / 'sub' / 'a.png', tmp_path / 'imgs' / 'a.png']
    for i, f in enumerate(files):
        Image.fromarray(np.round(digits.images[i] * 255 / 16).astype(np.uint8)).save(f)
    (tmp_path / 'imgs' / 'notes.txt').write_text('not an image, and not picked up')
    code, out, err = _run(capsys, 'infer', config, ckpt, tmp_path / 'imgs', '--json', '--batch-size', '2')
    assert code == 0, err
    results = json.loads(out)
    assert [r['path'] for r in results] == sorted(str(f) for f in files)
    for r in results:
        assert set(r) == {'path', 'pred_label', 'pred_score', 'pred_class'}
        assert r['pred_class'] == NAMES[r['pred_label']] and 0 < r['pred_score'] <= 1
    code, out, err = _run(capsys, 'infer', config, ckpt, files[0], '--topk', '3', '--tta')
    assert code == 0, err
    header, _, row = out.splitlines()
    assert header.split() == ['image', 'class', 'score', 'top-k'] and row.startswith(str(files[0]))
    code, _, err = _run(capsys, 'infer', config, ckpt, tmp_path / 'nope.png')
    assert code == 1 and 'nope.png' in err


def test_infer_skips_unreadable_files_and_exits_1_at_the_end(trained_digits, tmp_path, capsys):
    from sklearn.datasets import load_digits
    config, ckpt, _ = trained_digits
    digits = load_digits()
    (tmp_path / 'imgs').mkdir()
    good = [tmp_path / 'imgs' / 'a.png', tmp_path / 'imgs' / 'c.png']
    for i, f in enumerate(good):
        Image.fromarray(np.round(digits.images[i] * 255 / 16).astype(np.uint8)).save(f)
    bad = tmp_path / 'imgs' / 'b.png'
    bad.write_bytes(b'\x89PNG\r\n\x1a\n' + b'not really a png')
    text = tmp_path / 'imgs' / 'notes.jpg'  # a text file with an image's name
    text.write_text('not an image\n')
    truncated = tmp_path / 'imgs' / 'd.png'
    truncated.write_bytes(good[0].read_bytes()[:60])
    code, out, err = _run(capsys, 'infer', config, ckpt, tmp_path / 'imgs', '--json')
    assert code == 1
    assert [r['path'] for r in json.loads(out)] == [str(f) for f in good]  # the others were still predicted
    for path in (bad, text, truncated):
        assert f'skipped {path}: ' in err
    assert 'truncated' in err
    assert '3 of 5 image(s) could not be read and were skipped (listed above); the others were predicted' in err
    code, out, err = _run(capsys, 'infer', config, ckpt, bad)  # nothing readable: no table, still exit 1
    assert code == 1 and out == '' and f'skipped {bad}:' in err and 'nothing was predicted' in err
