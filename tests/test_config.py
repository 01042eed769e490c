"""Tests for imgcls.config (Config, ConfigDict, parse_cfg_options) and imgcls.fileio."""

import ast
import copy
import json
import keyword
import os
import pickle
import stat
import sys
import textwrap
import uuid

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imgcls import Config, ConfigDict
from imgcls.config import MissingKeyError, parse_cfg_options
from imgcls.errors import ConfigError
from imgcls.fileio import atomic_open, atomic_write_bytes, atomic_write_text
from imgcls.registry import all_registries, build_from_cfg


def write(directory, name, text):
    """Write a dedented fixture file under ``directory`` and return its path as str."""
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip('\n'), encoding='utf-8')
    return str(path)


MODEL_PY = """
model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18, out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=1000,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0), topk=(1, 5)),
)
"""

EXPECTED_MODEL = {
    'type': 'ImageClassifier',
    'backbone': {'type': 'ResNet', 'depth': 18, 'out_indices': (3,)},
    'neck': {'type': 'GlobalAveragePooling'},
    'head': {'type': 'LinearClsHead', 'num_classes': 1000,
             'loss': {'type': 'CrossEntropyLoss', 'loss_weight': 1.0}, 'topk': (1, 5)},
}


# ----------------------------------------------------------------------------- loading


def test_load_py_keeps_public_variables_only(tmp_path):
    path = write(tmp_path, 'cfg.py', MODEL_PY + """
import os
from collections import OrderedDict
_helper = 3
def fn():
    return 1
class Cls:
    pass
lr = 0.1 * _helper
name = os.path.basename(__file__)
""")
    cfg = Config.fromfile(path)
    assert set(cfg.keys()) == {'model', 'lr', 'name'}
    assert cfg.to_dict()['model'] == EXPECTED_MODEL
    assert cfg.lr == pytest.approx(0.3)
    assert cfg.name == 'cfg.py'
    assert cfg.filename == path
    assert cfg.text == open(path).read()


def test_load_json_and_yaml(tmp_path):
    data = {'model': {'type': 'M', 'depth': 18, 'ids': [1, 2]}, 'lr': 1e-3, 'flag': None}
    jpath = tmp_path / 'cfg.json'
    jpath.write_text(json.dumps(data))
    for name in ('cfg.yaml', 'cfg.yml'):
        (tmp_path / name).write_text(yaml.safe_dump(data))
        assert Config.fromfile(str(tmp_path / name)).to_dict() == data
    cfg = Config.fromfile(jpath)
    assert cfg.to_dict() == data
    assert cfg.model.ids == [1, 2]


def test_yaml_exponent_floats_and_quoted_strings(tmp_path):
    text = "wd: 1e-4\nbig: 2E+3\nlr: 0.1\nn: 10\nq: '1e-4'\ninf: .inf\nver: 1_0\n"
    path = write(tmp_path, 'cfg.yaml', text)
    cfg = Config.fromfile(path)
    assert cfg.to_dict() == {'wd': 1e-4, 'big': 2e3, 'lr': 0.1, 'n': 10, 'q': '1e-4', 'inf': float('inf'),
                             'ver': 10}


def test_yaml_is_loaded_safely(tmp_path):
    path = write(tmp_path, 'evil.yaml', "x: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match='evil.yaml'):
        Config.fromfile(path)


def test_empty_yaml_is_an_empty_config(tmp_path):
    assert Config.fromfile(write(tmp_path, 'empty.yaml', '')).to_dict() == {}


@pytest.mark.parametrize('name,text', [('list.yaml', '- 1\n- 2\n'), ('list.json', '[1, 2]'),
                                       ('str.yaml', 'just a string\n')])
def test_top_level_must_be_a_mapping(tmp_path, name, text):
    with pytest.raises(ConfigError, match=f'top level of config .*{name}.*mapping'):
        Config.fromfile(write(tmp_path, name, text))


def test_missing_file_and_bad_extension(tmp_path):
    with pytest.raises(ConfigError, match='nope.py.*not found'):
        Config.fromfile(tmp_path / 'nope.py')
    with pytest.raises(ConfigError, match=r"unsupported extension '\.txt'.*\.py"):
        Config.fromfile(write(tmp_path, 'cfg.txt', 'a = 1'))
    with pytest.raises(ConfigError, match='directory'):
        Config.fromfile(tmp_path)


def test_syntax_error_names_file_line_and_text(tmp_path):
    path = write(tmp_path, 'bad.py', """
    a = 1
    b = dict(x=1,, y=2)
    """)
    with pytest.raises(ConfigError) as info:
        Config.fromfile(path)
    msg = str(info.value)
    assert path in msg and 'line 2' in msg and 'b = dict(x=1,, y=2)' in msg


def test_runtime_error_names_file_line_and_message(tmp_path):
    path = write(tmp_path, 'boom.py', """
    a = 1
    b = [1, 2][5]
    """)
    with pytest.raises(ConfigError) as info:
        Config.fromfile(path)
    msg = str(info.value)
    assert path in msg and 'line 2' in msg and 'IndexError' in msg and 'list index out of range' in msg
    assert isinstance(info.value.__cause__, IndexError)


def test_name_error_hints_that_base_variables_are_not_visible(tmp_path):
    write(tmp_path, 'base.py', 'num_classes = 10\n')
    path = write(tmp_path, 'child.py', "_base_ = 'base.py'\nmodel = dict(n=num_classes)\n")
    with pytest.raises(ConfigError, match=r"(?s)line 2.*NameError.*num_classes.*_base_"):
        Config.fromfile(path)


def test_json_and_yaml_parse_errors_name_file_and_line(tmp_path):
    jpath = write(tmp_path, 'bad.json', '{\n  "a": 1,\n  "b": ,\n}\n')
    with pytest.raises(ConfigError, match=r'invalid JSON in config .*bad\.json, line 3'):
        Config.fromfile(jpath)
    ypath = write(tmp_path, 'bad.yaml', 'a: 1\nb: [1, 2\nc: 3\n')
    with pytest.raises(ConfigError, match=r'invalid YAML in config .*bad\.yaml, line \d'):
        Config.fromfile(ypath)


# ----------------------------------------------------------------------------- _base_


def test_base_string_relative_path_and_cross_format(tmp_path):
    write(tmp_path, '_base_/models/r18.py', MODEL_PY)
    write(tmp_path, '_base_/schedule.yaml', 'optimizer: {type: SGD, lr: 0.1}\nlr_steps: [30, 60]\n')
    path = write(tmp_path, 'exp/r18_cifar.py', """
    _base_ = ['../_base_/models/r18.py', '../_base_/schedule.yaml']
    model = dict(backbone=dict(depth=34), head=dict(num_classes=10))
    lr_steps = [5]
    """)
    cfg = Config.fromfile(path)
    assert cfg.model.backbone.to_dict() == {'type': 'ResNet', 'depth': 34, 'out_indices': (3,)}
    assert cfg.model.head.num_classes == 10
    assert cfg.model.head.loss.type == 'CrossEntropyLoss'  # merged, not replaced
    assert cfg.optimizer.lr == 0.1
    assert cfg.lr_steps == [5]  # lists are replaced
    assert list(cfg.keys()) == ['model', 'optimizer', 'lr_steps']
    assert '_base_' not in cfg
    assert 'r18.py' in cfg.text and 'schedule.yaml' in cfg.text and 'lr_steps = [5]' in cfg.text


def test_base_as_single_string_and_recursive_chain(tmp_path):
    write(tmp_path, 'a.json', json.dumps({'x': {'p': 1, 'q': 2}, 'y': 1}))
    write(tmp_path, 'sub/b.yaml', "_base_: ../a.json\nx: {q: 20}\n")
    path = write(tmp_path, 'c.py', "_base_ = 'sub/b.yaml'\nx = dict(r=3)\n")
    assert Config.fromfile(path).to_dict() == {'x': {'p': 1, 'q': 20, 'r': 3}, 'y': 1}


def test_delete_replaces_base_dict(tmp_path):
    write(tmp_path, 'base.py', MODEL_PY)
    path = write(tmp_path, 'child.py', """
    _base_ = 'base.py'
    model = dict(head=dict(loss=dict(_delete_=True, type='L1Loss')))
    """)
    cfg = Config.fromfile(path)
    assert cfg.model.head.loss.to_dict() == {'type': 'L1Loss'}
    assert cfg.model.head.num_classes == 1000


def test_delete_marker_is_removed_everywhere(tmp_path):
    path = write(tmp_path, 'solo.py', "a = dict(_delete_=True, b=[dict(_delete_=True, c=1)])\n")
    assert Config.fromfile(path).to_dict() == {'a': {'b': [{'c': 1}]}}


def test_child_dict_replaces_non_dict_base_value(tmp_path):
    write(tmp_path, 'base.py', 'init_cfg = None\nsteps = dict(a=1)\n')
    path = write(tmp_path, 'child.py', "_base_ = 'base.py'\ninit_cfg = dict(type='Pretrained')\nsteps = 3\n")
    assert Config.fromfile(path).to_dict() == {'init_cfg': {'type': 'Pretrained'}, 'steps': 3}


def test_missing_base_names_base_and_child(tmp_path):
    path = write(tmp_path, 'child.py', "_base_ = ['missing_base.py']\n")
    with pytest.raises(ConfigError) as info:
        Config.fromfile(path)
    msg = str(info.value)
    assert 'missing_base.py' in msg and 'not found' in msg and path in msg


def test_base_must_be_str_or_list(tmp_path):
    with pytest.raises(ConfigError, match='_base_ in config'):
        Config.fromfile(write(tmp_path, 'c.py', '_base_ = 3\n'))


def test_inheritance_cycle_is_shown(tmp_path):
    write(tmp_path, 'a.py', "_base_ = 'b.py'\nx = 1\n")
    write(tmp_path, 'b.py', "_base_ = 'a.py'\ny = 1\n")
    with pytest.raises(ConfigError, match='cycle: a.py -> b.py -> a.py'):
        Config.fromfile(tmp_path / 'a.py')
    write(tmp_path, 'self.py', "_base_ = './self.py'\n")
    with pytest.raises(ConfigError, match='cycle: self.py -> self.py'):
        Config.fromfile(tmp_path / 'self.py')


def test_diamond_is_a_duplicate_key_not_a_cycle(tmp_path):
    write(tmp_path, 'root.py', 'model = dict(a=1)\n')
    write(tmp_path, 'left.py', "_base_ = 'root.py'\n")
    write(tmp_path, 'right.py', "_base_ = 'root.py'\nsched = 1\n")
    assert Config.fromfile(write(tmp_path, 'one.py', "_base_ = 'left.py'\n")).to_dict() == {'model': {'a': 1}}
    with pytest.raises(ConfigError, match="'model' is set by two base configs"):
        Config.fromfile(write(tmp_path, 'top.py', "_base_ = ['left.py', 'right.py']\n"))


def test_duplicate_key_across_bases_names_both_files(tmp_path):
    b1 = write(tmp_path, 'b1.py', 'optimizer = dict(lr=0.1)\nmodel = 1\n')
    b2 = write(tmp_path, 'b2.yaml', 'optimizer: {lr: 0.2}\n')
    path = write(tmp_path, 'child.py', "_base_ = ['b1.py', 'b2.yaml']\n")
    with pytest.raises(ConfigError) as info:
        Config.fromfile(path)
    msg = str(info.value)
    assert "'optimizer'" in msg and b1 in msg and b2 in msg


# ----------------------------------------------------------------------------- ConfigDict


def test_config_dict_converts_nested_and_allows_attribute_access():
    cd = ConfigDict(a=dict(b=dict(c=1)), items_=[dict(x=1), (dict(y=2), 3)])
    assert cd.a.b.c == 1 and cd['a']['b']['c'] == 1
    assert isinstance(cd.items_[0], ConfigDict) and isinstance(cd.items_[1], tuple)
    assert cd.items_[1][0].y == 2
    cd.new = {'k': {'v': 1}}
    assert isinstance(cd.new.k, ConfigDict)
    cd.update(u={'w': 1})
    cd.setdefault('s', {'t': 1})
    assert isinstance(cd.u, ConfigDict) and isinstance(cd.s, ConfigDict)
    plain = cd.to_dict()
    assert type(plain['a']['b']) is dict and type(plain['items_'][1][0]) is dict
    assert plain['items_'][1] == ({'y': 2}, 3)


def test_missing_attribute_and_item_suggest_close_keys():
    cd = ConfigDict(backbone=dict(depth=18), neck=None, head=1)
    with pytest.raises(AttributeError, match="no key 'bakbone'.*Did you mean 'backbone'"):
        _ = cd.bakbone
    with pytest.raises(KeyError, match="no key 'hed'.*Did you mean 'head'"):
        _ = cd['hed']
    with pytest.raises(ConfigError):
        _ = cd.backbone.dpeth
    assert not hasattr(cd, 'missing') and getattr(cd, 'missing', 7) == 7
    assert cd.get('missing') is None and cd.neck is None
    with pytest.raises(AttributeError, match='method'):
        cd.items = 3


def test_config_dict_pickle_and_deepcopy_keep_types():
    cd = ConfigDict(a=dict(b=[dict(c=1)]))
    for clone in (pickle.loads(pickle.dumps(cd)), copy.deepcopy(cd)):
        assert clone == cd and isinstance(clone.a, ConfigDict) and isinstance(clone.a.b[0], ConfigDict)
    deep = copy.deepcopy(cd)
    deep.a.b[0].c = 2
    assert cd.a.b[0].c == 1
    assert isinstance(cd.copy(), ConfigDict) and isinstance(cd | {'z': {}}, ConfigDict)


def test_missing_key_error_is_all_of_its_bases():
    err = MissingKeyError('config has no key x')
    assert isinstance(err, (KeyError, AttributeError, ConfigError)) and str(err) == 'config has no key x'


# ----------------------------------------------------------------------------- Config


def test_config_mapping_interface(tmp_path):
    cfg = Config.fromfile(write(tmp_path, 'cfg.py', MODEL_PY + 'lr = 0.1\n'))
    assert 'model' in cfg and 'nope' not in cfg and len(cfg) == 2
    assert list(cfg) == ['model', 'lr'] and dict(cfg.items())['lr'] == 0.1
    assert cfg.get('nope', 5) == 5 and cfg['model'].backbone.depth == 18
    cfg.work_dir = 'wd'
    cfg['seed'] = {'value': 1}
    assert cfg.work_dir == 'wd' and cfg.seed.value == 1
    with pytest.raises(AttributeError, match="no key 'modle'.*'model'"):
        _ = cfg.modle
    with pytest.raises(AttributeError):
        cfg.text = 'x'
    assert 'Config (path: ' in repr(cfg) and 'ImageClassifier' in repr(cfg)
    assert type(cfg.to_dict()['model']) is dict


def test_config_copies_are_independent_and_picklable(tmp_path):
    cfg = Config.fromfile(write(tmp_path, 'cfg.py', MODEL_PY))
    for clone in (cfg.copy(), copy.deepcopy(cfg), pickle.loads(pickle.dumps(cfg))):
        assert isinstance(clone, Config) and clone.to_dict() == cfg.to_dict()
        assert clone.filename == cfg.filename and clone.text == cfg.text
        assert isinstance(clone.model.backbone, ConfigDict)
        clone.model.backbone.depth = 50
        assert cfg.model.backbone.depth == 18


def test_config_from_dict():
    cfg = Config(dict(a=dict(b=1)))
    assert cfg.a.b == 1 and cfg.filename is None
    with pytest.raises(ConfigError):
        Config([1, 2])


# ----------------------------------------------------------------------------- merge_from_dict


@pytest.fixture
def cfg():
    return Config(dict(
        model=dict(backbone=dict(type='ResNet', depth=18), head=dict(num_classes=10)),
        data=dict(train=dict(pipeline=[dict(type='Load'), dict(type='Resize', size=224)])),
        scales=(dict(s=1), 2),
    ))


def test_merge_from_dict_sets_nested_and_list_values(cfg):
    cfg.merge_from_dict({'model.backbone.depth': 50, 'data.train.pipeline.1.size': 32,
                         'data.train.pipeline.0': dict(to_float32=True), 'scales.0.s': 3, 'scales.1': 4,
                         'model.head': dict(loss=dict(type='L1Loss')), 'model.backbone.frozen_stages': 1,
                         'work_dir': 'x'})
    assert cfg.model.backbone.to_dict() == {'type': 'ResNet', 'depth': 50, 'frozen_stages': 1}
    assert cfg.data.train.pipeline[1].size == 32
    assert cfg.data.train.pipeline[0].to_dict() == {'type': 'Load', 'to_float32': True}
    assert cfg.scales[0].s == 3 and cfg.scales[1] == 4 and isinstance(cfg.scales, tuple)
    assert cfg.model.head.to_dict() == {'num_classes': 10, 'loss': {'type': 'L1Loss'}}
    assert isinstance(cfg.model.head.loss, ConfigDict) and cfg.work_dir == 'x'


def test_merge_from_dict_delete_replaces(cfg):
    cfg.merge_from_dict({'model.head': dict(_delete_=True, type='H')})
    assert cfg.model.head.to_dict() == {'type': 'H'}


@pytest.mark.parametrize('key,pattern', [
    ('model.bakbone.depth', "'model' has no key 'bakbone'.*Did you mean 'backbone'"),
    ('modle.backbone', "the config has no key 'modle'.*Did you mean 'model'"),
    ('data.train.pipeline.5.size', 'index 5 is out of range.*length 2'),
    ('data.train.pipeline.first.size', "'data.train.pipeline' is a list.*index from 0 to 1"),
    ('model.backbone.depth.x', "'model.backbone.depth' is int 18, not a dict"),
    ('model..depth', 'invalid option key'),
])
def test_merge_from_dict_errors(cfg, key, pattern):
    with pytest.raises(ConfigError, match=pattern):
        cfg.merge_from_dict({key: 1})


def test_merge_from_dict_adds_new_leaf_keys(cfg):
    # constructor arguments a config leaves at their defaults can be set; a misspelt one is reported
    # when the dict is built (see tests/engine/test_cli_errors.py)
    cfg.merge_from_dict({'model.backbone.stem_channels': 16, 'model.backbone.base_channels': 16})
    assert cfg.model.backbone.stem_channels == 16 and cfg.model.backbone.base_channels == 16


def test_merge_from_dict_list_keys_can_be_disabled(cfg):
    with pytest.raises(ConfigError, match='list indices are disabled'):
        cfg.merge_from_dict({'data.train.pipeline.0.type': 'X'}, allow_list_keys=False)


def test_cfg_options_end_to_end(cfg):
    cfg.merge_from_dict(parse_cfg_options(['model.backbone.depth=101', 'model.backbone.out_indices=(0,3)',
                                           'data.train.pipeline.1.size=[128,128]']))
    assert cfg.model.backbone.depth == 101 and cfg.model.backbone.out_indices == (0, 3)
    assert cfg.data.train.pipeline[1].size == [128, 128]


# ----------------------------------------------------------------------------- parse_cfg_options


@pytest.mark.parametrize('raw,expected', [
    ('1', 1), ('-3', -3), ('0.5', 0.5), ('1e-3', 1e-3), ('1E5', 1e5), ('.5', 0.5),
    ('True', True), ('false', False), ('None', None), ('none', None), ('null', None),
    ("'quoted'", 'quoted'), ('"a,b"', 'a,b'), ("'1'", '1'), ('hello', 'hello'), ('', ''),
    ('path/to/file.pth', 'path/to/file.pth'), (' spaced ', 'spaced'),
    ('[1,2]', [1, 2]), ('[a, b]', ['a', 'b']), ('(1,2)', (1, 2)), ('(a)', ('a',)), ('(3,)', (3,)),
    ('[]', []), ('()', ()), ('[ ]', []), ('[[1,2],[3,(4,x)]]', [[1, 2], [3, (4, 'x')]]),
    ("['a,b', c]", ['a,b', 'c']), ('[true,None,1.5]', [True, None, 1.5]), ('[a,]', ['a']),
    ('a,b,c', ['a', 'b', 'c']), ('1,2', [1, 2]), ('[1],[2]', [[1], [2]]),
    ("{'type': 'SGD', 'lr': 0.1}", {'type': 'SGD', 'lr': 0.1}), ('[{"a": [1, 2]}]', [{'a': [1, 2]}]),
    ("don't", "don't"), ('1j', '1j'), ("b'x'", "b'x'"), ('__import__("os")', '__import__("os")'),
    ("'a=b'", 'a=b'), ('"[1,2"', '[1,2'), ('a,(b', 'a,(b'),
])
def test_parse_values(raw, expected):
    value = parse_cfg_options([f'key={raw}'])['key']
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize('raw,why', [
    ('[1,2', 'its brackets or quotes do not balance'), ('(1,5', 'its brackets or quotes do not balance'),
    ("{'policy':'step'", 'its brackets or quotes do not balance'), ('[1][2]', 'it is not one complete list'),
    ('(1)(2)', 'it is not one complete tuple'), ('{1, 2}', 'a dict needs quoted keys'),
    ('{policy: step}', 'a dict needs quoted keys'), ('[1, {a: 1}]', 'a dict needs quoted keys'),
    ('(1,,5)', 'it has an empty item between two commas'), ('[,1]', 'it has an empty item between two commas'),
    ('[[1,,2]]', 'it has an empty item between two commas'),
])
def test_parse_bracketed_value_that_does_not_parse_is_an_error(raw, why):
    with pytest.raises(ConfigError) as e:
        parse_cfg_options(['ok=1', f'model.head.topk={raw}'])
    assert str(e.value).startswith("--cfg-options: the value of 'model.head.topk' does not parse: ")
    assert f'{raw!r}' in str(e.value) and f'({why}' in str(e.value)
    assert str(e.value).endswith('to pass it as a string, put it in quotes.')


def test_parse_second_equals_is_an_error():
    with pytest.raises(ConfigError) as e:
        parse_cfg_options(['optimizer.lr=0.1=2'])
    assert str(e.value) == ('--cfg-options: \'optimizer.lr=0.1=2\' has more than one "=". Give one key=value '
                            'per item (items are separated by spaces); quote a string value that contains "=", '
                            'as in name="\'a=b\'".')
    assert parse_cfg_options(['a.b="c=d"', "e=['x=1', 2]"]) == {'a.b': 'c=d', 'e': ['x=1', 2]}


def test_parse_splits_on_first_equals_and_rejects_missing_equals():
    assert parse_cfg_options(['a.b=c', ' x =1']) == {'a.b': 'c', 'x': 1}
    assert parse_cfg_options(None) == {}
    with pytest.raises(ConfigError, match=r"'model\.depth' is not of the form key=value"):
        parse_cfg_options(['model.depth'])
    with pytest.raises(ConfigError, match='no key'):
        parse_cfg_options(['=3'])


def test_parse_never_calls_code():
    assert parse_cfg_options(['a=exec("raise SystemExit")'])['a'] == 'exec("raise SystemExit")'


def _is_parsed_value(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_parsed_value(v) for v in value)
    return isinstance(value, dict) and all(_is_parsed_value(v) for v in value.values())


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40) | st.text(alphabet='[](),\'"{}: ab1.-e', max_size=40))
def test_parse_any_value_parses_or_stays_a_string(raw):
    try:
        value = parse_cfg_options([f'k={raw}'])['k']
    except ConfigError:
        return
    assert _is_parsed_value(value)
    if isinstance(value, str) and not any(c in raw for c in '\'"'):
        assert value == raw.strip()


def test_parse_deep_nesting_is_an_error():
    with pytest.raises(ConfigError, match='nested more than 50 levels deep'):
        parse_cfg_options(['k=' + '[' * 200 + ']' * 200])
    with pytest.raises(ConfigError, match='do not balance'):
        parse_cfg_options(['k=' + '(' * 2000])
    nested = parse_cfg_options(['k=' + '[' * 20 + ']' * 20])['k']
    for _ in range(19):
        assert len(nested) == 1
        nested = nested[0]
    assert nested == []


# ----------------------------------------------------------------------------- custom_imports


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A plugin module next to a config; sys.path and sys.modules are restored afterwards."""
    monkeypatch.setattr(sys, 'path', list(sys.path))
    tag = uuid.uuid4().hex[:8]
    module, registry = f'imgcls_test_plugin_{tag}', f'test_plugins_{tag}'
    write(tmp_path, f'{module}.py', f"""
    from imgcls.registry import Registry
    PLUGINS = Registry('{registry}')

    @PLUGINS.register_module()
    class MyPlugin:
        def __init__(self, size=1):
            self.size = size
    """)
    yield module, registry
    sys.modules.pop(module, None)


def test_custom_imports_registers_plugin_next_to_config(tmp_path, plugin):
    module, registry = plugin
    text = f"custom_imports = dict(imports=['{module}'], allow_failed_imports=False)\n"
    path = write(tmp_path, 'cfg.py', text)
    Config.fromfile(path)
    reg = all_registries()[registry]
    assert 'MyPlugin' in reg
    assert build_from_cfg(dict(type='MyPlugin', size=3), reg).size == 3


def test_custom_imports_can_be_skipped(tmp_path, plugin):
    module, _ = plugin
    path = write(tmp_path, 'cfg.yaml', f'custom_imports: {{imports: [{module}]}}\n')
    Config.fromfile(path, import_custom_modules=False)
    assert module not in sys.modules


def test_custom_imports_failure(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, 'path', list(sys.path))
    path = write(tmp_path, 'cfg.py', "custom_imports = dict(imports=['no_such_module_xyz'])\n")
    with pytest.raises(ConfigError, match="cannot import 'no_such_module_xyz'.*ModuleNotFoundError"):
        Config.fromfile(path)
    path = write(tmp_path, 'ok.py', "custom_imports = dict(imports=['no_such_module_xyz'], "
                                    "allow_failed_imports=True)\nx = 1\n")
    with pytest.warns(UserWarning, match='no_such_module_xyz'):
        assert Config.fromfile(path).x == 1


@pytest.mark.parametrize('value,pattern', [
    ("['a']", 'must be a dict'), ("dict(imports=[1])", 'list of module names'),
    ("dict(imports='a', allow_failed_imports='yes')", 'True or False'),
    ("dict(imprts=['a'])", "unknown key 'imprts'.*Did you mean 'imports'"),
])
def test_custom_imports_bad_shape(tmp_path, value, pattern):
    with pytest.raises(ConfigError, match=pattern):
        Config.fromfile(write(tmp_path, 'cfg.py', f'custom_imports = {value}\n'))


# ----------------------------------------------------------------------------- pretty_text / dump

TRICKY = dict(
    model=dict(type='M', out_indices=(3,), empty_t=(), empty_l=[], empty_d={}, nested=[[1, (2, 3)], []]),
    lr=1e-05, big=1e20, neg=-0.5, inf=float('inf'), none=None, flags=[True, False],
    text='it\'s a "quote"\nand a newline \\ backslash', unicode='häßlich ✓',
    pipeline=[dict(type='A', keys=['img']), dict(type='B', size=(224, 224), cfg=dict(x=None))],
    odd_keys={'with space': 1, 'class': 2, 3: 'int key', 'ª': 4, 'ok': {'a-b': [dict(c=1)]}},
    long_list=list(range(60)),
)


def test_pretty_text_is_valid_python_and_round_trips(tmp_path):
    cfg = Config(TRICKY)
    text = cfg.pretty_text
    ast.parse(text)
    assert 'model = dict(' in text and "'with space': 1" in text and 'out_indices=(3,)' in text
    assert text == cfg.dump()
    path = tmp_path / 'dumped.py'
    assert cfg.dump(path) is None
    loaded = Config.fromfile(path)
    assert loaded.to_dict() == cfg.to_dict() == TRICKY
    assert type(loaded.model.out_indices) is tuple and type(loaded.pipeline[1]['size']) is tuple
    assert os.listdir(tmp_path) == ['dumped.py']  # no temp file left behind


def test_dump_json_and_yaml_round_trip(tmp_path):
    data = dict(model=dict(type='M', sizes=[1, 2], t=(1, 2)), lr=1e-3, name='x', none=None)
    cfg = Config(data)
    expected = dict(data, model=dict(data['model'], t=[1, 2]))  # tuples become lists in JSON/YAML
    for name in ('c.json', 'c.yaml', 'c.yml'):
        cfg.dump(tmp_path / name)
        assert Config.fromfile(tmp_path / name).to_dict() == expected
    assert json.loads(cfg.dump(file_format='json'))['lr'] == 1e-3


def test_dump_errors(tmp_path):
    cfg = Config(dict(a=1))
    with pytest.raises(ConfigError, match='txt'):
        cfg.dump(tmp_path / 'c.txt')
    with pytest.raises(ConfigError, match="'my-key'.*json"):
        _ = Config({'my-key': 1}).pretty_text
    with pytest.raises(ConfigError, match='obj.fn'):
        _ = Config(dict(obj=dict(fn=print))).pretty_text


def test_dump_keeps_previous_file_when_serialization_fails(tmp_path):
    path = tmp_path / 'c.py'
    path.write_text('a = 1\n')
    with pytest.raises(ConfigError):
        Config(dict(obj=object())).dump(path)
    assert path.read_text() == 'a = 1\n'


_identifiers = st.from_regex(r'[a-z][a-z0-9_]{0,6}', fullmatch=True).filter(
    lambda k: not keyword.iskeyword(k))
_scalars = (st.none() | st.booleans() | st.integers() | st.text(max_size=8)
            | st.floats(allow_nan=False))
_values = st.recursive(_scalars, lambda inner: (
    st.lists(inner, max_size=3) | st.lists(inner, max_size=3).map(tuple)
    | st.dictionaries(_identifiers, inner, max_size=3)
    | st.dictionaries(st.text(max_size=4), inner, max_size=2)
), max_leaves=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(_identifiers.filter(lambda k: not k.startswith('_')), _values, max_size=4))
def test_pretty_text_round_trip_property(tmp_path, data):
    path = tmp_path / 'prop.py'
    Config(data).dump(path)
    assert Config.fromfile(path).to_dict() == data


# ----------------------------------------------------------------------------- fileio


def test_atomic_write_text_and_bytes(tmp_path):
    path = tmp_path / 'f.txt'
    atomic_write_text(path, 'héllo\n')
    assert path.read_text(encoding='utf-8') == 'héllo\n'
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o600 == 0o600
    os.chmod(path, 0o640)
    atomic_write_bytes(path, b'\x00\x01')
    assert path.read_bytes() == b'\x00\x01'
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640  # the mode of the replaced file is kept
    assert os.listdir(tmp_path) == ['f.txt']


def test_atomic_open_keeps_old_file_when_writing_fails(tmp_path):
    path = tmp_path / 'ckpt.pth'
    path.write_bytes(b'old')
    with pytest.raises(RuntimeError, match='disk full'):
        with atomic_open(path, 'wb') as f:
            f.write(b'half of the new')
            raise RuntimeError('disk full')
    assert path.read_bytes() == b'old'
    assert os.listdir(tmp_path) == ['ckpt.pth']
    with atomic_open(path) as f:
        f.write(b'new')
    assert path.read_bytes() == b'new'


def test_atomic_open_rejects_read_modes(tmp_path):
    with pytest.raises(ValueError, match='modes'):
        with atomic_open(tmp_path / 'x', 'r'):
            pass
