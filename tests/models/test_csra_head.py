"""CSRAClsHead: the class-specific residual attention by hand, mmcls checkpoints, config errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from zoo_checks import check_mmcls_fixture

from imgcls.errors import ConfigError
from imgcls.models.builder import build_head


def test_mmcls_checkpoint_loads_strictly_with_the_same_scores(tmp_path):
    # the random ResNet gives scores in the hundreds, where fp32 resolves ~3e-5: compare relatively
    model = check_mmcls_fixture('csra', tmp_path, rtol=1e-5)
    assert [h.T for h in model.head.csra_heads] == [1, 2, 4, 99]


def test_scores_by_hand():
    torch.manual_seed(0)
    head = build_head(dict(type='CSRAClsHead', num_classes=3, in_channels=4, num_heads=2, lam=0.5))
    x = torch.randn(2, 4, 3, 3)
    expected = 0
    for module, temperature in zip(head.csra_heads, (1, 'max')):
        w = module.head.weight.view(3, 4)
        score = torch.einsum('nchw,kc->nkhw', x, w / w.norm(dim=1, keepdim=True)).flatten(2)
        if temperature == 'max':
            attention = score.amax(dim=2)
        else:
            attention = (score * F.softmax(score, dim=2)).sum(dim=2)
        expected = expected + score.mean(dim=2) + 0.5 * attention
    with torch.no_grad():
        torch.testing.assert_close(head.simple_test((x,), sigmoid=False, post_process=False), expected)
        torch.testing.assert_close(head.simple_test((x,), post_process=False), torch.sigmoid(expected))
    labels = torch.tensor([[1, 0, -1], [0, 1, 0]])  # -1: difficult, a positive in the loss
    loss = head.forward_train((x,), labels)['loss']
    target = labels.abs().float()
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(expected, target, reduction='sum') / 2)


def test_config_errors_name_the_argument():
    with pytest.raises(ConfigError, match=r'num_heads=3 must be one of \[1, 2, 4, 6, 8\]'):
        build_head(dict(type='CSRAClsHead', num_classes=3, in_channels=4, num_heads=3, lam=0.1))
    with pytest.raises(ConfigError, match='lam=0 must be a positive number'):
        build_head(dict(type='CSRAClsHead', num_classes=3, in_channels=4, num_heads=1, lam=0))
    head = build_head(dict(type='CSRAClsHead', num_classes=3, in_channels=4, num_heads=1, lam=0.1))
    with pytest.raises(ValueError, match=r'needs \(N, C, H, W\) feature maps'):
        head(torch.randn(2, 4))
