"""The model index: published names and facts, what builds now, what waits for which work, `imgcls list models`."""

from __future__ import annotations

import re

import pytest
import torch

import imgcls
from imgcls.cli.main import main
from imgcls.errors import ConfigError
from imgcls.hub.api import availability, get_model
from imgcls.hub.index import model_info, shipped_config
from imgcls.models.builder import BACKBONES

CIFAR = 'resnet18_8xb16_cifar10'
CIFAR_WEIGHTS = ('https://download.openmmlab.com/mmclassification/v0/resnet/'
                 'resnet18_b16x8_cifar10_20210528-bd6371c8.pth')


def test_the_index_holds_mmcls_0_25_published_models_and_their_numbers():
    names = imgcls.list_models()
    assert len(names) == 199 and names == sorted(names)
    info = model_info(CIFAR)  # numbers as mmcls 0.25's resnet metafile publishes them
    assert (info.config, info.weights, info.dataset) == ('configs/resnet/resnet18_8xb16_cifar10.py', CIFAR_WEIGHTS,
                                                         'CIFAR-10')
    assert (info.top1, info.top5, info.params, info.flops) == (94.82, None, 11170000, 560000000)
    assert model_info('resnet50_8xb32_in1k').top5 == 93.06


def test_the_package_exports_the_hub():
    assert imgcls.get_model is get_model and 'list_models' in imgcls.__all__


def test_patterns_are_wildcards_or_substrings():
    assert imgcls.list_models('resnet18_*') == ['resnet18_8xb16_cifar10', 'resnet18_8xb32_in1k']
    assert imgcls.list_models('cub') == ['resnet50_8xb8_cub', 'swin-large_8xb8_cub_384px']
    assert imgcls.list_models('no-such-model') == []


def test_an_unknown_name_suggests_near_ones():
    with pytest.raises(ConfigError, match=r"'resnet18_8xb16_cifar' is not a published model name, a config file or "
                                          r'a shipped config. Did you mean resnet18_8xb16_cifar10'):
        get_model('resnet18_8xb16_cifar')


REPVGG = 'repvgg-A0_3rdparty_4xb64-coslr-120e_in1k'


@pytest.fixture
def without_repvgg():
    """The registry as it was before RepVGG landed (issue 13): the entry must say what it waits for."""
    registered = BACKBONES._module_dict.pop('RepVGG')
    try:
        yield
    finally:  # the real class again, in place of the stand-in a test may have registered
        BACKBONES._module_dict['RepVGG'] = registered


def test_what_imgcls_lacks_says_which_work_brings_it(without_repvgg):
    reason = availability(REPVGG)
    assert reason == ('needs RepVGG, which imgcls does not have yet: waits for the installed base, part 2 '
                      '(the convolutional families; issue 13)')
    with pytest.raises(ConfigError, match=re.escape(f"published model '{REPVGG}' "
                                                    f'cannot be built by imgcls yet: {reason}.')):
        get_model(REPVGG)


def test_registering_a_family_makes_its_entries_build(without_repvgg):
    assert availability(REPVGG) is not None

    @BACKBONES.register_module(name='RepVGG')
    class _Stub(torch.nn.Module):  # a stand-in: only its registration matters here
        def __init__(self, **kwargs):
            super().__init__()

    assert availability(REPVGG) is None  # decided from the registry at call time, not from a frozen list


def test_weights_only_entries_explain_how_to_use_them():
    assert availability('convnext-base_3rdparty_in21k').startswith('published as pretraining weights without a '
                                                                    'config: use its weights URL as load_from')


def test_get_model_builds_a_published_model_with_overrides():
    model = get_model(CIFAR, head=dict(num_classes=3))
    assert model.training  # eval mode is not implied
    assert model.head.fc.weight.shape == (3, 512)
    assert sum(p.numel() for n, p in model.named_parameters() if not n.startswith('head.')) == 11168832


def test_get_model_takes_a_shipped_config_name():
    assert get_model('resnet18_digits').backbone.conv1.in_channels == 1  # configs/resnet/resnet18_digits.py


def test_pretrained_true_uses_the_cached_published_file_offline(hub_cache, monkeypatch):
    source = get_model(CIFAR)
    hub_cache.mkdir(parents=True)
    torch.save({'state_dict': source.state_dict()}, hub_cache / CIFAR_WEIGHTS.rsplit('/', 1)[1])
    monkeypatch.setenv('IMGCLS_OFFLINE', '1')
    model = get_model(CIFAR, pretrained=True)
    assert torch.equal(model.backbone.layer3[0].conv1.weight, source.backbone.layer3[0].conv1.weight)
    with pytest.raises(ConfigError, match='pretrained=True needs a published model name with weights'):
        get_model(str(shipped_config(model_info(CIFAR).config)), pretrained=True)  # a config file has no weights


def test_cli_lists_models_with_their_numbers_and_status(capsys):
    assert main(['list', 'models', 'resnet18_*']) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == ['resnet18_8xb16_cifar10', 'resnet18_8xb32_in1k']
    assert out[0].split()[1:] == ['CIFAR-10', 'top-1', '94.82', '11.2M', 'builds']


def test_init_cfg_pretrained_is_kept_for_a_users_config_and_dropped_for_published_recipes(tmp_path, hub_cache,
                                                                                         monkeypatch):
    monkeypatch.setenv('IMGCLS_OFFLINE', '1')  # a download attempt would be an error naming the URL
    url = 'https://download.openmmlab.com/x/backbone-0123abcd.pth'
    config = tmp_path / 'mine.py'
    config.write_text("_base_ = '{}'\nmodel = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='{}', "
                      "prefix='backbone')))\n".format(shipped_config('resnet18_8xb16_cifar10'), url))
    with pytest.raises(imgcls.ImgclsError, match=f'IMGCLS_OFFLINE is set and {url} is not in the cache'):
        get_model(str(config))  # the user's config asked for these weights
    source = tmp_path / 'full.pth'
    torch.save({'state_dict': get_model(CIFAR).state_dict()}, source)
    assert get_model(str(config), pretrained=str(source)).head.fc.weight.shape == (10, 512)  # superseded
