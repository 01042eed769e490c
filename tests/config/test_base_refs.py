"""``{{_base_.key}}`` references and ``{{ fileDirname }}``-style variables in config files."""

import textwrap

import pytest

from imgcls import Config
from imgcls.errors import ConfigError


def write(directory, name, text):
    """Write a dedented config file under ``directory`` and return its path as str."""
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip('\n'), encoding='utf-8')
    return str(path)


BASE = """
policies = [dict(type='Shear', magnitude_range=(0, 0.3)), dict(type='Invert')]
num_classes = 10
model = dict(head=dict(num_classes=10, topk=(1, 5)), backbone=dict(depth=18))
data = dict(train=dict(pipeline=[dict(type='LoadImageFromFile'), dict(type='RandomResizedCrop', size=224)]))
"""


def test_reference_at_top_level_nested_and_in_lists(tmp_path):
    write(tmp_path, 'base.py', BASE)
    path = write(tmp_path, 'child.py', """
        _base_ = './base.py'
        aug = dict(type='RandAugment', policies={{_base_.policies}}, num_policies=2)
        classes = {{ _base_.num_classes }}
        pipeline = [dict(type='A'), {{_base_.data.train.pipeline}}, ({{_base_.num_classes}}, 1)]
        model = dict(head=dict(loss=dict(type='CE', num_classes={{_base_.model.head.num_classes}})))
    """)
    cfg = Config.fromfile(path)
    policies = [{'type': 'Shear', 'magnitude_range': (0, 0.3)}, {'type': 'Invert'}]
    assert cfg.aug.to_dict() == {'type': 'RandAugment', 'policies': policies, 'num_policies': 2}
    assert cfg.classes == 10
    assert cfg.pipeline[1][1].to_dict() == {'type': 'RandomResizedCrop', 'size': 224}
    assert cfg.pipeline[2] == (10, 1)
    # the child's dict still merges over the base's
    assert cfg.model.head.to_dict() == {'num_classes': 10, 'topk': (1, 5), 'loss': {'type': 'CE', 'num_classes': 10}}
    assert cfg.policies == cfg.aug.policies  # the base's own key is kept as well


def test_reference_is_a_copy(tmp_path):
    write(tmp_path, 'base.py', BASE)
    path = write(tmp_path, 'child.py', """
        _base_ = 'base.py'
        a = {{_base_.policies}}
        b = {{_base_.policies}}
    """)
    cfg = Config.fromfile(path)
    cfg.a[0].type = 'Changed'
    assert cfg.b[0].type == 'Shear' and cfg.policies[0].type == 'Shear'


def test_reference_resolves_against_merged_bases_not_the_file_itself(tmp_path):
    write(tmp_path, 'a.py', 'lr = 0.1\n')
    write(tmp_path, 'b.yaml', 'epochs: 90\n')
    path = write(tmp_path, 'child.py', """
        _base_ = ['a.py', 'b.yaml']
        lr = 0.5
        optimizer = dict(lr={{_base_.lr}})
        runner = dict(max_epochs={{_base_.epochs}})
    """)
    cfg = Config.fromfile(path)
    assert cfg.lr == 0.5 and cfg.optimizer.lr == 0.1 and cfg.runner.max_epochs == 90


def test_references_through_a_chain_of_bases(tmp_path):
    write(tmp_path, 'root.py', "policies = ['p1', 'p2']\n")
    write(tmp_path, 'mid/dataset.py', """
        _base_ = '../root.py'
        train = dict(policies={{_base_.policies}})
    """)
    path = write(tmp_path, 'top.py', """
        _base_ = 'mid/dataset.py'
        again = {{_base_.train.policies}}
        train = dict(n=2)
    """)
    cfg = Config.fromfile(path)
    assert cfg.train.to_dict() == {'policies': ['p1', 'p2'], 'n': 2}
    assert cfg.again == ['p1', 'p2']


def test_reference_into_a_list_by_index(tmp_path):
    write(tmp_path, 'base.py', BASE)
    path = write(tmp_path, 'child.py', """
        _base_ = 'base.py'
        size = {{_base_.data.train.pipeline.1.size}}
    """)
    assert Config.fromfile(path).size == 224


def test_reference_inside_a_string_is_formatted_in(tmp_path):
    write(tmp_path, 'base.py', "name = 'resnet'\ndepth = 50\npolicies = [1]\n")
    path = write(tmp_path, 'child.py', """
        _base_ = 'base.py'
        work_dir = 'work_dirs/{{_base_.name}}{{_base_.depth}}'  # {{_base_.not_there}} in a comment is ignored
        whole = '{{_base_.depth}}'
    """)
    cfg = Config.fromfile(path)
    assert cfg.work_dir == 'work_dirs/resnet50' and cfg.whole == 50
    bad = write(tmp_path, 'bad.py', "_base_ = 'base.py'\nx = 'p{{_base_.policies}}'\n")
    with pytest.raises(ConfigError) as e:
        Config.fromfile(bad)
    assert str(e.value) == (f'{{{{_base_.policies}}}} in config {bad} stands inside a string, but _base_.policies '
                            'is a list; only a str, number, bool or None can be part of a string. Write the '
                            'reference on its own.')


def test_references_in_json_and_yaml_children(tmp_path):
    write(tmp_path, 'base.py', BASE)
    json_path = write(tmp_path, 'child.json', """
        {"_base_": "base.py", "policies": {{_base_.model.head.topk}}, "n": "{{_base_.num_classes}}",
         "s": "n{{_base_.num_classes}}"}
    """)
    cfg = Config.fromfile(json_path)
    assert cfg.policies == (1, 5) and cfg.n == 10 and cfg.s == 'n10'
    yaml_path = write(tmp_path, 'child.yaml', """
        _base_: base.py
        model:
          neck: {{_base_.model.backbone}}
        classes: {{_base_.num_classes}}
    """)
    cfg = Config.fromfile(yaml_path)
    assert cfg.model.neck.to_dict() == {'depth': 18} and cfg.classes == 10


def test_missing_reference_names_key_and_file(tmp_path):
    write(tmp_path, 'base.py', BASE)
    path = write(tmp_path, 'child.py', "_base_ = 'base.py'\nx = {{_base_.model.head.num_clases}}\n")
    with pytest.raises(ConfigError) as e:
        Config.fromfile(path)
    assert str(e.value) == (f"{{{{_base_.model.head.num_clases}}}} in config {path}: _base_.model.head has no key "
                            "'num_clases'. Did you mean 'num_classes'? Keys there: num_classes, topk.")
    top = write(tmp_path, 'top.py', "_base_ = 'base.py'\nx = {{_base_.polices}}\n")
    with pytest.raises(ConfigError, match=r"in config .*top\.py: the merged _base_ files have no key 'polices'\. "
                                          r"Did you mean 'policies'\?"):
        Config.fromfile(top)
    into_int = write(tmp_path, 'int.py', "_base_ = 'base.py'\nx = {{_base_.num_classes.a}}\n")
    with pytest.raises(ConfigError, match=r"_base_\.num_classes has no key 'a'\. It is int, not a dict\."):
        Config.fromfile(into_int)


def test_reference_without_base_is_an_error(tmp_path):
    path = write(tmp_path, 'alone.py', 'x = {{_base_.y}}\n')
    with pytest.raises(ConfigError, match=r"^\{\{_base_\.y\}\} in config .*alone\.py, but this file has no "
                                          r"_base_; a \{\{_base_\.key\}\} reference needs one\.$"):
        Config.fromfile(path)


def test_reference_used_in_an_expression_explains_placeholders(tmp_path):
    write(tmp_path, 'base.py', 'n = 3\n')
    path = write(tmp_path, 'child.py', "_base_ = 'base.py'\nx = {{_base_.n}} + 1\n")
    with pytest.raises(ConfigError, match=r'(?s)line 2: TypeError.*x = \{\{_base_\.n\}\} \+ 1.*only a '
                                          r'placeholder string: use it as a whole value'):
        Config.fromfile(path)


def test_predefined_variables(tmp_path):
    path = write(tmp_path, 'sub/my.cfg.py', """
        data_root = '{{ fileDirname }}/../data'
        names = ['{{fileBasename}}', '{{ fileBasenameNoExtension }}', '{{fileExtname}}']
    """)
    cfg = Config.fromfile(path)
    assert cfg.data_root == f'{tmp_path}/sub/../data'
    assert cfg.names == ['my.cfg.py', 'my.cfg', '.py']


def test_predefined_variables_are_those_of_the_file_that_writes_them(tmp_path):
    write(tmp_path, 'bases/b.yaml', "base_dir: '{{ fileDirname }}'\n")
    path = write(tmp_path, 'c.py', "_base_ = 'bases/b.yaml'\nown_dir = '{{ fileDirname }}'\n")
    cfg = Config.fromfile(path)
    assert cfg.base_dir == f'{tmp_path}/bases' and cfg.own_dir == str(tmp_path)


def test_merged_config_with_references_dumps_and_loads_back_equal(tmp_path):
    write(tmp_path, 'base.py', BASE)
    path = write(tmp_path, 'child.py', """
        _base_ = 'base.py'
        aug = dict(policies={{_base_.policies}}, name='{{ fileBasenameNoExtension }}')
        model = dict(backbone=dict(_delete_=True, type='ResNet', depth=50))
    """)
    cfg = Config.fromfile(path)
    assert cfg.model.backbone.to_dict() == {'type': 'ResNet', 'depth': 50}
    for ext in ('.py', '.json', '.yaml'):
        dumped = tmp_path / f'dumped{ext}'
        cfg.dump(dumped)
        again = Config.fromfile(dumped).to_dict()
        if ext == '.py':
            assert again == cfg.to_dict()
        else:  # JSON and YAML have no tuples
            assert again['aug'] == {'policies': [{'type': 'Shear', 'magnitude_range': [0, 0.3]},
                                                 {'type': 'Invert'}], 'name': 'child'}
