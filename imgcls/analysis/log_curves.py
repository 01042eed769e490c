"""Training curves from ``log.jsonl`` files: several runs overlaid, train keys per iteration, val keys per epoch."""

from __future__ import annotations

import io
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..errors import ConfigError, DataError
from ..fileio import atomic_write_bytes

# the x axis of each record mode: training steps are logged per iteration, evaluations per epoch
X_KEY = {'train': 'iter', 'val': 'epoch'}


@dataclass
class RunLog:
    """The records of one ``log.jsonl``, split by mode."""

    path: Path
    train: list[dict] = field(default_factory=list)
    val: list[dict] = field(default_factory=list)

    def records(self, mode: str) -> list[dict]:
        return self.train if mode == 'train' else self.val

    def keys(self, mode: str) -> set[str]:
        return {k for r in self.records(mode) for k, v in r.items() if _is_number(v)} - {'epoch', 'iter'}


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def read_log(path: str | Path) -> RunLog:
    """Parse a ``log.jsonl``; a truncated last line (a run killed mid-write) is skipped with a warning."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f'log file {path} does not exist; training writes WORK_DIR/log.jsonl')
    lines = path.read_text(encoding='utf-8', errors='replace').splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    run = RunLog(path)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError('not a JSON object')
        except ValueError as e:
            if number == len(lines):
                warnings.warn(f'{path}: skipped the malformed last line {number} (a run stopped while '
                              f'writing it?): {line[:80]!r}', stacklevel=2)
                continue
            raise DataError(f'{path} line {number} is not a JSON object ({e}): {line[:80]!r}') from None
        mode = record.get('mode', 'train')
        if mode in X_KEY and _is_number(record.get(X_KEY[mode])):
            run.records(mode).append(record)
    return run


def series(run: RunLog, mode: str, key: str) -> tuple[list[float], list[float]]:
    """(x, y) of ``key`` in ``mode`` records; a resumed run that re-logs earlier steps replaces them."""
    xs: list[float] = []
    ys: list[float] = []
    for record in run.records(mode):
        value = record.get(key)
        if not _is_number(value) or not math.isfinite(value):
            continue
        x = record[X_KEY[mode]]
        while xs and xs[-1] >= x:  # resumed from an earlier checkpoint: keep the newer values
            xs.pop()
            ys.pop()
        xs.append(x)
        ys.append(value)
    return xs, ys


def default_legends(paths: list[Path]) -> list[str]:
    """The work-dir name of each log, or its path where those names repeat."""
    names = [p.parent.name or str(p) for p in paths]
    return names if len(set(names)) == len(names) else [str(p) for p in paths]


def plot_curves(logs: list[str | Path], keys: list[str], out: str | Path, legends: list[str] | None = None,
                title: str | None = None) -> list[tuple[str, str]]:
    """Plot ``keys`` of every log into one PNG (one panel per key and mode); returns the panels drawn."""
    runs = [read_log(p) for p in logs]
    if legends is not None and len(legends) != len(runs):
        raise ConfigError(f'--legend has {len(legends)} names for {len(runs)} log files; give one per log')
    legends = legends or default_legends([r.path for r in runs])
    panels = [(key, mode) for key in keys for mode in ('train', 'val') if any(key in r.keys(mode) for r in runs)]
    missing = [k for k in keys if not any(k == key for key, _ in panels)]
    if missing:
        available = sorted({f'{k}' for r in runs for m in X_KEY for k in r.keys(m)})
        raise ConfigError(f'--keys {", ".join(missing)}: not in any of the logs; the logs have: '
                          f'{", ".join(available) or "(no numeric values)"}')
    fig = new_figure((8, 3.2 * len(panels)))
    axes = fig.subplots(len(panels), 1, squeeze=False)
    for ax, (key, mode) in zip(axes[:, 0], panels):
        all_x: list[float] = []
        for run, name in zip(runs, legends):
            xs, ys = series(run, mode, key)
            all_x += xs
            if xs:
                ax.plot(xs, ys, marker='o' if mode == 'val' or len(xs) < 20 else None, markersize=3, label=name)
        if all_x and max(all_x) - min(all_x) < 1:  # a single epoch or step: show its neighbours, not 0.95..1.05
            ax.set_xlim(min(all_x) - 1, max(all_x) + 1)
        ax.set_xlabel(X_KEY[mode])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 0.96
        ax.set_ylabel(key)
        ax.set_title(f'{key} ({mode})')
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, out)
    return panels


def new_figure(figsize: tuple[float, float]):
    """A matplotlib Figure on the Agg canvas, without pyplot (no global backend or figure state)."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, out: str | Path, dpi: int = 100) -> None:
    """Save a matplotlib figure as PNG atomically (the directory is created)."""
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=dpi)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, buf.getvalue())
