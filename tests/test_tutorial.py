"""The code in docs/tutorials runs as written.

Every fenced code block is marked by its info string (the words after the opening backticks):

- ```` ```python file=PATH ````: the whole content of the file PATH in the reader's project folder.
  ``package=imgcls/models/<kind>/<name>.py`` also says where the same file goes inside imgcls.
- ```` ```python append=PATH ````: lines a reader may append to the imgcls file PATH.
- ```` ```python config=PATH ```` (also ``yaml`` / ``json``): a config file at PATH in the project.
- ```` ```python ````: a snippet, run in order in the project folder after the files are written.
- ```` ```text output ````: what the snippet just before it prints.

A python block with any other info string fails the tests, so no block goes untested.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from imgcls import Config
from imgcls.config import parse_cfg_options
from imgcls.registry import all_registries

REPO = Path(__file__).resolve().parents[1]
TUTORIALS = REPO / 'docs' / 'tutorials'
MODULES_DOC = TUTORIALS / 'adding_new_modules.md'
CONFIG_DOC = TUTORIALS / 'config.md'
PART_FOLDERS = ('backbones', 'necks', 'heads', 'losses')


# ----------------------------------------------------------------------------- reading the docs

@dataclass
class Block:
    """One fenced code block of a markdown file."""

    doc: str
    line: int
    lang: str
    attrs: dict[str, str] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    code: str = ''

    @property
    def where(self) -> str:
        return f'{self.doc}:{self.line}'

    @property
    def kind(self) -> str:
        """file, append, config, snippet, output, other (not python) or unknown (a python block we can't run)."""
        keys = set(self.attrs)
        if self.lang == 'python':
            if not self.flags and keys and keys <= {'file', 'package'} and 'file' in keys:
                return 'file'
            if not self.flags and keys == {'append'}:
                return 'append'
            if not self.flags and keys == {'config'}:
                return 'config'
            if not self.flags and not keys:
                return 'snippet'
            return 'unknown'
        if self.lang in ('yaml', 'json') and keys == {'config'} and not self.flags:
            return 'config'
        if self.lang == 'text' and self.flags == ('output',) and not keys:
            return 'output'
        return 'other'


_FENCE = re.compile(r'^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$')


def read_blocks(path: Path) -> list[Block]:
    """All fenced blocks of ``path``, their info strings split into language, key=value attrs and flags."""
    lines = path.read_text(encoding='utf-8').splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        closing = re.compile(rf'^ *{re.escape(m["fence"])}\s*$')
        end = next((j for j in range(i + 1, len(lines)) if closing.match(lines[j])), None)
        assert end is not None, f'{path.name}:{i + 1}: code block is never closed'
        words = m['info'].split()
        blocks.append(Block(
            doc=path.name, line=i + 1, lang=words[0] if words else '',
            attrs=dict(w.split('=', 1) for w in words[1:] if '=' in w),
            flags=tuple(w for w in words[1:] if '=' not in w),
            code=textwrap.dedent('\n'.join(lines[i + 1:end])) + '\n'))
        i = end + 1
    return blocks


def of_kind(blocks: list[Block], kind: str) -> list[Block]:
    return [b for b in blocks if b.kind == kind]


def snippets_with_output(blocks: list[Block]) -> list[tuple[Block, Block | None]]:
    """Each snippet with the output block right after it (or None)."""
    pairs = []
    for i, b in enumerate(blocks):
        if b.kind == 'snippet':
            nxt = blocks[i + 1] if i + 1 < len(blocks) else None
            pairs.append((b, nxt if nxt is not None and nxt.kind == 'output' else None))
    return pairs


def write_project(blocks: list[Block], root: Path) -> None:
    """Write the file and config blocks under ``root``."""
    for b in of_kind(blocks, 'file') + of_kind(blocks, 'config'):
        path = root / (b.attrs['file'] if b.kind == 'file' else b.attrs['config'])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(b.code, encoding='utf-8')


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip().splitlines()]


def run_snippets(blocks: list[Block]) -> None:
    """Run the snippets in order in one namespace, checking what they print against their output block."""
    namespace: dict = {'__name__': '__tutorial__'}
    for snippet, output in snippets_with_output(blocks):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(snippet.code, snippet.where, 'exec'), namespace)
        if output is not None:
            assert _lines(printed.getvalue()) == _lines(output.code), (
                f'{snippet.where} printed\n{printed.getvalue()}\nbut the doc shows ({output.where})\n{output.code}')


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture
def isolated(tmp_path):
    """Undo what the tutorial code registers and imports: registry entries, modules, sys.path."""
    import imgcls.data  # noqa: F401  (create every registry before taking the snapshot)
    import imgcls.engine  # noqa: F401
    import imgcls.models  # noqa: F401
    saved = {name: dict(reg._module_dict) for name, reg in all_registries().items()}
    path_before = list(sys.path)
    cwd = os.getcwd()
    yield tmp_path
    os.chdir(cwd)
    sys.path[:] = path_before
    ours = {name for name, module in list(sys.modules.items())
            if str(getattr(module, '__file__', None) or '').startswith(str(tmp_path))}
    for name, reg in all_registries().items():
        before = saved.get(name, {})
        for key, obj in list(reg._module_dict.items()):
            if key in before:  # replaced with force=True: put the original back
                reg._module_dict[key] = before[key]
            elif getattr(obj, '__module__', None) in ours:  # added by the tutorial's code only
                del reg._module_dict[key]
    for name in ours:
        del sys.modules[name]


def _write_images(root: Path, per_class: int, size: int = 12) -> None:
    """Tiny RGB PNGs in ``root/<class>/``: reddish cats, bluish dogs."""
    from torchvision.io import write_png
    gen = torch.Generator().manual_seed(0)
    for label, name in enumerate(('cat', 'dog')):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = torch.randint(0, 100, (3, size, size), generator=gen, dtype=torch.uint8)
            img[2 * label] += 150
            write_png(img, str(root / name / f'{i}.png'))


@pytest.fixture(scope='module')
def modules_doc() -> list[Block]:
    return read_blocks(MODULES_DOC)


@pytest.fixture
def plugin_project(isolated, modules_doc) -> Path:
    """The tutorial's plugin layout in a temporary folder, with a tiny dataset; cwd and sys.path set to it."""
    root = isolated / 'my_project'
    write_project(modules_doc, root)
    _write_images(root / 'data' / 'my_dataset' / 'train', per_class=10)
    _write_images(root / 'data' / 'my_dataset' / 'val', per_class=2)
    os.chdir(root)
    sys.path.insert(0, str(root))
    return root


def _config_block(blocks: list[Block], path: str) -> Block:
    found = [b for b in of_kind(blocks, 'config') if b.attrs['config'] == path]
    assert len(found) == 1, f'expected one block with config={path}, found {len(found)}'
    return found[0]


# ----------------------------------------------------------------------------- the convention

@pytest.mark.parametrize('doc', [MODULES_DOC, CONFIG_DOC], ids=lambda p: p.name)
def test_every_python_block_is_runnable(doc):
    blocks = read_blocks(doc)
    unknown = [f'{b.where}: ```{b.lang} {" ".join(b.flags)}' for b in blocks if b.kind == 'unknown']
    assert not unknown, 'python blocks with an info string the tests do not know:\n' + '\n'.join(unknown)
    for i, b in enumerate(blocks):
        if b.kind == 'output':
            assert i > 0 and blocks[i - 1].kind == 'snippet', f'{b.where}: an output block must follow a snippet'
    paths = [b.attrs.get('file') or b.attrs.get('config') for b in blocks if b.kind in ('file', 'config')]
    assert len(paths) == len(set(paths)), f'{doc.name}: two blocks write the same file'
    for path in paths:
        assert not Path(path).is_absolute() and '..' not in Path(path).parts, path
    for b in blocks:
        if b.kind in ('file', 'snippet', 'append'):
            compile(b.code, b.where, 'exec')  # a syntax error names the block


def test_tutorial_has_every_kind_of_part(modules_doc):
    packaged = [b.attrs['package'] for b in of_kind(modules_doc, 'file') if 'package' in b.attrs]
    assert sorted(Path(p).parent.name for p in packaged) == sorted(PART_FOLDERS)
    for p in packaged:
        assert re.fullmatch(r'imgcls/models/(backbones|necks|heads|losses)/\w+\.py', p), p
    for b in of_kind(modules_doc, 'append'):
        assert re.fullmatch(r'imgcls/models/\w+/__init__\.py', b.attrs['append']), b.where


# ----------------------------------------------------------------------------- the seed's example config

def test_seed_example_config_builds_and_runs(isolated, modules_doc):
    from imgcls.models import build_classifier
    block = _config_block(modules_doc, 'resnet50_model.py')
    write_project([block], isolated)
    cfg = Config.fromfile(isolated / 'resnet50_model.py')
    assert cfg.model.backbone.depth == 50 and cfg.model.neck.type == 'GlobalAveragePooling'
    assert cfg.model.head.num_classes == 1000 and cfg.model.head.topk == (1, 5)
    model = build_classifier(cfg.model)
    model.init_weights()
    torch.manual_seed(0)
    imgs, labels = torch.randn(2, 3, 64, 64), torch.tensor([3, 999])
    losses = model.forward_train(imgs, labels)
    assert set(losses) == {'loss'} and losses['loss'].ndim == 0 and torch.isfinite(losses['loss'])
    model.eval()
    with torch.no_grad():
        scores = model.simple_test(imgs)
    assert isinstance(scores, list) and len(scores) == 2
    for s in scores:
        assert isinstance(s, np.ndarray) and s.shape == (1000,)
        assert s.sum() == pytest.approx(1.0, abs=1e-4) and (s >= 0).all()


# ----------------------------------------------------------------------------- layout (b): a plugin

def test_plugin_snippets_print_what_the_doc_shows(plugin_project, modules_doc):
    assert of_kind(modules_doc, 'snippet') and of_kind(modules_doc, 'output')
    run_snippets(modules_doc)


def test_plugin_config_builds_a_working_model(plugin_project):
    from imgcls.models import build_classifier
    cfg = Config.fromfile('my_config.py')  # custom_imports imports my_modules from the project folder
    model = build_classifier(cfg.model)
    model.init_weights()
    import my_modules
    assert type(model.backbone) is my_modules.MyResNet_CIFAR
    assert type(model.neck) is my_modules.MyGlobalAveragePooling
    assert type(model.head) is my_modules.MyLinearClsHead
    # the stem keeps 32x32 inputs at full size, as the doc says
    assert model.backbone.conv1.stride == (1, 1) and not hasattr(model.backbone, 'maxpool')
    assert [f.shape[-1] for f in model.backbone(torch.rand(1, 3, 32, 32))] == [4]
    torch.manual_seed(0)
    imgs, labels = torch.randn(2, 3, 32, 32), torch.tensor([0, 1])
    losses = model.forward_train(imgs, labels)
    assert set(losses) == {'loss'}
    losses['loss'].backward()
    assert model.head.fc.weight.grad is not None and model.backbone.conv1.weight.grad is not None
    model.eval()
    with torch.no_grad():
        scores = model.simple_test(imgs)
    assert len(scores) == 2 and all(s.shape == (2,) and s.sum() == pytest.approx(1.0, abs=1e-5) for s in scores)

    l1 = Config.fromfile('my_config_l1.py')
    assert l1.model.head.loss == {'type': 'MyL1Loss', 'loss_weight': 1.0}
    cli = Config.fromfile('my_config.py')  # the doc's command-line equivalent of my_config_l1.py
    cli.merge_from_dict(parse_cfg_options(['model.head.loss.type=MyL1Loss']))
    assert cli.model == l1.model
    l1_model = build_classifier(l1.model)
    assert type(l1_model.head.compute_loss) is my_modules.MyL1Loss
    # equal scores against one-hot labels: |0.5 - 1| + |0.5 - 0| = 1 per image
    head = l1_model.head
    with torch.no_grad():
        head.fc.weight.zero_()
        head.fc.bias.zero_()
    l1_loss = head.forward_train((torch.randn(3, 512),), torch.tensor([0, 1, 1]))['loss']
    assert float(l1_loss.detach()) == pytest.approx(1.0)
    l1_loss.backward()
    assert head.fc.bias.grad.abs().sum() > 0


def test_plugin_missing_module_is_reported(plugin_project):
    from imgcls.errors import ConfigError
    shutil.rmtree(plugin_project / 'my_modules')
    with pytest.raises(ConfigError, match="cannot import 'my_modules'"):
        Config.fromfile('my_config.py')


@pytest.mark.slow
def test_plugin_trains_with_the_cli(plugin_project, modules_doc):
    from imgcls.cli.main import main
    assert 'imgcls train my_config.py' in MODULES_DOC.read_text(encoding='utf-8')
    work_dir = plugin_project / 'work_dirs' / 'my_config'
    # one short epoch of a 4x narrower network, in fp32 and the default memory format (the fastest for
    # such a tiny CPU run); the dict value is merged into model.backbone
    rc = main(['train', 'my_config.py', '--work-dir', str(work_dir), '--seed', '0', '--device', 'cpu',
               '--cfg-options', 'runner.max_epochs=1', 'data.samples_per_gpu=4', 'data.workers_per_gpu=0',
               "model.backbone={'stem_channels': 16, 'base_channels': 16}", 'model.head.in_channels=128',
               'amp=None', 'channels_last=False'])
    assert rc == 0
    assert (work_dir / 'epoch_1.pth').is_file() and (work_dir / 'config.py').is_file()
    records = [json.loads(line) for line in (work_dir / 'log.jsonl').read_text().splitlines()]
    assert any(r.get('mode') == 'train' for r in records)
    val = [r for r in records if r.get('mode') == 'val']
    assert val and 0 <= val[-1]['accuracy_top-1'] <= 100
    # the merged config written to the work dir loads again, custom_imports included
    assert Config.fromfile(work_dir / 'config.py').model.backbone.type == 'MyResNet_CIFAR'


# ----------------------------------------------------------------------------- layout (a): inside imgcls

_IN_PACKAGE_CHECK = """
import sys
sys.path.insert(0, {site!r})
import torch
import imgcls
from imgcls import Config
from imgcls.config import parse_cfg_options
from imgcls.models import build_classifier
from imgcls.models.backbones import MyResNet_CIFAR
from imgcls.models.heads import MyLinearClsHead
from imgcls.models.losses import MyL1Loss
from imgcls.models.necks import MyGlobalAveragePooling
assert imgcls.__file__.startswith({site!r}), imgcls.__file__
cfg = Config.fromfile({config!r}, import_custom_modules=False)
cfg.pop('custom_imports')
model = build_classifier(cfg.model)
model.init_weights()
assert type(model.backbone) is MyResNet_CIFAR and type(model.head) is MyLinearClsHead
assert type(model.neck) is MyGlobalAveragePooling
losses = model.forward_train(torch.rand(2, 3, 32, 32), torch.tensor([0, 1]))
model.eval()
scores = model.simple_test(torch.rand(2, 3, 32, 32))
cfg.model.head.loss = dict(type='MyL1Loss')
assert type(build_classifier(cfg.model).head.compute_loss) is MyL1Loss
print('ok', sorted(losses), len(scores))
"""


@pytest.mark.slow
def test_in_package_layout(tmp_path, modules_doc):
    """The files dropped into a copy of imgcls's model folders are found at import time."""
    site = tmp_path / 'site'
    shutil.copytree(REPO / 'imgcls', site / 'imgcls', ignore=shutil.ignore_patterns('__pycache__'))
    for b in of_kind(modules_doc, 'file'):
        if 'package' in b.attrs:
            (site / b.attrs['package']).write_text(b.code, encoding='utf-8')
    for b in of_kind(modules_doc, 'append'):
        with open(site / b.attrs['append'], 'a', encoding='utf-8') as f:
            f.write('\n' + b.code)
    project = tmp_path / 'project'
    write_project([_config_block(modules_doc, 'my_config.py')], project)
    script = _IN_PACKAGE_CHECK.format(site=str(site), config=str(project / 'my_config.py'))
    env = {**os.environ, 'PYTHONPATH': ''}
    proc = subprocess.run([sys.executable, '-c', script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ['ok', "['loss']", '2']
    for b in of_kind(modules_doc, 'file'):  # nothing was written into the real source tree
        if 'package' in b.attrs:
            assert not (REPO / b.attrs['package']).exists()


# ----------------------------------------------------------------------------- the config reference

def test_config_reference_blocks_load(isolated):
    """Every config block of config.md loads with Config, next to a copy of the shipped configs."""
    blocks = read_blocks(CONFIG_DOC)
    configs = of_kind(blocks, 'config')
    assert len(configs) >= 3
    root = isolated / 'project'
    shutil.copytree(REPO / 'configs', root / 'configs')
    write_project(blocks, root)
    os.chdir(root)
    sys.path.insert(0, str(root))
    for b in configs:
        cfg = Config.fromfile(root / b.attrs['config'])
        assert len(cfg) > 0, b.where
    run_snippets(blocks)
