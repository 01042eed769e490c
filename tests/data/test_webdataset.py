"""WebDataset shards written by `imgcls data pack` (through the webdataset library) read back exactly:
the same images and labels as the folder, every sample once per epoch, shared out between ranks,
resumed mid-epoch, from local files and from a real HTTP server."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import shutil
import sys
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip('webdataset')

from imgcls.cli.main import main as imgcls_main  # noqa: E402
from imgcls.data import build_dataset  # noqa: E402
from imgcls.data.loader import build_dataloader  # noqa: E402
from imgcls.data.pack import pack_dataset  # noqa: E402
from imgcls.errors import ConfigError, DataError  # noqa: E402

CLASSES = ('ant', 'bee', 'cat')
PIPE = [dict(type='Resize', size=(8, 8)), dict(type='ImageToTensor', keys=['img']),
        dict(type='ToTensor', keys=['gt_label']), dict(type='Collect', keys=['img', 'gt_label'])]
AUGMENT = [dict(type='RandomResizedCrop', size=8, scale=(0.3, 1.0))] + PIPE[1:]


def make_folder(root: Path, per_class=(9, 8, 8)) -> Path:
    """Real JPEGs (and a PNG per class) of different sizes; each image's pixels say which one it is."""
    rng = np.random.default_rng(0)
    for c, (name, n) in enumerate(zip(CLASSES, per_class)):
        (root / name).mkdir(parents=True)
        for i in range(n):
            img = rng.integers(0, 256, (10 + i, 12 + c, 3), dtype=np.uint8)
            Image.fromarray(img).save(root / name / (f'{i:02d}.png' if i == 0 else f'{i:02d}.jpg'), quality=90)
    return root


@pytest.fixture(scope='module')
def packed(tmp_path_factory):
    """(folder, shard folder): 25 images in shards of 7 (7, 7, 7, 4)."""
    root = tmp_path_factory.mktemp('wds')
    folder = make_folder(root / 'images')
    source = build_dataset(dict(type='CustomDataset', data_prefix=str(folder), pipeline=[]))
    pack_dataset(source, root / 'shards', 'wds', shard_size=7, prefix='train')
    return folder, root / 'shards'


def wds(urls, pipeline=PIPE, **kw):
    return build_dataset(dict(type='WebDataset', urls=str(urls) if isinstance(urls, Path) else urls,
                              pipeline=[dict(type='LoadImageFromFile')] + pipeline, **kw))


def fingerprints(loader) -> list[str]:
    """One short hash per sample, in the order the loader gives them."""
    return [hashlib.md5(img.numpy().tobytes()).hexdigest()[:10] for batch in loader for img in batch['img']]


def test_pack_writes_shards_and_an_index_the_folder_agrees_with(packed):
    folder, shards = packed
    index = json.loads((shards / 'index.json').read_text())
    assert index['format'] == 'wds' and index['count'] == 25 and index['classes'] == list(CLASSES)
    assert [(s['name'], s['count']) for s in index['shards']] == [
        ('train-000000.tar', 7), ('train-000001.tar', 7), ('train-000002.tar', 7), ('train-000003.tar', 4)]
    with tarfile.open(shards / 'train-000000.tar') as tar:  # the standard layout: key.jpg / key.cls
        names = tar.getnames()
        assert sorted(names[:2]) == ['000000.cls', '000000.png']
        assert tar.extractfile('000001.jpg').read() == (folder / 'ant' / '01.jpg').read_bytes()  # bytes as stored
    assert not list(shards.parent.glob('.shards.partial-*'))  # the temporary folder was renamed

    ds = wds(shards, test_mode=True)
    folder_ds = build_dataset(dict(type='CustomDataset', data_prefix=str(folder),
                                   pipeline=[dict(type='LoadImageFromFile')] + PIPE, test_mode=True))
    assert ds.CLASSES == list(CLASSES) and len(ds) == 25
    assert ds.get_gt_labels().tolist() == folder_ds.get_gt_labels().tolist()
    streamed = list(ds)  # unshuffled, one process: the stored order
    for i in (0, 1, 24):
        assert torch.equal(streamed[i]['img'], folder_ds[i]['img'])
        assert int(streamed[i]['gt_label']) == int(folder_ds[i]['gt_label'])


@pytest.mark.parametrize('workers', [0, 2])
def test_each_epoch_is_every_sample_once_in_a_new_order(packed, workers):
    ds = wds(packed[1], shuffle_buffer=5)
    loader = build_dataloader(ds, 4, workers, seed=1)
    assert len(loader) == 7  # 25 samples in batches of 4
    reference = sorted(fingerprints(build_dataloader(wds(packed[1], test_mode=True), 4, 0, shuffle=False)))
    epochs = []
    for epoch in range(2):
        ds.set_epoch(epoch)
        epochs.append(fingerprints(loader))
    assert sorted(epochs[0]) == sorted(epochs[1]) == reference and len(set(reference)) == 25
    assert epochs[0] != epochs[1]
    again = build_dataloader(wds(packed[1], shuffle_buffer=5), 4, workers, seed=1)
    assert fingerprints(again) == epochs[0]  # (seed, epoch) decide the order


@pytest.mark.parametrize('workers', [0, 2, 3])
def test_resume_mid_epoch_gives_the_rest_of_the_epoch_exactly(packed, workers):
    """Samples and augmentation after k batches match an uninterrupted epoch, for any k."""
    def batches(start):
        ds = wds(packed[1], AUGMENT, shuffle_buffer=4)
        loader = build_dataloader(ds, 3, workers, seed=7)
        ds.set_epoch(2)
        ds.set_start(start * 3)
        return [b['img'] for b in loader]
    full = batches(0)
    assert len(full) == 9
    for k in (1, 2, 4, 8):
        rest = batches(k)
        assert len(rest) == len(full) - k
        assert all(torch.equal(a, b) for a, b in zip(rest, full[k:]))


@pytest.mark.parametrize('drop_last', [False, True])
def test_ranks_get_disjoint_equal_shares(packed, drop_last):
    shares = []
    for rank in range(2):
        ds = wds(packed[1], test_mode=True)
        loader = build_dataloader(ds, 4, 0, shuffle=False, drop_last=drop_last)
        ds.configure_loader(4, drop_last, rank, 2, 0, 0, shuffle=False)
        shares.append(ds.output_indices().tolist())
        assert len(fingerprints(loader)) == len(shares[-1])
    counts = [len(s) for s in shares]
    if drop_last:  # 12 each, in 3 whole batches; the last sample is left out
        assert counts == [12, 12] and not set(shares[0]) & set(shares[1])
    else:  # 13 each: 26 slots for 25 samples, padded by wrapping around to sample 0
        assert counts == [13, 13] and sorted(shares[0] + shares[1]) == sorted(list(range(25)) + [0])


def test_brace_urls_without_an_index_are_counted_once(packed, tmp_path, caplog):
    for tar in packed[1].glob('*.tar'):
        shutil.copy(tar, tmp_path)
    urls = str(tmp_path / 'train-{000000..000003}.tar')
    ds = wds(urls, test_mode=True)
    assert 'no index.json' in caplog.text
    assert len(ds) == 25 and ds.CLASSES == ['0', '1', '2']  # no index: class names are the indices
    assert ds.get_gt_labels().tolist() == wds(packed[1]).get_gt_labels().tolist()
    with pytest.raises(ConfigError, match='length=30 but the 4 shard'):
        wds(urls, length=30)
    indexed = wds(str(packed[1] / 'train-{000000..000001}.tar'), test_mode=True)  # the index beside them is used
    assert len(indexed) == 14 and indexed.CLASSES == list(CLASSES)


@pytest.fixture(scope='module')
def http_root(packed):
    """A real HTTP server on localhost serving the shard folder."""
    handler = functools.partial(_QuietHandler, directory=str(packed[1]))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.skipif(shutil.which('curl') is None, reason='webdataset reads http:// shards with curl')
def test_shards_over_http_match_local_files(packed, http_root):
    local = fingerprints(build_dataloader(wds(packed[1], shuffle_buffer=5), 5, 2, seed=4))
    for urls in (http_root + '/', http_root + '/index.json', http_root + '/train-{000000..000003}.tar'):
        remote = wds(urls, shuffle_buffer=5)
        assert remote.CLASSES == list(CLASSES)
        assert fingerprints(build_dataloader(remote, 5, 2, seed=4)) == local
    missing = wds(http_root + '/', test_mode=True)
    missing.shards[1] = type(missing.shards[1])(http_root + '/nope.tar', 7, 7)
    with pytest.raises(DataError, match='nope.tar'):
        list(missing)


def _corrupt_copy(shards: Path, out: Path) -> None:
    """The shards with sample 000008's JPEG cut short (shard 1, key 000008)."""
    shutil.copytree(shards, out)
    path = out / 'train-000001.tar'
    with tarfile.open(path) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(path, 'w') as tar:
        for member, data in members:
            if member.name == '000008.jpg':
                data = data[:len(data) // 3]
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data))


def test_a_corrupt_sample_names_its_shard_and_key_or_is_skipped(packed, tmp_path):
    _corrupt_copy(packed[1], tmp_path / 'shards')
    with pytest.raises(DataError, match=r"train-000001\.tar, sample '000008'.*skip_bad_images=True"):
        fingerprints(build_dataloader(wds(tmp_path / 'shards', test_mode=True), 5, 0, shuffle=False))
    ds = wds(tmp_path / 'shards', skip_bad_images=True)
    loader = build_dataloader(ds, 5, 2, seed=0)
    sizes = [len(b['img']) for b in loader]
    assert sizes == [5] * 5  # the bad sample's place is taken by a readable neighbour
    assert ds.bad_images == [str(tmp_path / 'shards' / 'train-000001.tar') + '#000008']
    assert loader.num_skipped == 1


def test_errors_name_what_to_fix(packed, tmp_path, monkeypatch):
    with pytest.raises(DataError, match='holds no index.json and no .tar shards'):
        wds(tmp_path)
    with pytest.raises(ConfigError, match='urls must be'):
        wds(42)
    truncated = tmp_path / 'cut'
    shutil.copytree(packed[1], truncated)
    data = (truncated / 'train-000002.tar').read_bytes()
    (truncated / 'train-000002.tar').write_bytes(data[:len(data) // 2])
    with pytest.raises(DataError, match=r'train-000002\.tar'):
        list(wds(truncated, test_mode=True))
    monkeypatch.setitem(sys.modules, 'webdataset', None)
    with pytest.raises(ConfigError, match=r'imgcls\[wds\]'):
        wds(packed[1])


def test_data_pack_cli(packed, tmp_path, capsys):
    out = tmp_path / 'out'
    assert imgcls_main(['data', 'pack', str(packed[0]), str(out), '--shard-size', '10']) == 0
    assert 'wrote 25 images, 3 classes, in 3 shard(s)' in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ['index.json', 'train-000000.tar', 'train-000001.tar',
                                                     'train-000002.tar']
    assert imgcls_main(['data', 'pack', str(packed[0]), str(out)]) == 1  # never over what is there
    assert 'already exists' in capsys.readouterr().err
    assert imgcls_main(['data', 'pack', str(packed[0]), str(tmp_path / 'x'), '--shard-size', '0']) == 1
    assert '--shard-size must be a positive' in capsys.readouterr().err
    assert not (tmp_path / 'x').exists()
    pytest.importorskip('datasets')
    assert imgcls_main(['data', 'pack', str(packed[0]), str(tmp_path / 'pq'), '--format', 'parquet']) == 0
    assert json.loads((tmp_path / 'pq' / 'index.json').read_text())['format'] == 'parquet'
    assert len(build_dataset(dict(type='HFDataset', path=str(tmp_path / 'pq')))) == 25


RANK_SCRIPT = """
import hashlib, json, sys
import torch
from imgcls.data import build_dataset
from imgcls.data.loader import build_dataloader
from imgcls.engine.dist import get_rank, init_distributed, shutdown_distributed
from imgcls.engine.hooks.evaluation import collect_scores

init_distributed('cpu')
shards, out = sys.argv[1], sys.argv[2]
pipe = [dict(type='LoadImageFromFile'), dict(type='Resize', size=(8, 8)), dict(type='ImageToTensor', keys=['img']),
        dict(type='ToTensor', keys=['gt_label']), dict(type='Collect', keys=['img', 'gt_label'])]
train = build_dataset(dict(type='WebDataset', urls=shards, pipeline=pipe, shuffle_buffer=4))
loader = build_dataloader(train, 4, 1, seed=5)
seen = []
for epoch in range(2):
    train.set_epoch(epoch)
    seen.append([hashlib.md5(img.numpy().tobytes()).hexdigest()[:10] for b in loader for img in b['img']])


class Mean(torch.nn.Module):  # a 'model' whose score is the image's mean pixel: evaluation must keep the order
    def test_step(self, data):
        return data['img'].float().mean((1, 2, 3))[:, None]


val = build_dataset(dict(type='WebDataset', urls=shards, pipeline=pipe, test_mode=True))
scores = collect_scores(Mean(), build_dataloader(val, 4, 1, shuffle=False), None, len(val))
with open(f'{out}/rank{get_rank()}.json', 'w') as fh:
    json.dump({'seen': seen, 'batches': len(loader), 'scores': scores[:, 0].tolist()}, fh)
shutdown_distributed()
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path(sys.executable).with_name('torchrun').exists(), reason='torchrun is not installed')
def test_torchrun_ranks_see_disjoint_samples_whose_union_is_the_dataset(tmp_path):
    import os
    import subprocess
    source = build_dataset(dict(type='CustomDataset', data_prefix=str(make_folder(tmp_path / 'img', (8, 8, 8))),
                                pipeline=[]))
    pack_dataset(source, tmp_path / 'shards', 'wds', shard_size=5)  # 24 images in shards of 5
    script = tmp_path / 'ranks.py'
    script.write_text(RANK_SCRIPT)
    proc = subprocess.run([str(Path(sys.executable).with_name('torchrun')), '--standalone', '--nproc-per-node', '2',
                           str(script), str(tmp_path / 'shards'), str(tmp_path)], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ranks = [json.loads((tmp_path / f'rank{r}.json').read_text()) for r in range(2)]
    local = wds(tmp_path / 'shards', test_mode=True)
    everything = sorted(fingerprints(build_dataloader(local, 4, 0, shuffle=False)))
    assert len(set(everything)) == 24
    assert ranks[0]['batches'] == ranks[1]['batches'] == 3
    for epoch in range(2):
        a, b = ranks[0]['seen'][epoch], ranks[1]['seen'][epoch]
        assert len(a) == len(b) == 12 and not set(a) & set(b) and sorted(a + b) == everything
    assert ranks[0]['seen'][0] != ranks[0]['seen'][1]  # a new order each epoch
    expected = [float(s['img'].float().mean()) for s in wds(tmp_path / 'shards', test_mode=True)]
    assert ranks[0]['scores'] == ranks[1]['scores'] == pytest.approx(expected)  # gathered in dataset order


@pytest.mark.parametrize('fmt', [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_tar_reader_yields_what_webdataset_reads(tmp_path, fmt):
    """imgcls's tar member reader against webdataset's (tarfile-based) on long names, folders, metadata."""
    from webdataset.tariterators import tar_file_expander

    from imgcls.data.datasets.wds import tar_members
    path = tmp_path / 'a.tar'
    long_dir = 'd' * 60 + '/' + 'e' * 60  # a name over 100 characters: a GNU/pax long name or a ustar prefix
    entries = [('__meta__', b'x'), ('000.jpg', b'\xff\xd8' + bytes(700)), ('000.cls', b'1'),
               (f'{long_dir}/001.png', b'\x89PNG' + bytes(1024)), (f'{long_dir}/001.cls', b'2'),
               ('__key__.jpg', b'kept: not a metadata name'), ('b' * 120 if fmt != tarfile.USTAR_FORMAT else 'b', b'')]
    with tarfile.open(path, 'w', format=fmt) as tar:
        folder = tarfile.TarInfo('sub')
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with open(path, 'rb') as fh:
        ours = [(f['fname'], f['data']) for f in tar_members(fh, str(path)) if f]
    with open(path, 'rb') as fh:
        theirs = [(f['fname'], f['data']) for f in tar_file_expander([{'url': str(path), 'stream': fh}]) if f]
    assert ours == theirs and len(ours) == 6
    damaged = bytearray(path.read_bytes())
    damaged[600] ^= 0xFF  # inside the second header
    (tmp_path / 'b.tar').write_bytes(bytes(damaged))
    with open(tmp_path / 'b.tar', 'rb') as fh, pytest.raises(DataError, match='damaged tar header'):
        list(tar_members(fh, 'b.tar'))


def test_wrappers_refuse_a_stream_and_browse_shows_its_first_samples(packed, tmp_path):
    with pytest.raises(ConfigError, match='RepeatDataset cannot wrap WebDataset'):
        build_dataset(dict(type='RepeatDataset', times=2, dataset=dict(type='WebDataset', urls=str(packed[1]))))
    from imgcls.analysis.browse import browse_dataset
    from imgcls.config import Config
    cfg = Config(dict(data=dict(train=dict(type='WebDataset', urls=str(packed[1]),
                                           pipeline=[dict(type='LoadImageFromFile')] + PIPE))))
    shown = browse_dataset(cfg, tmp_path / 'grid.png', num=4, seed=1)
    assert len(shown) == 4 and (tmp_path / 'grid.png').stat().st_size > 0
