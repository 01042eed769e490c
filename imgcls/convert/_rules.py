"""Renaming state-dict keys by ordered regular-expression rules (shared by the converters)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import torch

from ..errors import CheckpointError

# (pattern matched against the whole key, replacement: a template with \1..., a function of the match,
# or None to drop the key)
Rule = tuple[str, 'str | Callable[[re.Match], str] | None']


def rename_keys(state_dict: dict[str, torch.Tensor], rules: Sequence[Rule], what: str) -> dict[str, torch.Tensor]:
    """Apply the first matching rule to each key; a key no rule matches is an error naming it."""
    compiled = [(re.compile(pattern), repl) for pattern, repl in rules]
    out, unknown = {}, []
    for key, value in state_dict.items():
        for pattern, repl in compiled:
            match = pattern.fullmatch(key)
            if match is None:
                continue
            if repl is not None:
                out[repl(match) if callable(repl) else match.expand(repl)] = value
            break
        else:
            unknown.append(key)
    if unknown:
        raise CheckpointError(f'{what}: {len(unknown)} key(s) have no place in the imgcls model, e.g. '
                              f'{", ".join(unknown[:5])}; is this checkpoint a variant imgcls does not implement?')
    return out
