"""Learning-rate policies from mmcls 0.x ``lr_config``, with warmup, as runner hooks.

``lr_config=dict(policy='step', step=[30, 60], warmup='linear', warmup_iters=500, warmup_ratio=0.1)``.
With ``by_epoch=True`` (the default, as in mmcls) the regular schedule advances once per epoch and
warmup once per iteration; with ``by_epoch=False`` both advance every iteration.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ...errors import ConfigError
from .hook import HOOKS, Hook


def annealing_cos(start: float, end: float, factor: float) -> float:
    """Cosine interpolation from ``start`` (factor 0) to ``end`` (factor 1)."""
    return end + 0.5 * (start - end) * (math.cos(math.pi * factor) + 1)


def annealing_linear(start: float, end: float, factor: float) -> float:
    return start + (end - start) * factor


class LrUpdaterHook(Hook):
    """Sets every param group's lr before each iteration; subclasses define ``get_lr``."""

    priority = 'VERY_HIGH'

    def __init__(self, by_epoch: bool = True, warmup: str | None = None, warmup_iters: int = 0,
                 warmup_ratio: float = 0.1, warmup_by_epoch: bool = False):
        if warmup is not None and warmup not in ('constant', 'linear', 'exp'):
            raise ConfigError(f'lr_config.warmup={warmup!r} is not supported; use "constant", "linear", '
                              '"exp" or None')
        if warmup is not None and (not isinstance(warmup_iters, int) or warmup_iters <= 0):
            raise ConfigError(f'lr_config.warmup_iters must be a positive int when warmup is set, '
                              f'got {warmup_iters!r}')
        if not 0 < warmup_ratio <= 1.0:
            raise ConfigError(f'lr_config.warmup_ratio must be in (0, 1], got {warmup_ratio!r}')
        self.by_epoch = by_epoch
        self.warmup = warmup
        self.warmup_iters = warmup_iters
        self.warmup_ratio = warmup_ratio
        self.warmup_by_epoch = warmup_by_epoch
        self.warmup_epochs = warmup_iters if warmup_by_epoch else None
        self.base_lr: list[float] = []

    # -- the schedule ---------------------------------------------------------------
    def get_lr(self, runner, base_lr: float) -> float:
        raise NotImplementedError

    def progress(self, runner) -> tuple[int, int]:
        """(current, total) in epochs or iterations, as ``by_epoch`` says."""
        if self.by_epoch:
            return runner.epoch, runner.max_epochs
        return runner.iter, runner.max_iters

    def regular_lrs(self, runner) -> list[float]:
        return [self.get_lr(runner, lr) for lr in self.base_lr]

    def warmup_lrs(self, cur_iter: int, regular: list[float]) -> list[float]:
        if self.warmup == 'constant':
            return [lr * self.warmup_ratio for lr in regular]
        if self.warmup == 'linear':
            k = (1 - cur_iter / self.warmup_iters) * (1 - self.warmup_ratio)
            return [lr * (1 - k) for lr in regular]
        k = self.warmup_ratio ** (1 - cur_iter / self.warmup_iters)
        return [lr * k for lr in regular]

    def lrs_at(self, runner) -> list[float]:
        """The lr of each param group at the runner's current epoch/iter (also used for plotting)."""
        regular = self.regular_lrs(runner)
        if self.warmup is not None and runner.iter < self.warmup_iters:
            return self.warmup_lrs(runner.iter, regular)
        return regular

    # -- hook points ----------------------------------------------------------------
    def before_run(self, runner) -> None:
        for group in runner.optimizer.param_groups:
            group.setdefault('initial_lr', group['lr'])
        self.base_lr = [group['initial_lr'] for group in runner.optimizer.param_groups]

    def before_train_epoch(self, runner) -> None:
        if self.warmup_by_epoch:
            self.warmup_iters = self.warmup_epochs * runner.iters_per_epoch

    def before_train_iter(self, runner) -> None:
        for group, lr in zip(runner.optimizer.param_groups, self.lrs_at(runner)):
            group['lr'] = lr


@HOOKS.register_module(name=['FixedLrUpdaterHook', 'fixed', 'Fixed'])
class FixedLrUpdaterHook(LrUpdaterHook):
    """Constant lr (after the optional warmup)."""

    def get_lr(self, runner, base_lr):
        return base_lr


@HOOKS.register_module(name=['StepLrUpdaterHook', 'step', 'Step'])
class StepLrUpdaterHook(LrUpdaterHook):
    """Multiply by ``gamma`` every ``step`` epochs (int) or at each listed epoch (multi-step)."""

    def __init__(self, step: int | Sequence[int], gamma: float = 0.1, min_lr: float | None = None, **kwargs):
        if isinstance(step, int):
            if step <= 0:
                raise ConfigError(f'lr_config.step must be positive, got {step}')
        elif not (isinstance(step, (list, tuple)) and all(isinstance(s, int) and s > 0 for s in step)):
            raise ConfigError(f'lr_config.step must be an int or a list of positive ints, got {step!r}')
        self.step = step if isinstance(step, int) else sorted(step)
        self.gamma = gamma
        self.min_lr = min_lr
        super().__init__(**kwargs)

    def get_lr(self, runner, base_lr):
        cur, _ = self.progress(runner)
        if isinstance(self.step, int):
            exp = cur // self.step
        else:
            exp = sum(1 for s in self.step if cur >= s)
        lr = base_lr * self.gamma ** exp
        return max(lr, self.min_lr) if self.min_lr is not None else lr


def _target_lr(base_lr: float, min_lr: float | None, min_lr_ratio: float | None) -> float:
    return base_lr * min_lr_ratio if min_lr_ratio is not None else (min_lr or 0.0)


def _check_min_lr(min_lr, min_lr_ratio):
    if (min_lr is None) == (min_lr_ratio is None):
        raise ConfigError('lr_config needs exactly one of min_lr and min_lr_ratio')


@HOOKS.register_module(name=['CosineAnnealingLrUpdaterHook', 'CosineAnnealing', 'cosine', 'Cosine'])
class CosineAnnealingLrUpdaterHook(LrUpdaterHook):
    """Cosine decay from the base lr to ``min_lr`` (or ``base * min_lr_ratio``) over the run."""

    def __init__(self, min_lr: float | None = None, min_lr_ratio: float | None = None, **kwargs):
        if min_lr is None and min_lr_ratio is None:
            min_lr = 0.0
        _check_min_lr(min_lr, min_lr_ratio)
        self.min_lr, self.min_lr_ratio = min_lr, min_lr_ratio
        super().__init__(**kwargs)

    def get_lr(self, runner, base_lr):
        cur, total = self.progress(runner)
        return annealing_cos(base_lr, _target_lr(base_lr, self.min_lr, self.min_lr_ratio), cur / total)


@HOOKS.register_module(name=['CosineAnnealingCooldownLrUpdaterHook', 'CosineAnnealingCooldown'])
class CosineAnnealingCooldownLrUpdaterHook(CosineAnnealingLrUpdaterHook):
    """Cosine decay to the target lr over all but the last ``cool_down_time`` epochs (or iterations), then
    ``target * cool_down_ratio`` for those (mmcls 0.x, used by its T2T-ViT recipes)."""

    def __init__(self, min_lr: float | None = None, min_lr_ratio: float | None = None, cool_down_ratio: float = 0.1,
                 cool_down_time: int = 10, **kwargs):
        if not isinstance(cool_down_time, int) or cool_down_time < 0:
            raise ConfigError(f'lr_config.cool_down_time must be an int >= 0, got {cool_down_time!r}')
        self.cool_down_ratio, self.cool_down_time = cool_down_ratio, cool_down_time
        super().__init__(min_lr=min_lr, min_lr_ratio=min_lr_ratio, **kwargs)

    def get_lr(self, runner, base_lr):
        cur, total = self.progress(runner)
        target = _target_lr(base_lr, self.min_lr, self.min_lr_ratio)
        anneal_end = total - self.cool_down_time
        if cur > anneal_end or anneal_end <= 0:
            return target * self.cool_down_ratio
        return annealing_cos(base_lr, target, cur / anneal_end)


@HOOKS.register_module(name=['LinearAnnealingLrUpdaterHook', 'LinearAnnealing', 'linear', 'Linear'])
class LinearAnnealingLrUpdaterHook(CosineAnnealingLrUpdaterHook):
    """Linear decay from the base lr to ``min_lr`` over the run."""

    def get_lr(self, runner, base_lr):
        cur, total = self.progress(runner)
        return annealing_linear(base_lr, _target_lr(base_lr, self.min_lr, self.min_lr_ratio), cur / total)


@HOOKS.register_module(name=['PolyLrUpdaterHook', 'poly', 'Poly'])
class PolyLrUpdaterHook(LrUpdaterHook):
    """``(base - min_lr) * (1 - progress) ** power + min_lr``."""

    def __init__(self, power: float = 1.0, min_lr: float = 0.0, **kwargs):
        self.power, self.min_lr = power, min_lr
        super().__init__(**kwargs)

    def get_lr(self, runner, base_lr):
        cur, total = self.progress(runner)
        return (base_lr - self.min_lr) * (1 - cur / total) ** self.power + self.min_lr


@HOOKS.register_module(name=['ExpLrUpdaterHook', 'exp', 'Exp'])
class ExpLrUpdaterHook(LrUpdaterHook):
    """``base * gamma ** progress``."""

    def __init__(self, gamma: float, **kwargs):
        self.gamma = gamma
        super().__init__(**kwargs)

    def get_lr(self, runner, base_lr):
        cur, _ = self.progress(runner)
        return base_lr * self.gamma ** cur


@HOOKS.register_module(name=['CosineRestartLrUpdaterHook', 'CosineRestart'])
class CosineRestartLrUpdaterHook(LrUpdaterHook):
    """Cosine annealing restarted at the end of each period (SGDR); ``restart_weights`` scale each."""

    def __init__(self, periods: Sequence[int], restart_weights: Sequence[float] = (1,),
                 min_lr: float | None = None, min_lr_ratio: float | None = None, **kwargs):
        if min_lr is None and min_lr_ratio is None:
            min_lr = 0.0
        _check_min_lr(min_lr, min_lr_ratio)
        if len(periods) != len(restart_weights):
            raise ConfigError(f'lr_config.periods ({len(periods)}) and restart_weights '
                              f'({len(restart_weights)}) must have the same length')
        self.periods, self.restart_weights = list(periods), list(restart_weights)
        self.min_lr, self.min_lr_ratio = min_lr, min_lr_ratio
        self.cumulative = [sum(self.periods[:i + 1]) for i in range(len(self.periods))]
        super().__init__(**kwargs)

    def get_lr(self, runner, base_lr):
        cur, _ = self.progress(runner)
        target = _target_lr(base_lr, self.min_lr, self.min_lr_ratio)
        for i, end in enumerate(self.cumulative):
            if cur < end:
                start = end - self.periods[i]
                factor = (cur - start) / self.periods[i]
                return annealing_cos(base_lr * self.restart_weights[i], target, factor)
        return target


@HOOKS.register_module(name=['OneCycleLrUpdaterHook', 'OneCycle'])
class OneCycleLrUpdaterHook(LrUpdaterHook):
    """The 1cycle policy (Smith & Topin): up to ``max_lr`` then down to ``max_lr / div / final_div``.

    Always per iteration. ``max_lr`` defaults to each group's configured lr.
    """

    def __init__(self, max_lr: float | None = None, total_steps: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = 'cos', div_factor: float = 25, final_div_factor: float = 1e4,
                 three_phase: bool = False, **kwargs):
        if anneal_strategy not in ('cos', 'linear'):
            raise ConfigError(f'lr_config.anneal_strategy must be "cos" or "linear", got {anneal_strategy!r}')
        if not 0 < pct_start < 1:
            raise ConfigError(f'lr_config.pct_start must be in (0, 1), got {pct_start}')
        kwargs['by_epoch'] = False
        self.max_lr, self.total_steps, self.pct_start = max_lr, total_steps, pct_start
        self.anneal = annealing_cos if anneal_strategy == 'cos' else annealing_linear
        self.div_factor, self.final_div_factor, self.three_phase = div_factor, final_div_factor, three_phase
        super().__init__(**kwargs)

    def get_lr(self, runner, base_lr):
        peak = self.max_lr if self.max_lr is not None else base_lr
        total = self.total_steps or runner.max_iters
        initial, final = peak / self.div_factor, peak / self.div_factor / self.final_div_factor
        up_end = self.pct_start * total - 1
        if self.three_phase:
            phases = [(up_end, initial, peak), (2 * up_end, peak, initial), (total - 1, initial, final)]
        else:
            phases = [(up_end, initial, peak), (total - 1, peak, final)]
        start_step, cur = 0.0, min(runner.iter, total - 1)
        for end_step, lr_from, lr_to in phases:
            if cur <= end_step or end_step == phases[-1][0]:
                span = max(end_step - start_step, 1e-12)
                return self.anneal(lr_from, lr_to, min(max((cur - start_step) / span, 0.0), 1.0))
            start_step = end_step
        return final


def build_lr_updater(lr_config: dict | None) -> LrUpdaterHook | None:
    """Build the lr hook from ``lr_config`` (``policy`` names the schedule)."""
    if lr_config is None:
        return None
    cfg = dict(lr_config)
    if 'policy' not in cfg and 'type' not in cfg:
        raise ConfigError(f'lr_config needs a "policy" key (step, CosineAnnealing, poly, exp, fixed, '
                          f'CosineRestart, CosineAnnealingCooldown, OneCycle, linear), got {cfg!r}')
    policy = cfg.pop('policy', None) or cfg.pop('type')
    if isinstance(policy, str) and policy not in HOOKS and policy + 'LrUpdaterHook' in HOOKS:
        policy = policy + 'LrUpdaterHook'
    if isinstance(policy, str) and policy.lower() in ('step', 'poly', 'exp', 'fixed', 'linear', 'cosine'):
        policy = policy.lower()
    return HOOKS.build(dict(type=policy, **cfg), path='lr_config')
