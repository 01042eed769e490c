"""The hook protocol: the runner calls these methods at fixed points of training."""

from __future__ import annotations

from ...errors import ConfigError
from ...registry import Registry

HOOKS = Registry('hook')

PRIORITIES = {
    'HIGHEST': 0, 'VERY_HIGH': 10, 'HIGH': 30, 'ABOVE_NORMAL': 40, 'NORMAL': 50,
    'BELOW_NORMAL': 60, 'LOW': 70, 'VERY_LOW': 90, 'LOWEST': 100,
}


def get_priority(priority: int | str) -> int:
    """Turn ``'NORMAL'`` or ``50`` into an int in [0, 100]; lower runs first."""
    if isinstance(priority, str):
        if priority.upper() not in PRIORITIES:
            raise ConfigError(f'unknown hook priority {priority!r}; use one of {", ".join(PRIORITIES)} '
                              'or an int from 0 (first) to 100 (last)')
        return PRIORITIES[priority.upper()]
    if isinstance(priority, int) and 0 <= priority <= 100:
        return priority
    raise ConfigError(f'hook priority must be an int in [0, 100] or a name, got {priority!r}')


class Hook:
    """Base class: override the points you need. ``runner`` gives access to everything."""

    priority = 'NORMAL'

    def before_run(self, runner) -> None:
        pass

    def after_run(self, runner) -> None:
        pass

    def before_train_epoch(self, runner) -> None:
        pass

    def after_train_epoch(self, runner) -> None:
        pass

    def before_train_iter(self, runner) -> None:
        pass

    def after_train_iter(self, runner) -> None:
        pass

    def before_val_epoch(self, runner) -> None:
        pass

    def after_val_epoch(self, runner) -> None:
        pass

    # extra state saved in checkpoints (e.g. EMA weights); None when the hook has none
    def state_dict(self) -> dict | None:
        return None

    def load_state_dict(self, state: dict) -> None:
        pass

    @staticmethod
    def every_n_epochs(runner, n: int) -> bool:
        return n > 0 and (runner.epoch + 1) % n == 0

    @staticmethod
    def every_n_iters(runner, n: int) -> bool:
        return n > 0 and (runner.iter + 1) % n == 0

    @staticmethod
    def every_n_inner_iters(runner, n: int) -> bool:
        return n > 0 and (runner.inner_iter + 1) % n == 0

    @staticmethod
    def end_of_epoch(runner) -> bool:
        return runner.inner_iter + 1 == runner.iters_per_epoch
