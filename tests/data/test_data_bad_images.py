"""Corrupt, truncated, empty and missing images: clear errors by default, or skipped and listed."""

import numpy as np
import pytest
import torch
from PIL import Image

from imgcls.data import CustomDataset, build_dataloader, collate
from imgcls.errors import DataError

PIPE = [dict(type='LoadImageFromFile'), dict(type='RandomResizedCrop', size=4, scale=(0.5, 1.0)),
        dict(type='ToTensor', keys=['gt_label']), dict(type='Collect', keys=['img', 'gt_label'])]


@pytest.fixture
def folder(tmp_path):
    """8 images listed in ann.txt: 2 (truncated JPEG), 5 (missing), 6 (empty) are bad."""
    lines = []
    for i in range(8):
        name = f'img{i}.jpg'
        if i != 5:
            Image.fromarray(np.full((10, 12, 3), 20 * i, np.uint8)).save(tmp_path / name)
        lines.append(f'{name} {i % 2}')
    data = (tmp_path / 'img2.jpg').read_bytes()
    (tmp_path / 'img2.jpg').write_bytes(data[:len(data) // 3])
    (tmp_path / 'img6.jpg').write_bytes(b'')
    (tmp_path / 'ann.txt').write_text('\n'.join(lines) + '\n')
    return tmp_path


def _ds(folder, **kwargs):
    return CustomDataset(str(folder), ann_file=str(folder / 'ann.txt'), pipeline=PIPE, classes=['a', 'b'], **kwargs)


@pytest.mark.parametrize('index, what', [(2, 'truncated or corrupt'), (5, 'not found'), (6, 'empty')])
def test_bad_image_error_names_file_and_line(folder, index, what):
    with pytest.raises(DataError) as info:
        _ds(folder)[index]
    text = str(info.value)
    assert f'sample {index} (' in text and f'ann.txt, line {index + 1})' in text
    assert f'img{index}.jpg' in text and what in text and 'skip_bad_images=True' in text


def test_worker_error_is_one_paragraph(folder):
    loader = build_dataloader(_ds(folder), 8, 2, shuffle=False, seed=0)
    with pytest.raises(DataError) as info:
        list(loader)
    text = str(info.value)
    assert 'ann.txt, line 3' in text and 'img2.jpg' in text
    assert 'Traceback' not in text and not text.startswith('Caught')


def test_skip_replaces_with_next_readable_sample(folder):
    ds = _ds(folder, skip_bad_images=True)
    with pytest.warns(UserWarning, match='skipping unreadable'):
        torch.manual_seed(0)
        s = ds[5]  # missing, 6 empty: sample 7 stands in
    torch.manual_seed(0)
    assert torch.equal(s['img'], ds[7]['img']) and s['_skipped'] == [str(folder / 'img5.jpg'),
                                                                      str(folder / 'img6.jpg')]
    assert ds.bad_images == [str(folder / 'img5.jpg'), str(folder / 'img6.jpg')]
    assert '_skipped' not in ds[0]


@pytest.mark.filterwarnings('ignore:.*skipping unreadable')
@pytest.mark.parametrize('workers', [0, 2])
def test_skipped_images_reach_dataset_bad_images(folder, workers):
    ds = _ds(folder, skip_bad_images=True)
    loader = build_dataloader(ds, 4, workers, shuffle=True, seed=1)
    batches = [b for b in loader]
    assert [len(b['img']) for b in batches] == [4, 4] and all('skipped' not in b for b in batches)
    bad = {str(folder / f'img{i}.jpg') for i in (2, 5, 6)}
    assert set(ds.bad_images) == bad and len(ds.bad_images) == 3
    assert loader.num_skipped >= 3
    list(loader)  # the next epoch reports the same files again, listed once
    assert len(ds.bad_images) == 3


@pytest.mark.filterwarnings('ignore:.*skipping unreadable')
def test_skipping_is_reproducible_across_workers(folder):
    runs = []
    for workers in (0, 2):
        loader = build_dataloader(_ds(folder, skip_bad_images=True), 4, workers, seed=3)
        runs.append([b['img'].clone() for b in loader])
    assert all(torch.equal(a, b) for a, b in zip(*runs))


def test_collate_gathers_skip_markers():
    img = torch.zeros(3, 2, 2, dtype=torch.uint8)
    batch = collate([{'img': img, 'gt_label': 0, '_skipped': ['a.jpg']}, {'img': img, 'gt_label': 1},
                     {'img': img, 'gt_label': 1, '_skipped': ['b.jpg', 'c.jpg']}])
    assert batch['skipped'] == ['a.jpg', 'b.jpg', 'c.jpg'] and batch['img'].shape == (3, 3, 2, 2)
    assert 'skipped' not in collate([{'img': img}])


def test_all_bad_and_other_errors(tmp_path):
    (tmp_path / 'ann.txt').write_text('x.jpg 0\ny.jpg 0\n')
    with pytest.warns(UserWarning), pytest.raises(DataError, match='no image of the dataset could be read'):
        _ds(tmp_path, skip_bad_images=True)[0]
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(tmp_path / 'x.jpg')
    pipe = [dict(type='LoadImageFromFile'), dict(type='RandomCrop', size=8)]  # a config problem, not a bad file
    ds = CustomDataset(str(tmp_path), ann_file=str(tmp_path / 'ann.txt'), pipeline=pipe, skip_bad_images=True)
    with pytest.raises(DataError, match=r'sample 0 .*line 1.*pad_if_needed'):
        ds[0]
