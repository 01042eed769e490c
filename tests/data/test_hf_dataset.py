"""HFDataset and Parquet packing: a folder packed with `pack_dataset(fmt='parquet')` reads back as the same
images, labels and classes; saved datasets, parquet files, builders and packs served over HTTP; errors."""

import functools
import http.server
import io
import json
import pickle
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip('datasets')

import datasets  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from imgcls.data import CustomDataset, build_dataloader, build_dataset  # noqa: E402
from imgcls.data.datasets.hf import HFDataset  # noqa: E402
from imgcls.data.pack import RawSample, pack_dataset  # noqa: E402
from imgcls.data.pack_parquet import write_parquet_shards  # noqa: E402
from imgcls.errors import ConfigError, DataError  # noqa: E402

LOAD = [dict(type='LoadImageFromFile')]
CLASSES = ['zebra', 'ant']  # folder 'ant' sorts first: label 0 is 'ant'


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    """10 noise images in class folders ant/ and zebra/, PNGs and JPEGs (a CustomDataset layout)."""
    root = tmp_path_factory.mktemp('folder')
    rng = np.random.default_rng(0)
    for c in CLASSES:
        (root / c).mkdir()
        for i in range(5):
            img = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
            img.save(root / c / (f'{i}.png' if i % 2 else f'{i}.jpg'), quality=90)
    return root


@pytest.fixture(scope='module')
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp('hf_cache'))


@pytest.fixture(scope='module')
def packed(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp('packs') / 'train'
    pack_dataset(CustomDataset(str(folder)), out, fmt='parquet', shard_size=4)
    return out


def _hf(path, cache, **kwargs):
    kwargs.setdefault('pipeline', LOAD)
    return HFDataset(str(path), cache_dir=cache, **kwargs)


def _png(value, size=(6, 5)):
    buf = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(buf, 'PNG')
    return buf.getvalue()


def test_parquet_shards_carry_hf_image_and_classlabel_features(folder, packed):
    index = json.loads((packed / 'index.json').read_text())
    assert index['format'] == 'parquet' and index['classes'] == ['ant', 'zebra']
    assert [s['count'] for s in index['shards']] == [4, 4, 2]
    first = packed / index['shards'][0]['name']
    features = datasets.Features.from_arrow_schema(pq.read_schema(first))
    assert isinstance(features['image'], datasets.Image) and features['label'].names == ['ant', 'zebra']
    row = pq.read_table(first).to_pylist()[0]
    assert row['image']['path'] == str(folder / 'ant' / '0.jpg')
    assert row['image']['bytes'] == (folder / 'ant' / '0.jpg').read_bytes()  # stored as is, not re-encoded


def test_pack_reads_back_as_the_folder(folder, packed, cache):
    ref = CustomDataset(str(folder), pipeline=LOAD)
    ds = _hf(packed, cache)
    assert len(ds) == len(ref) == 10 and ds.CLASSES == ref.CLASSES == ['ant', 'zebra']
    assert ds.get_gt_labels().dtype == np.int64
    np.testing.assert_array_equal(ds.get_gt_labels(), ref.get_gt_labels())
    for i in range(len(ds)):
        got, want = ds[i], ref[i]
        assert got['filename'] == want['filename']
        assert got['gt_label'] == want['gt_label'] and ds.get_cat_ids(i) == ref.get_cat_ids(i)
        assert torch.equal(got['img'], want['img']), want['filename']  # PNG: same pixels; JPEG: same bytes
    assert 'images=10, classes=2' in repr(ds)


def test_decode_options_of_the_loading_step_apply(packed, cache):
    ds = _hf(packed, cache, pipeline=[dict(type='LoadImageFromFile', color_type='grayscale', to_float32=True)])
    img = ds[0]['img']
    assert img.shape == (1, 24, 32) and img.dtype == torch.float32


def test_build_from_config_and_evaluate(packed, cache):
    ds = build_dataset(dict(type='HFDataset', path=str(packed), cache_dir=cache, pipeline=LOAD, test_mode=True))
    assert isinstance(ds, HFDataset)
    labels = ds.get_gt_labels()
    scores = np.eye(2)[labels]
    scores[0] = scores[0][::-1]  # one wrong of 10
    assert ds.evaluate(scores, metric='accuracy', metric_options=dict(topk=(1,))) == {'accuracy_top-1': 90.0}


def test_config_classes_win_and_index_classes_label_plain_ints(packed, cache, tmp_path):
    assert _hf(packed, cache, classes=['a', 'b']).CLASSES == ['a', 'b']
    samples = [RawSample(str(i), _png(40 * i), 'png', i % 3, f'{i}.png') for i in range(6)]
    shards = write_parquet_shards(samples, tmp_path, 6, 'data')  # no class names: the label is plain int64
    assert datasets.Features.from_arrow_schema(pq.read_schema(tmp_path / 'data-000000.parquet'))['label'] == \
        datasets.Value('int64')
    assert _hf(tmp_path / 'data-000000.parquet', cache).CLASSES == ['0', '1', '2']
    (tmp_path / 'index.json').write_text(json.dumps({'format': 'parquet', 'count': 6, 'classes': ['x', 'y', 'z'],
                                                     'shards': shards}))
    assert _hf(tmp_path, cache).CLASSES == ['x', 'y', 'z']


def test_save_to_disk_folders(folder, cache, tmp_path):
    files = sorted(folder.glob('*/*'))
    table = datasets.Dataset.from_dict(
        {'img': [{'bytes': f.read_bytes(), 'path': f.name} for f in files],
         'y': [CLASSES.index(f.parent.name) for f in files]},
        features=datasets.Features({'img': datasets.Image(), 'y': datasets.ClassLabel(names=CLASSES)}))
    datasets.DatasetDict({'train': table.select(range(6)), 'test': table.select(range(6, 10))}).save_to_disk(
        str(tmp_path / 'dict'))
    ds = _hf(tmp_path / 'dict', cache, split='test', image_key='img', label_key='y')
    assert len(ds) == 4 and ds.CLASSES == CLASSES
    ref = Image.open(files[7]).convert('RGB')
    assert torch.equal(ds[1]['img'], torch.from_numpy(np.array(ref)).permute(2, 0, 1))
    assert ds[1]['gt_label'] == CLASSES.index(files[7].parent.name)
    with pytest.raises(ConfigError, match=r"no split 'val'; its splits: \['train', 'test'\]"):
        _hf(tmp_path / 'dict', cache, split='val', image_key='img', label_key='y')
    table.save_to_disk(str(tmp_path / 'one'))
    assert len(_hf(tmp_path / 'one', cache, image_key='img', label_key='y')) == 10
    (tmp_path / 'one' / 'state.json').write_text('{"_data_files": [')
    with pytest.raises(DataError, match='cannot read the saved dataset .*one'):
        _hf(tmp_path / 'one', cache, image_key='img', label_key='y')


def test_imagefolder_builder_reads_the_files(folder, cache):
    ref = CustomDataset(str(folder), pipeline=LOAD)
    ds = _hf('imagefolder', cache, data_dir=str(folder))  # datasets stores paths here, no bytes
    assert ds.CLASSES == ref.CLASSES and len(ds) == len(ref)
    want = {s['filename']: s for s in (ref[i] for i in range(len(ref)))}
    for i in range(len(ds)):
        got = ds[i]
        assert torch.equal(got['img'], want[got['filename']]['img'])
        assert got['gt_label'] == want[got['filename']]['gt_label']


class _Server:
    """A real HTTP server on localhost serving a folder, recording (path, status) of each request."""

    def __init__(self, root):
        log = self.log = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_request(self, code='-', size='-'):
                log.append((self.path, int(code)))

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Handler, directory=root))
        self.url = f'http://127.0.0.1:{self.httpd.server_port}'
        threading.Thread(target=self.httpd.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(packed):
    srv = _Server(str(packed.parent))
    yield srv
    srv.close()


def test_pack_over_http(packed, server, cache, tmp_path):
    local = _hf(packed, cache)
    ds = _hf(f'{server.url}/train', str(tmp_path / 'cache'))
    assert ds.CLASSES == ['ant', 'zebra'] and len(ds) == 10
    for i in range(len(ds)):
        assert torch.equal(ds[i]['img'], local[i]['img']) and ds[i]['gt_label'] == local[i]['gt_label']
    shards = [(p, code) for p, code in server.log if p.endswith('.parquet')]
    assert sorted(shards) == [(f'/train/data-00000{k}.parquet', 200) for k in range(3)]
    server.log.clear()
    again = _hf(f'{server.url}/train/index.json', str(tmp_path / 'cache'))
    assert len(again) == 10
    # the copies downloaded before are current: the server answers 304, nothing is downloaded again
    assert sorted(c for p, c in server.log if p.endswith('.parquet')) == [304, 304, 304]


def test_http_folder_without_index(server, cache):
    with pytest.raises(ConfigError, match='has no index.json'):
        _hf(f'{server.url}/nothing-here', cache)


def _bad_parquet(path):
    """5 PNG rows; row 2 is a truncated PNG whose stored path is x/bad.png."""
    rows = [{'bytes': _png(50 * i), 'path': f'x/{i}.png'} for i in range(5)]
    rows[2] = {'bytes': rows[2]['bytes'][:40], 'path': 'x/bad.png'}
    datasets.Dataset.from_dict({'image': rows, 'label': [0, 1, 0, 1, 0]},
                               features=datasets.Features({'image': datasets.Image(), 'label': datasets.Value('int64')})
                               ).to_parquet(str(path))
    return path


def test_corrupt_image_error_names_source_split_row_and_path(tmp_path, cache):
    ds = _hf(_bad_parquet(tmp_path / 'bad.parquet'), cache)
    with pytest.raises(DataError) as info:
        ds[2]
    text = str(info.value)
    assert "row 2 of" in text and 'bad.parquet' in text and "split 'train'" in text and 'x/bad.png' in text
    assert 'skip_bad_images=True' in text


def test_skip_bad_images_takes_the_next_row(tmp_path, cache):
    ds = _hf(_bad_parquet(tmp_path / 'bad.parquet'), cache, skip_bad_images=True)
    with pytest.warns(UserWarning, match='skipping unreadable'):
        sample = ds[2]
    assert torch.equal(sample['img'], ds[3]['img']) and sample['gt_label'] == 1
    assert sample['_skipped'] == ['x/bad.png'] and ds.bad_images == ['x/bad.png']


def test_missing_columns_and_splits_are_named(packed, cache):
    with pytest.raises(ConfigError, match=r"no column 'img' \(image_key\); its columns: \['image', 'label'\]"):
        _hf(packed, cache, image_key='img')
    with pytest.raises(ConfigError, match=r"no column 'cls' \(label_key\); its columns: \['image', 'label'\]"):
        _hf(packed, cache, label_key='cls')
    with pytest.raises(ConfigError, match=r"no split 'val'; its splits: \['train'\]"):
        _hf(packed, cache, split='val')


def test_parquet_glob_and_path_mistakes(packed, cache, tmp_path):
    ds = _hf(packed / '*.parquet', cache)
    assert len(ds) == 10 and ds.CLASSES == ['ant', 'zebra']  # the ClassLabel names, without the index
    with pytest.raises(DataError, match='the file .*nothere.parquet does not exist'):
        _hf(tmp_path / 'nothere.parquet', cache)
    with pytest.raises(ConfigError, match='is a packed folder: data_dir would not be used'):
        _hf(packed, cache, data_dir=str(tmp_path))


def test_string_labels_and_out_of_range_labels(tmp_path, cache):
    features = datasets.Features({'image': datasets.Image(), 'label': datasets.Value('string')})
    table = datasets.Dataset.from_dict({'image': [{'bytes': _png(i), 'path': None} for i in range(3)],
                                        'label': ['dog', 'cat', 'dog']}, features=features)
    table.to_parquet(str(tmp_path / 's.parquet'))
    ds = _hf(tmp_path / 's.parquet', cache)
    assert ds.CLASSES == ['cat', 'dog'] and ds.get_gt_labels().tolist() == [1, 0, 1] and ds[0]['gt_label'] == 1
    assert _hf(tmp_path / 's.parquet', cache, classes=['dog', 'cat']).get_gt_labels().tolist() == [0, 1, 0]
    # a column of encoded bytes (no Image feature) works too
    datasets.Dataset.from_dict({'image': [_png(7)] * 3, 'label': [0, 1, 3]}).to_parquet(str(tmp_path / 'r.parquet'))
    assert _hf(tmp_path / 'r.parquet', cache)[2]['img'].unique().tolist() == [7]
    with pytest.raises(DataError, match="row 2 has label 3, outside 0..1 for 2 classes"):
        _hf(tmp_path / 'r.parquet', cache, classes=['a', 'b'])


def test_other_pack_formats_are_refused(tmp_path, cache):
    (tmp_path / 'index.json').write_text(json.dumps({'format': 'wds', 'count': 1, 'classes': ['a'],
                                                     'shards': [{'name': 'data-000000.tar', 'count': 1}]}))
    with pytest.raises(ConfigError, match="holds 'wds' shards.*--format parquet"):
        _hf(tmp_path, cache)


def test_without_the_datasets_library(packed, monkeypatch):
    monkeypatch.setitem(sys.modules, 'datasets', None)  # import datasets now raises ImportError
    with pytest.raises(ConfigError, match=r'HFDataset needs the datasets library: pip install "imgcls\[hf\]"'):
        HFDataset(str(packed))


def test_loader_workers_get_a_cheap_copy(packed, cache):
    ds = _hf(packed, cache, pipeline=LOAD + [dict(type='Collect', keys=['img', 'gt_label'])])
    image_bytes = sum(f.stat().st_size for f in packed.glob('*.parquet'))
    assert len(pickle.dumps(ds)) < image_bytes / 5  # the cache files' names travel, not the images
    loader = build_dataloader(ds, 3, 2, shuffle=False, seed=0)
    labels = torch.cat([batch['gt_label'] for batch in loader])
    assert labels.tolist() == ds.get_gt_labels().tolist()


_TRAIN_CONFIG = '''
_base_ = [{base!r}]
load = dict(type='LoadImageFromFile')
norm = dict(type='Normalize', mean=[127.5] * 3, std=[64.0] * 3, to_rgb=False)
train_pipeline = [load, dict(type='Resize', size=(16, 16)), norm, dict(type='ImageToTensor', keys=['img']),
                  dict(type='ToTensor', keys=['gt_label']), dict(type='Collect', keys=['img', 'gt_label'])]
test_pipeline = [load, dict(type='Resize', size=(16, 16)), norm, dict(type='ImageToTensor', keys=['img']),
                 dict(type='Collect', keys=['img'])]
hf = dict(type='HFDataset', path={path!r}, cache_dir={cache!r}, _delete_=True)  # not the digits' split='val'
data = dict(samples_per_gpu=4, workers_per_gpu=0, train=dict(hf, pipeline=train_pipeline),
            val=dict(hf, pipeline=test_pipeline, test_mode=True), test=dict(hf, pipeline=test_pipeline, test_mode=True))
model = dict(backbone=dict(in_channels=3, stem_channels=8, base_channels=8),
             head=dict(num_classes=2, in_channels=64, topk=(1,)))
evaluation = dict(interval=1, metric='accuracy', metric_options=dict(topk=(1,)), save_best=None)
custom_hooks = []
runner = dict(max_epochs=1)
lr_config = dict(warmup_iters=1)
log_config = dict(interval=1)
channels_last = False
'''


def test_imgcls_train_on_a_pack(packed, cache, tmp_path):
    from imgcls.cli.main import main

    base = Path(__file__).resolve().parents[2] / 'configs' / 'resnet' / 'resnet18_digits.py'
    config = tmp_path / 'hf_pack.py'
    config.write_text(_TRAIN_CONFIG.format(base=str(base), path=str(packed), cache=cache))
    assert main(['train', str(config), '--work-dir', str(tmp_path / 'work'), '--seed', '0']) == 0
    records = [json.loads(line) for line in (tmp_path / 'work' / 'log.jsonl').read_text().splitlines()]
    assert [r['iter'] for r in records if r['mode'] == 'train'] == [1, 2, 3]  # 10 images, 4 a batch
    assert any(r['mode'] == 'val' and 'accuracy_top-1' in r for r in records)
    assert (tmp_path / 'work' / 'latest.pth').is_file()
