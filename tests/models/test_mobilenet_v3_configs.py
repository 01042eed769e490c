"""MobileNetV3-Small on CIFAR-10: the mmcls 0.25 config whose model base file mmcls's own wheel lacks."""

from __future__ import annotations

import torch
from mmcls_family_checks import CONFIGS, config_params

from imgcls import Config
from imgcls.apis import build_model, prepare_config

# backbone 927,008 (MobileNetV3-Small up to its 576-channel conv: torchvision's mobilenet_v3_small features),
# then the head: 576*1280+1280 + 1280*10+10
CIFAR_PARAMS = 927_008 + 738_560 + 12_810


def test_cifar_config_builds_with_its_published_head():
    assert config_params('mobilenet_v3/mobilenet-v3-small_8xb16_cifar10.py') == CIFAR_PARAMS


def test_cifar_config_classifies_32px_images():
    cfg = Config.fromfile(CONFIGS / 'mobilenet_v3' / 'mobilenet-v3-small_8xb16_cifar10.py')
    assert cfg.lr_config.step == [120, 170] and cfg.runner.max_epochs == 200
    prepare_config(cfg)
    model = build_model(cfg).eval()
    with torch.no_grad():
        scores = model.simple_test(torch.randn(2, 3, 32, 32), post_process=False)
    assert scores.shape == (2, 10)
