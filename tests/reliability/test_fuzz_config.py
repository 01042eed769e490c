"""Property-based fuzzing of config files and ``--cfg-options``: success or a ConfigError, nothing else.

Config texts come from a small grammar of plausible configs (the keys and value shapes of real ones,
``_base_`` references to missing, cyclic and odd files), written as .py / .json / .yaml and then
possibly damaged (cut short, a character changed, a line repeated). Whatever comes in, loading,
printing and re-loading a config either works or raises an ImgclsError with a message.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from imgcls.config import Config, parse_cfg_options
from imgcls.errors import ImgclsError

# a fixed, quick set of examples in the suite; IMGCLS_FUZZ_EXAMPLES=5000 runs a longer random campaign
CAMPAIGN = int(os.environ.get('IMGCLS_FUZZ_EXAMPLES', '0'))
FUZZ = settings(max_examples=CAMPAIGN or 120, deadline=5000, derandomize=not CAMPAIGN, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

KEYS = ['model', 'data', 'optimizer', 'lr_config', 'runner', 'type', 'depth', 'pipeline', 'samples_per_gpu',
        'train', 'backbone', 'head', 'num_classes', 'topk', '_delete_', '_base_', 'custom_imports', 'imports',
        'allow_failed_imports', 'x', 'class', 'None', 'ключ', '']
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(['ResNet', 'SGD', '../x.py', '{{', 'a.b', '\x00']))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)), max_leaves=20)
BASES = ['missing.py', 'a.json', 'b.yaml', 'cfg.py', 'cfg.json', 'cfg.yaml', '', '.', 'sub/', 'base.txt',
         '../../../../../../etc/passwd', 'a.json\x00', 'ok.py']


def _dump(content: dict, fmt: str) -> str:
    if fmt == '.json':
        return json.dumps(content, default=str)
    if fmt == '.yaml':
        return yaml.safe_dump(content, allow_unicode=True)
    return ''.join(f'{k} = {v!r}\n' for k, v in content.items() if k.isidentifier())


@st.composite
def config_files(draw):
    fmt = draw(st.sampled_from(['.py', '.json', '.yaml']))
    content = draw(st.dictionaries(st.sampled_from(KEYS), values, max_size=5))
    if draw(st.booleans()):
        bases = draw(st.lists(st.sampled_from(BASES), min_size=1, max_size=3))
        content['_base_'] = bases[0] if draw(st.booleans()) else bases
    text = _dump(content, fmt)
    damage = draw(st.sampled_from(['none', 'cut', 'replace', 'repeat', 'junk', 'trick']))
    if damage == 'cut' and text:
        text = text[:draw(st.integers(0, len(text) - 1))]
    elif damage == 'replace' and text:
        i = draw(st.integers(0, len(text) - 1))
        text = text[:i] + draw(st.sampled_from(list('{}[]():,"\'\n\t #&*!|>-=\\\x00'))) + text[i + 1:]
    elif damage == 'repeat':
        text = text + text
    elif damage == 'junk':
        text = text + draw(st.text(max_size=30))
    elif damage == 'trick':
        i = draw(st.integers(0, len(text)))
        text = text[:i] + draw(st.sampled_from(TRICKS)) + text[i:]
    return fmt, text


# YAML / JSON / Python features a broken or hostile config might use
TRICKS = ['a: &a [*a]\n', 'x: &x {y: *x}\n', '<<: *nope\n', 'k: !!python/object/apply:os.getcwd []\n',
          'k: !!binary aGk=\n', 'k: !!set {a, b}\n', 'k: 2001-12-14\n', '? [1, 2]\n: 3\n', 'k: 1e400\n',
          '\ufeff', '%YAML 1.1\n---\n', '---\n---\n', 'k: ' + '[' * 200 + ']' * 200 + '\n',
          '{"k": ' + '[' * 300 + ']' * 300 + '}', 'k = ' + '[' * 120 + ']' * 120 + '\n', 'k: ' + '9' * 5000 + '\n',
          'l0: &l0 [1, 1, 1, 1, 1, 1, 1, 1]\n' + ''.join(f'l{i}: &l{i} [' + ', '.join([f'*l{i - 1}'] * 8) + ']\n'
                                                         for i in range(1, 8)),
          'NaN', 'Infinity', '-0', '_base_ = _base_\n', 'raise SystemError("x")\n', 'import nonexistent_mod_x\n',
          'k = 1/0\n', 'k = undefined_name\n', '\t', '"' * 3, "'" * 3]


def _write_bases(root: Path) -> None:
    """The files _base_ may name: a JSON/YAML pair that inherit each other, a valid base, odd files."""
    (root / 'a.json').write_text(json.dumps({'_base_': 'b.yaml', 'x': 1}))
    (root / 'b.yaml').write_text('_base_: a.json\ny: 2\n')
    (root / 'ok.py').write_text("model = dict(type='ImageClassifier')\n")
    (root / 'base.txt').write_text('x = 1\n')
    (root / 'sub').mkdir(exist_ok=True)


def _equal(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b and type(a) is type(b)


@FUZZ
@given(config_files())
def test_loading_any_config_text_gives_a_config_or_a_config_error(case):
    fmt, text = case
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write_bases(root)
        path = root / f'cfg{fmt}'
        path.write_text(text, encoding='utf-8', errors='surrogatepass')
        try:
            cfg = Config.fromfile(path, import_custom_modules=False)
            dumped = cfg.pretty_text
        except ImgclsError as e:
            assert str(e).strip()
            event(f'refused: {type(e).__name__}')
            return
        event('loaded')
        # what is printed (and written to WORK_DIR/config.py) loads back to the same config
        again = root / 'dumped.py'
        again.write_text(dumped)
        assert _equal(Config.fromfile(again, import_custom_modules=False).to_dict(), cfg.to_dict())


@FUZZ
@given(st.text(max_size=60), st.sampled_from(['model.backbone.depth', 'a', 'data.train.pipeline.0.type', 'x.y.z',
                                              'optimizer.lr', '', '.', 'a..b', 'model.0']))
def test_any_cfg_options_value_is_parsed_or_refused(value, key):
    try:
        options = parse_cfg_options([f'{key}={value}'])
    except ImgclsError as e:
        assert str(e).strip()
        return
    cfg = Config({'model': {'backbone': {'depth': 18}}, 'optimizer': {'lr': 0.1},
                  'data': {'train': {'pipeline': [{'type': 'Resize'}]}}})
    try:
        cfg.merge_from_dict(options)
    except ImgclsError as e:
        assert str(e).strip()


code_like = st.builds(lambda a, b, c: f'{a}{b}{c}', st.sampled_from(['__import__', 'exec', 'eval', 'open', 'lambda',
                                                                     'os.system', '().__class__', 'compile']),
                      st.sampled_from(['(', '("', "('touch X')", '[', '']), st.text(max_size=10))


@FUZZ
@given(st.lists(st.one_of(code_like, st.text(alphabet='[](){},\'" =1a.:-e+', max_size=30)), min_size=1, max_size=4))
def test_cfg_options_never_evaluate(values):
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            try:
                parsed = parse_cfg_options([f'k{i}={v}' for i, v in enumerate(values)])
            except ImgclsError:
                parsed = {}
            assert not os.listdir(tmp)  # no 'touch X', no open(..., 'w')
        finally:
            os.chdir(cwd)
    for value in parsed.values():
        assert _plain(value), value


def _plain(value) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(_plain(k) and _plain(v) for k, v in value.items())
    return False
