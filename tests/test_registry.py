"""Registry: registering, looking up, building from config dicts, and the errors users see."""

from __future__ import annotations

import copy

import pytest

from imgcls.errors import BuildError, ConfigError, ImgclsError, RegistryError
from imgcls.registry import Registry, accepted_arguments, build_from_cfg


@pytest.fixture
def parts():
    return Registry('part'), Registry('widget')


def test_register_as_decorator_and_call(parts):
    reg, _ = parts

    @reg.register_module()
    class Alpha:
        def __init__(self, x=1):
            self.x = x

    class Beta:
        pass

    assert reg.register_module(module=Beta) is Beta
    assert reg.get('Alpha') is Alpha and reg.get('Beta') is Beta
    assert 'Alpha' in reg and 'Gamma' not in reg and len(reg) == 2


def test_aliases_and_custom_names(parts):
    reg, _ = parts

    @reg.register_module(name=['Long', 'short'])
    class Thing:
        pass

    assert reg.get('Long') is Thing and reg.get('short') is Thing
    assert reg.get('Thing') is None


def test_duplicate_name_needs_force(parts):
    reg, _ = parts

    @reg.register_module()
    class Alpha:
        pass

    with pytest.raises(RegistryError, match="'Alpha' is already registered in the part registry"):
        @reg.register_module(name='Alpha')
        class Other:
            pass

    @reg.register_module(name='Alpha', force=True)
    class Replacement:
        pass

    assert reg.get('Alpha') is Replacement


def test_bad_register_arguments(parts):
    reg, _ = parts
    with pytest.raises(TypeError):
        reg.register_module(name=3)
    with pytest.raises(TypeError):
        reg.register_module(force='yes')


def test_build_from_cfg_uses_defaults_and_leaves_cfg_alone(parts):
    reg, _ = parts

    @reg.register_module()
    class Alpha:
        def __init__(self, x=1, y=2):
            self.x, self.y = x, y

    cfg = dict(type='Alpha', x=10)
    snapshot = copy.deepcopy(cfg)
    obj = build_from_cfg(cfg, reg, default_args=dict(y=20, x=0))
    assert (obj.x, obj.y) == (10, 20)
    assert cfg == snapshot
    assert build_from_cfg(dict(type=Alpha), reg).x == 1  # a class works as the type too


def test_cfg_must_be_a_dict_with_type(parts):
    reg, _ = parts
    with pytest.raises(ConfigError, match='must be a dict'):
        build_from_cfg(['Alpha'], reg)
    with pytest.raises(ConfigError, match='has no "type" key'):
        build_from_cfg(dict(x=1), reg)


def test_unknown_type_suggests_close_names_and_other_registries(parts):
    reg, other = parts

    @reg.register_module()
    class ResNet_CIFAR:
        pass

    @other.register_module()
    class OnlyAWidget:
        pass

    with pytest.raises(RegistryError) as e:
        build_from_cfg(dict(type='ResNet_CIAFR'), reg, path='model.backbone')
    msg = str(e.value)
    assert "'ResNet_CIAFR' is not registered in the part registry" in msg
    assert "Did you mean 'ResNet_CIFAR'" in msg and 'model.backbone' in msg
    with pytest.raises(RegistryError, match="'OnlyAWidget' is a widget"):
        build_from_cfg(dict(type='OnlyAWidget'), reg)


def test_constructor_errors_carry_the_config_path_and_type(parts):
    reg, _ = parts

    @reg.register_module()
    class Inner:
        def __init__(self, depth):
            if depth not in (18, 50):
                raise ValueError(f'depth {depth} is not one of 18, 50')

    @reg.register_module()
    class Outer:
        def __init__(self, inner):
            self.inner = build_from_cfg(inner, reg)

    with pytest.raises(BuildError) as e:
        build_from_cfg(dict(type='Outer', inner=dict(type='Inner', depth=19)), reg, path='model')
    msg = str(e.value)
    assert msg.startswith("model.inner (type='Inner')") and 'depth 19' in msg
    # still the original exception type, for code that catches ValueError
    assert isinstance(e.value, ValueError) and isinstance(e.value, ImgclsError)


def test_misspelt_argument_lists_the_valid_ones(parts):
    reg, _ = parts

    @reg.register_module()
    class Alpha:
        def __init__(self, depth=18, num_stages=4):
            pass

    with pytest.raises(BuildError) as e:
        build_from_cfg(dict(type='Alpha', dpeth=50), reg, path='model.backbone')
    assert "Did you mean 'depth'" in str(e.value) and 'num_stages' in str(e.value)


def test_valid_arguments_follow_kwargs_up_the_parents(parts):
    reg, _ = parts

    class Base:
        def __init__(self, depth, width=64, deep_stem=False, avg_down=False, init_cfg=None):
            self.depth = depth

    @reg.register_module()
    class Child(Base):
        def __init__(self, depth, groups=32, **kwargs):
            super().__init__(depth, deep_stem=True, **kwargs)

    @reg.register_module()
    class GrandChild(Child):
        def __init__(self, *args, avg_down=True, **kwargs):
            super().__init__(*args, avg_down=avg_down, **kwargs)

    with pytest.raises(BuildError) as e:
        build_from_cfg(dict(type='Child', depth=50, widht=3), reg, path='model.backbone')
    assert str(e.value).startswith("model.backbone (type='Child'): TypeError: ")
    assert str(e.value).endswith("Base.__init__() got an unexpected keyword argument 'widht'. Did you mean 'width'? "
                                 "Valid arguments: depth, groups, width, avg_down, init_cfg.")
    # deep_stem is set by Child itself: passing it again is an error that does not list it as valid
    with pytest.raises(BuildError, match=r"multiple values for keyword argument 'deep_stem'\. Valid arguments: "
                                         r"depth, groups, width, avg_down, init_cfg\.$"):
        build_from_cfg(dict(type='Child', depth=50, deep_stem=False), reg)
    assert accepted_arguments(GrandChild) == ['avg_down', 'depth', 'groups', 'width', 'init_cfg']
    assert build_from_cfg(dict(type='GrandChild', depth=50, avg_down=False), reg).depth == 50


@pytest.mark.parametrize('cfg, said', [
    # ResNet_CIFAR takes depth through **kwargs from ResNet (--cfg-options model.backbone.deph=18)
    (dict(type='ResNet_CIFAR', depth=18, deph=18),
     "ResNet.__init__() got an unexpected keyword argument 'deph'. Did you mean 'depth'? Valid arguments: depth, "
     "deep_stem, in_channels, "),
    (dict(type='MobileNetV2', widen_factr=0.5), "MobileNetV2.__init__() got an unexpected keyword argument "
                                                "'widen_factr'. Did you mean 'widen_factor'? Valid arguments: "
                                                "widen_factor, out_indices, frozen_stages, "),
    (dict(type='ResNet', deph=18), "ResNet.__init__() got an unexpected keyword argument 'deph'. Did you mean 'depth'? "
                                   "Valid arguments: depth, in_channels, "),
    # SEResNet's depth is required: Python says it is missing first, and the misspelling is named too
    (dict(type='SEResNet', deph=50), "SEResNet.__init__() missing 1 required positional argument: 'depth'. 'deph' "
                                     "is not one of its arguments. Did you mean 'depth'? Valid arguments: depth, "
                                     "se_ratio, in_channels, "),
])
def test_misspelt_backbone_argument_as_a_user_sees_it(cfg, said):
    from imgcls.models import BACKBONES
    with pytest.raises(BuildError) as e:
        BACKBONES.build(cfg, path='model.backbone')
    text = str(e.value)
    assert text.startswith(f"model.backbone (type={cfg['type']!r}): TypeError: {said}")
    assert text.endswith('init_cfg.') or text.endswith('drop_path_rate.')


def test_error_raised_inside_a_constructor_lists_no_arguments(parts):
    reg, _ = parts

    @reg.register_module()
    class Picky:
        def __init__(self, size=1):
            raise TypeError(f'size must be an int, got {size!r}')

    with pytest.raises(BuildError) as e:
        build_from_cfg(dict(type='Picky', size='a'), reg, path='model.neck')
    assert str(e.value) == "model.neck (type='Picky'): TypeError: size must be an int, got 'a'"


def test_foreign_scope_prefixes_resolve(parts):
    reg, _ = parts

    @reg.register_module()
    class Alpha:
        pass

    assert reg.get('mmcls.Alpha') is Alpha and reg.get('mmpretrain.Alpha') is Alpha
