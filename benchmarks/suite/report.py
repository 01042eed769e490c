"""Ratios, the issue-8 targets and the Markdown tables of a suite run."""

from __future__ import annotations

# (workload, contender, against, what, threshold, description); against '*' means every other contender
TARGETS = [
    ('train_digits', 'imgcls', 'plain_fp32', 'img_per_s', 2.0, 'training (1): imgcls default >= 2.0x plain fp32 eager'),
    ('train_digits', 'imgcls', 'plain_best', 'img_per_s', 0.95,
     'training (1): imgcls default >= 0.95x the best hand-tuned plain loop (bf16 where native, + channels_last)'),
    ('train_digits', 'imgcls', 'mmpretrain', 'img_per_s', 2.0, 'training (1): imgcls default >= 2x mmpretrain'),
    ('train_digits', 'imgcls', 'plain_fp32', 'top1', 0.5,
     'training (1): top-1 no more than 0.5 points below plain fp32 (one seed each; 1 image = 0.28 points)'),
    ('pipeline', 'imgcls', 'torchvision', 'img_per_s', 1.3, 'pipeline (2): imgcls >= 1.3x torchvision ImageFolder'),
    ('infer_r50', 'imgcls_default', 'timm_bf16_cl', 'img_per_s', 1.0,
     'inference (4): imgcls >= 1.0x timm, bf16 + channels_last'),
    ('infer_r50', 'imgcls_fp32', 'timm_fp32_cl', 'img_per_s', 1.0,
     'inference (4): imgcls >= 1.0x timm, fp32 + channels_last'),
    ('infer_r50', 'imgcls_default', 'onnxruntime', 'img_per_s', 1.0,
     'inference (4): imgcls default CPU inference >= ONNX Runtime fp32'),
    ('infer_batching', 'digits', None, 'batching', 5.0, 'batched inference API >= 5x per-image calls (digits model)'),
    ('time_to_acc', 'imgcls', '*', 'fastest', None, 'time-to-accuracy (5): imgcls fastest to 97% top-1'),
]
CONVERGED = 90.0  # top-1 (%) below which a digits run is still in early training


def _ok(c: dict | None) -> bool:
    return c is not None and c.get('status') == 'ok'


def add_ratios(workload: dict) -> None:
    """Each contender's ratio to its reference: images/s ratio, speed-up in time to target, or batched/single."""
    by_name = {c['name']: c for c in workload['contenders']}
    for c in workload['contenders']:
        if not _ok(c):
            continue
        if workload['kind'] == 'batching':
            c['ratio'] = round(c['img_per_s'] / c['single_img_per_s'], 2)
            continue
        ref = by_name.get(c.get('vs') or workload['baseline'])
        if not _ok(ref):
            continue
        if workload['kind'] == 'tta':
            if c.get('seconds_to_target') and ref.get('seconds_to_target'):
                c['ratio'] = round(ref['seconds_to_target'] / c['seconds_to_target'], 2)
        elif c.get('img_per_s') and ref.get('img_per_s'):
            c['ratio'] = round(c['img_per_s'] / ref['img_per_s'], 3)


def check_targets(workloads: dict[str, dict]) -> list[dict]:
    """Each issue-8 target with the measured value and whether it is met (None: not measured)."""
    out = []
    for wname, name, against, what, threshold, text in TARGETS:
        w = workloads.get(wname)
        if w is None:  # not run this time
            continue
        row = {'workload': wname, 'target': text, 'measured': 'not measured', 'met': None}
        out.append(row)
        by_name = {c['name']: c for c in w['contenders']}
        mine, ref = by_name.get(name), by_name.get(against)
        if not _ok(mine):
            row['measured'] = f'{name}: {mine["status"] if mine else "not run"}'
            continue
        if what == 'batching':
            row.update(measured=f'{mine["ratio"]:.1f}x', met=mine['ratio'] >= threshold)
        elif what == 'fastest':
            _fastest(row, mine, [c for c in w['contenders'] if c['name'] != name])
        elif not _ok(ref):
            row['measured'] = f'{against}: {ref["status"] if ref else "not run"}'
        elif what == 'top1':
            diff = mine['top1'] - ref['top1']
            row['measured'] = f'{mine["top1"]:.2f} vs {ref["top1"]:.2f} ({diff:+.2f} points)'
            if max(mine['top1'], ref['top1']) < CONVERGED:  # early-training accuracy says nothing about parity
                row['measured'] += f'; not converged (top-1 < {CONVERGED:g}%): run more epochs'
            else:
                row['met'] = diff >= -threshold  # the speed settings must not cost accuracy; more is no failure
        else:
            ratio = mine[what] / ref[what]
            row.update(measured=f'{ratio:.2f}x ({mine[what]:.1f} vs {ref[what]:.1f} img/s)', met=ratio >= threshold,
                       margin=f'{100 * (ratio / threshold - 1):+.0f}% vs the target')
    return out


def _fastest(row: dict, mine: dict, others: list[dict]) -> None:
    mine_s = mine.get('seconds_to_target')
    if mine_s is None:
        row.update(measured=f'imgcls did not reach the target in {mine["epochs_run"]} epochs', met=False)
        return
    times = {c['name']: c.get('seconds_to_target') for c in others if _ok(c)}
    reached = {k: v for k, v in times.items() if v is not None}
    text = ', '.join(f'{k} {v:.0f} s' if v is not None else f'{k} not reached' for k, v in times.items())
    row.update(measured=f'imgcls {mine_s:.0f} s; {text}', met=all(mine_s < v for v in reached.values()))


# -- Markdown --------------------------------------------------------------------------------------------------


def _num(v, fmt: str = '.1f') -> str:
    return '-' if v is None else format(v, fmt)


def _status(c: dict) -> str:
    return '' if c.get('status') == 'ok' else c.get('status', '').replace('|', '/')


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '|'.join('---' for _ in header) + '|']
    return lines + ['| ' + ' | '.join(r) + ' |' for r in rows]


def workload_markdown(w: dict) -> list[str]:
    """The heading, notes and table of one workload."""
    lines = [f'### {w["title"]}', '', w['notes'], '']
    kind, base = w['kind'], w['baseline']
    rows = []
    for c in w['contenders']:
        ok = _ok(c)
        mem = [_num(c.get('peak_rss_mb'), '.0f'), _num(c.get('cpu_s'), '.0f')] if ok else ['-', '-']
        if kind == 'batching':
            rows.append([c['label'], _num(c.get('img_per_s')), _num(c.get('single_img_per_s')),
                         _num(c.get('ratio'), '.1f') + 'x' if ok else '-', *mem, _status(c)])
        elif kind == 'tta':
            rows.append([c['label'], c['settings'], _num(c.get('seconds_to_target'), '.0f') if ok else '-',
                         _num(c.get('epochs_to_target'), 'd') if ok else '-', _num(c.get('ratio'), '.2f'),
                         _num(c.get('best_top1'), '.2f'), _num(c.get('startup_s')), *mem, _status(c)])
        else:
            runs = ', '.join(f'{r:.1f}' for r in c.get('runs') or [])
            if not runs and c.get('spread'):  # imgcls's benchmark reports its median and min-max
                runs = 'min {:.1f}, max {:.1f}'.format(*c['spread'])
            ref = c.get('vs') or base
            ratio = (_num(c.get('ratio'), '.2f') + f'x {ref}') if c.get('ratio') is not None else '-'
            extra = [_num(c.get('top1'), '.2f')] if kind == 'train' else []
            rows.append([c['label'], c['settings'], _num(c.get('img_per_s')), runs, ratio, *extra, *mem, _status(c)])
    mem_h = ['peak RSS MiB', 'CPU s']
    if kind == 'batching':
        header = ['model', 'batched img/s', 'per-image img/s', 'batched / per-image', *mem_h, 'status']
    elif kind == 'tta':
        header = ['tool', 'recipe', 's to target', 'epochs', f'speed-up vs {base}', 'best top-1', 'startup s', *mem_h,
                  'status']
    else:
        header = ['contender', 'settings', 'img/s (median)', 'timed repetitions (or rounds)', 'ratio',
                  *(['top-1'] if kind == 'train' else []), *mem_h, 'status']
    return lines + _table(header, rows) + ['']


def _isa(m: dict) -> str:
    """The kernels torch used, and any instruction-set cap the run was started with (older result files lack both)."""
    text = f', kernels: {m["cpu_capability"]}' if m.get('cpu_capability') else ''
    caps = m.get('isa_caps') or {}
    if caps:
        text += ' (capped with ' + ', '.join(f'{k}={v}' for k, v in caps.items()) + ')'
    return text


def markdown(results: dict) -> str:
    """The whole run as Markdown: machine, one table per workload, the targets."""
    m = results['machine']
    lines = [f'Run {results["date"]} on `{results["host"]}`{" (--quick)" if results["quick"] else ""}: '
             f'{m["cpu"]}, {m["cores"]} cores, torch {m["torch"]}, Python {m["python"]}, '
             f'bf16 instructions: {"yes" if m["bf16"] else "no"}{_isa(m)}. '
             f'Load average (1 min) at start {m["load_start"]}, at end {m["load_end"]}. '
             f'Total {results["wall_s"]:.0f} s.', '']
    peers = ', '.join(f'{k}: {v}' for k, v in results['peers'].items()) or 'none used'
    lines += [f'Peers: {peers}.', '']
    for w in results['workloads']:
        lines += workload_markdown(w)
    rows = [[t['target'], t['measured'], {True: 'met', False: '**missed**', None: 'not measured'}[t['met']]]
            for t in results['targets']]
    lines += ['### Targets (issue 8)', ''] + _table(['target', 'measured', 'verdict'], rows) + ['']
    return '\n'.join(lines)
