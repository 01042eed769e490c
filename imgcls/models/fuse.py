"""Fold eval-mode BatchNorm layers into the convolutions that feed them, for faster inference.

In evaluation a BatchNorm is a fixed per-channel affine map, so ``bn(conv(x))`` equals one convolution
with rescaled weights and a bias (Ioffe & Szegedy 2015; Jacob et al. 2018, section 3.2). Folding removes a
full read and write of every such activation: on a 2-core CPU, about an eighth of a ResNet-50's bf16
inference time (BENCHMARKS.md).

Which BatchNorm follows which convolution is read from a ``torch.fx`` trace of the forward, never guessed
from the order modules were registered in: a pair is folded only when the trace shows the convolution's
output going to that BatchNorm and nowhere else, and both modules are called exactly once. A module whose
forward cannot be traced (data-dependent control flow) is searched child by child instead; what still
cannot be traced stays as it is. The model keeps its classes and attribute names: folded convolutions gain
a bias and their BatchNorms become ``nn.Identity``.
"""

from __future__ import annotations

import logging

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .classifiers.base import BaseClassifier

logger = logging.getLogger(__name__)

# exact types only: a subclass may override forward, and then folding would not be exact
_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def _foldable_norm(module: nn.Module) -> bool:
    return (type(module) in _NORMS and module.track_running_stats and module.running_mean is not None
            and module.running_var is not None)


def _has_foldable_norm(module: nn.Module) -> bool:
    return any(_foldable_norm(m) for m in module.modules())


def _pairs(graph: torch.fx.Graph, root: nn.Module) -> list[tuple[str, str]]:
    """(conv name, norm name) pairs the trace shows as ``norm(conv(x))`` with nothing else using either."""
    calls: dict[str, int] = {}
    attr_uses: list[str] = []
    for node in graph.nodes:
        if node.op == 'call_module':
            calls[node.target] = calls.get(node.target, 0) + 1
        elif node.op == 'get_attr':
            attr_uses.append(node.target)

    def used_only_by_call(name: str) -> bool:
        # a module called twice (weights shared) or whose tensors the forward reads directly is left alone
        return calls.get(name) == 1 and not any(a == name or a.startswith(name + '.') for a in attr_uses)

    pairs = []
    for node in graph.nodes:
        if node.op != 'call_module' or len(node.args) != 1 or node.kwargs:
            continue
        norm = root.get_submodule(node.target)
        src = node.args[0]
        if not (_foldable_norm(norm) and isinstance(src, torch.fx.Node) and src.op == 'call_module'):
            continue
        conv = root.get_submodule(src.target)
        if (type(conv) in _CONVS and len(src.users) == 1 and conv.out_channels == norm.num_features
                and used_only_by_call(src.target) and used_only_by_call(node.target)):
            pairs.append((src.target, node.target))
    return pairs


def _replace(root: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, attr = name.rpartition('.')
    setattr(root.get_submodule(parent) if parent else root, attr, new)


def _fold(module: nn.Module) -> int:
    if not _has_foldable_norm(module):
        return 0
    try:
        graph = torch.fx.Tracer().trace(module)
    except Exception as exc:  # noqa: BLE001 - any tracing failure means: look inside instead
        logger.debug('fuse_conv_bn: cannot trace %s (%s); trying its children', type(module).__name__, exc)
        return sum(_fold(child) for child in module.children())
    pairs = _pairs(graph, module)
    for conv_name, norm_name in pairs:
        conv, norm = module.get_submodule(conv_name), module.get_submodule(norm_name)
        _replace(module, conv_name, fuse_conv_bn_eval(conv, norm))
        _replace(module, norm_name, nn.Identity())
    return len(pairs)


@torch.no_grad()
def fuse_conv_bn(model: nn.Module) -> int:
    """Fold every BatchNorm that directly follows a convolution into it, in place; return how many were folded.

    The model must be in eval mode, and stays an inference model: the folded BatchNorms are gone, so training
    it afterwards would train without them. Build a fresh model (or keep a copy) to train.
    """
    if model.training:
        raise ValueError('fuse_conv_bn folds BatchNorm running statistics, which only eval mode uses: call '
                         'model.eval() first (and keep an unfused copy if you want to train)')
    count = _fold(model)
    if isinstance(model, BaseClassifier):  # a classifier keeps the count (BaseClassifier.fused_conv_bn)
        model.fused_conv_bn += count
    return count
