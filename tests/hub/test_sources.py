"""Weights by source: torchvision://, timm/ (Hugging Face cache), URLs and paths, in get_model and init_cfg."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
import torch

from imgcls import Config
from imgcls.errors import CheckpointError
from imgcls.hub import sources
from imgcls.hub.api import get_model

CONFIG = 'resnet18_8xb32_in1k'  # a shipped config: ResNet-18 with a 1000-class head


def _logits(model, x):
    model.eval()
    with torch.no_grad():
        return model(x) if not hasattr(model, 'simple_test') else model.head.fc(model.neck(model.backbone(x))[-1])


@pytest.fixture(scope='module')
def torchvision_resnet18():
    torchvision = pytest.importorskip('torchvision')
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    for m in model.modules():  # non-trivial BN statistics, so a wrong mapping shows in the logits
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return model, buffer.getvalue()


@pytest.mark.slow  # ~10 s: torchvision's ResNet-18 is built, saved, served and compared
def test_torchvision_weights_convert_on_load_in_get_model_and_init_cfg(server, monkeypatch, torchvision_resnet18):
    reference, data = torchvision_resnet18
    monkeypatch.setitem(sources.TORCHVISION_URLS, 'resnet18', server.add('resnet18-{sha}.pth', data))
    x = torch.randn(2, 3, 64, 64)
    model = get_model(CONFIG, pretrained='torchvision://resnet18')
    torch.testing.assert_close(_logits(model, x), reference(x), rtol=1e-4, atol=1e-4)

    init = dict(type='Pretrained', checkpoint='torchvision://resnet18', prefix='backbone')
    via_init = get_model(CONFIG, backbone=dict(init_cfg=init), head=dict(num_classes=7))
    assert torch.equal(via_init.backbone.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)
    assert via_init.head.fc.weight.shape == (7, 512)
    assert sum(server.requests.values()) == 1  # the second use came from the cache


def test_unknown_torchvision_names_and_old_schemes_are_explained():
    with pytest.raises(CheckpointError, match=r'torchvision://resnet51: no such torchvision weights among the '
                                              r'families imgcls converts. Did you mean resnet50, resnet18'):
        sources.load_checkpoint('torchvision://resnet51')
    with pytest.raises(CheckpointError, match='open-mmlab://resnet50: the mmcv model-zoo schemes are not supported'):
        sources.load_checkpoint('open-mmlab://resnet50')


def _hf_cache_with(tmp_path, monkeypatch, repo_id: str, state: dict):
    """A Hugging Face hub cache holding ``repo_id``'s model.safetensors, as a download would have left it."""
    pytest.importorskip('huggingface_hub')
    from huggingface_hub import constants
    from safetensors.torch import save_file
    cache = tmp_path / 'hf'
    repo = cache / ('models--' + repo_id.replace('/', '--'))
    commit = '0' * 40
    (repo / 'refs').mkdir(parents=True)
    (repo / 'refs' / 'main').write_text(commit)
    snapshot = repo / 'snapshots' / commit
    snapshot.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(snapshot / 'model.safetensors'))
    monkeypatch.setattr(constants, 'HF_HUB_CACHE', str(cache))
    monkeypatch.setenv('IMGCLS_OFFLINE', '1')  # never the network: the file must come from the cache


@pytest.mark.slow  # ~5 s, most of it importing timm
def test_timm_hub_ids_load_safetensors_from_the_hf_cache(tmp_path, monkeypatch):
    timm = pytest.importorskip('timm')
    torch.manual_seed(1)
    reference = timm.create_model('resnet18', pretrained=False).eval()
    _hf_cache_with(tmp_path, monkeypatch, 'timm/resnet18.a1_in1k', reference.state_dict())
    model = get_model(CONFIG, pretrained='timm/resnet18.a1_in1k')
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(_logits(model, x), reference(x), rtol=1e-4, atol=1e-4)


def test_a_timm_id_missing_offline_says_so(tmp_path, monkeypatch):
    _hf_cache_with(tmp_path, monkeypatch, 'timm/other', {'w': torch.zeros(1)})
    with pytest.raises(CheckpointError, match=r'timm/resnet18.a1_in1k: offline \(IMGCLS_OFFLINE or HF_HUB_OFFLINE\) '
                                              'and not in the Hugging Face cache'):
        sources.load_checkpoint('timm/resnet18.a1_in1k')


def test_a_local_path_and_a_url_load_alike(server, tmp_path):
    tiny = Config(dict(model=dict(type='ImageClassifier', neck=dict(type='GlobalAveragePooling'),
                                  backbone=dict(type='ResNet_CIFAR', depth=18, stem_channels=4, base_channels=4),
                                  head=dict(type='LinearClsHead', num_classes=3, in_channels=32))))
    state = get_model(tiny).state_dict()
    path = tmp_path / 'mine.pth'
    torch.save({'state_dict': state}, path)
    url = server.add('mine-{sha}.pth', path.read_bytes())
    for source in (str(path), url):
        loaded = get_model(tiny, pretrained=source)
        assert torch.equal(loaded.backbone.conv1.weight, state['backbone.conv1.weight'])


@pytest.mark.slow  # a fresh interpreter (~5 s): HF_HUB_OFFLINE is read when huggingface_hub is imported
def test_hf_hub_offline_alone_keeps_timm_ids_off_the_network(tmp_path):
    pytest.importorskip('huggingface_hub')
    code = ('from imgcls.hub.sources import load_checkpoint\n'
            'try:\n    load_checkpoint("timm/resnet18.a1_in1k")\n'
            'except Exception as e:\n    print(type(e).__name__, e)\n')
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'HF_HUB_CACHE': str(tmp_path / 'hf')}
    env.pop('IMGCLS_OFFLINE', None)
    out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, timeout=300).stdout
    assert out.startswith('CheckpointError timm/resnet18.a1_in1k: offline (IMGCLS_OFFLINE or HF_HUB_OFFLINE) and '
                          f'not in the Hugging Face cache ({tmp_path / "hf"})'), out
