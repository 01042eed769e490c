"""YAML / JSON configs and ``--cfg-options`` values are data: nothing in them is ever run."""

from __future__ import annotations

import json

import pytest
from conftest import DIGITS, REPO, run_cli

from imgcls.config import Config, parse_cfg_options
from imgcls.errors import ConfigError

YAML_PAYLOADS = [
    'model: !!python/object/apply:os.system ["touch {marker}"]\n',
    'model: !!python/object/new:os.system ["touch {marker}"]\n',
    'model: !!python/object/apply:subprocess.check_call [["touch", "{marker}"]]\n',
    'x: !!python/name:os.system\n',
    'x: !!python/module:os\n',
    '!!python/object/apply:os.system ["touch {marker}"]\n',
    'data:\n  train:\n    pipeline:\n      - !!python/object/apply:os.system ["touch {marker}"]\n',
]


@pytest.mark.parametrize('suffix', ['.yaml', '.yml'])
@pytest.mark.parametrize('payload', YAML_PAYLOADS)
def test_yaml_python_tags_are_refused_and_nothing_runs(tmp_path, payload, suffix):
    marker = tmp_path / 'PWNED'
    path = tmp_path / f'evil{suffix}'
    path.write_text(payload.format(marker=marker))
    with pytest.raises(ConfigError, match='evil'):
        Config.fromfile(path)
    assert not marker.exists()


def test_yaml_payload_through_the_cli(tmp_path, capsys):
    marker = tmp_path / 'PWNED'
    path = tmp_path / 'evil.yaml'
    path.write_text(YAML_PAYLOADS[0].format(marker=marker))
    for argv in (['config', path], ['train', path, '--work-dir', tmp_path / 'w']):
        code, _, err = run_cli(capsys, argv)
        assert code == 1 and 'evil.yaml' in err and 'Traceback' not in err
    assert not marker.exists()


def test_json_strings_stay_strings(tmp_path):
    marker = tmp_path / 'PWNED'
    path = tmp_path / 'c.json'
    value = f"__import__('os').system('touch {marker}')"
    path.write_text(json.dumps({'model': {'type': value}}, ensure_ascii=True).replace("'", '\\u0027'))
    assert Config.fromfile(path).model.type == value
    assert not marker.exists()


DANGEROUS = [
    "__import__('os').system('touch {marker}')",
    "exec(\"open('{marker}', 'w')\")",
    "eval(\"__import__('os').system('touch {marker}')\")",
    "[__import__('os').system('touch {marker}')]",
    "{{'a': __import__('os').system('touch {marker}')}}",
    "(lambda: __import__('os').system('touch {marker}'))()",
    "open('{marker}', 'w')",
    "().__class__.__base__.__subclasses__()",
    "getattr(__builtins__, 'exec')('import os')",
    "1+1",
]


def _leaves(value) -> list:
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _leaves(v)]
    if isinstance(value, dict):
        return [leaf for kv in value.items() for v in kv for leaf in _leaves(v)]
    return [value]


@pytest.mark.parametrize('template', DANGEROUS)
def test_cfg_options_values_are_parsed_never_evaluated(tmp_path, capsys, template):
    marker = tmp_path / 'PWNED'
    value = template.format(marker=marker)
    if value[0] in '({':  # looks like a tuple or dict literal but is not one: refused, and nothing ran
        with pytest.raises(ConfigError, match="the value of 'model.backbone.type' does not parse"):
            parse_cfg_options([f'model.backbone.type={value}'])
        code, _, err = run_cli(capsys, ['config', DIGITS, '--cfg-options', f'model.backbone.type={value}'])
        assert code == 1 and 'does not parse' in err and 'Traceback' not in err
        assert not marker.exists()
        return
    parsed = parse_cfg_options([f'model.backbone.type={value}'])['model.backbone.type']
    assert _leaves(parsed) and all(isinstance(leaf, str) for leaf in _leaves(parsed))  # text, not results
    # through the CLI: the merged config shows the text as a string, and nothing ran
    code, out, err = run_cli(capsys, ['config', DIGITS, '--cfg-options', f'model.backbone.type={value}'])
    assert code == 0, err
    assert not marker.exists()
    # building the model reports an unknown type (a string), not the result of running it
    code, _, err = run_cli(capsys, ['train', DIGITS, '--work-dir', tmp_path / 'w',
                                    '--cfg-options', f'model.backbone.type={value}'])
    assert code == 1 and 'Traceback' not in err
    assert not marker.exists()


def test_cfg_options_literals_still_work():
    parsed = parse_cfg_options(['a=1', 'b=[1, (2, 3)]', "c={'k': None}", 'd=x,y', 'e=1e-4', 'f=True'])
    assert parsed == {'a': 1, 'b': [1, (2, 3)], 'c': {'k': None}, 'd': ['x', 'y'], 'e': 1e-4, 'f': True}


def test_data_configs_can_be_loaded_without_importing_custom_modules(tmp_path):
    """custom_imports is the one key that imports code; ``import_custom_modules=False`` skips it."""
    (tmp_path / 'side_effect_mod.py').write_text(f"open({str(tmp_path / 'IMPORTED')!r}, 'w').close()\n")
    path = tmp_path / 'c.yaml'
    path.write_text('custom_imports:\n  imports: [side_effect_mod]\n')
    Config.fromfile(path, import_custom_modules=False)
    assert not (tmp_path / 'IMPORTED').exists()


def test_security_doc_says_what_is_code():
    text = (REPO / 'docs' / 'security.md').read_text()
    for phrase in ('.py', 'custom_imports', '--unsafe-load', 'weights_only', 'YAML', '--cfg-options', 'CIFAR'):
        assert phrase in text, phrase
