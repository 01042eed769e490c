"""Per-sample seeded augmentation: the same batches with any workers, and after a resume."""

import numpy as np
import pytest
import torch

from imgcls.data import Digits, build_dataloader
from imgcls.data.loader import SeededDataset
from imgcls.data.samplers import SeededSampler, sample_seeds

PIPE = [dict(type='RandomResizedCrop', size=8, scale=(0.3, 1.0)), dict(type='RandomFlip', flip_prob=0.5),
        dict(type='RandomErasing', erase_prob=0.5), dict(type='ToTensor', keys=['gt_label']),
        dict(type='Collect', keys=['img', 'gt_label'])]


@pytest.fixture(scope='module')
def digits():
    return Digits(split='val', pipeline=PIPE)  # 360 images


def _epoch(loader, epoch=None):
    if epoch is not None:
        loader.sampler.set_epoch(epoch)
    return [(b['img'].clone(), b['gt_label'].clone()) for b in loader]


def _same(a, b):
    return len(a) == len(b) and all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b))


def test_same_batches_with_any_number_of_workers(digits):
    runs = []
    for workers, persistent in ((0, True), (1, True), (2, True), (2, False)):
        loader = build_dataloader(digits, 64, workers, seed=5, persistent_workers=persistent)
        runs.append([_epoch(loader, e) for e in (0, 1)])
    for other in runs[1:]:
        assert _same(runs[0][0], other[0]) and _same(runs[0][1], other[1])
    assert not _same(runs[0][0], runs[0][1])  # epochs differ in order and augmentation


def test_resume_at_epoch_3_repeats_it(digits):
    trained = build_dataloader(digits, 50, 2, seed=9)
    epochs = [_epoch(trained, e) for e in range(4)]
    resumed = build_dataloader(digits, 50, 1, seed=9, persistent_workers=False)  # a fresh process, other workers
    assert _same(_epoch(resumed, 3), epochs[3])
    assert not _same(_epoch(resumed, 2), epochs[3])


def test_iterating_without_set_epoch_moves_on(digits):
    loader = build_dataloader(digits, 360, 0, seed=3)
    first, second = _epoch(loader), _epoch(loader)
    assert not torch.equal(first[0][1], second[0][1])
    assert _same(_epoch(loader, 1), second)


def test_other_seed_other_batches(digits):
    a = _epoch(build_dataloader(digits, 60, 0, seed=1))
    b = _epoch(build_dataloader(digits, 60, 0, seed=2))
    assert not _same(a, b)


def test_main_process_rng_is_left_alone(digits):
    loader = build_dataloader(digits, 64, 0, seed=4)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    np.random.seed(1)
    expected_np = np.random.rand()
    np.random.seed(1)
    _epoch(loader)
    assert torch.equal(torch.get_rng_state(), state) and np.random.rand() == expected_np


def test_augmentation_does_not_depend_on_the_order(digits):
    """A sample's augmentation depends on (seed, epoch, index) only, not on when it is loaded."""
    ds = SeededDataset(digits)
    seeds = sample_seeds(7, 2, np.array([10, 20]))
    a = ds[(10, int(seeds[0]))]['img']
    ds[(20, int(seeds[1]))]
    assert torch.equal(ds[(10, int(seeds[0]))]['img'], a)
    assert ds.CLASSES == digits.CLASSES and len(ds) == 360 and ds.bad_images is digits.bad_images


def test_sample_seeds():
    s = sample_seeds(0, 0, np.arange(1000))
    assert len(set(s.tolist())) == 1000 and s.dtype == np.uint64 and int(s.max()) < 2 ** 63
    assert np.array_equal(s, sample_seeds(0, 0, np.arange(1000)))
    assert not np.array_equal(s, sample_seeds(0, 1, np.arange(1000)))
    assert not np.array_equal(s, sample_seeds(1, 0, np.arange(1000)))


@pytest.mark.parametrize('drop_last', [False, True])
def test_sampler_splits_among_processes(drop_last):
    shares = [list(SeededSampler(10, shuffle=True, seed=1, num_replicas=3, rank=r, drop_last=drop_last))
              for r in range(3)]
    order = SeededSampler(10, seed=1, num_replicas=3, drop_last=drop_last).order(0)
    per = 3 if drop_last else 4
    assert all(len(s) == per for s in shares) and len(order) == 3 * per
    for r, share in enumerate(shares):
        assert [i for i, _ in share] == order[r::3].tolist()  # rank r holds r, r+W, ... (what evaluation undoes)
    covered = {i for s in shares for i, _ in s}
    assert covered == (set(order.tolist()) if drop_last else set(range(10)))
    assert sorted(SeededSampler(10, shuffle=True, seed=1).order(0).tolist()) == list(range(10))


def test_loader_settings(digits):
    loader = build_dataloader(digits, 8, 64, seed=0)
    assert loader.num_workers <= 2  # capped at this machine's cores
    assert loader.pin_memory == torch.cuda.is_available()
    assert isinstance(loader.dataset, SeededDataset) and loader.dataset.source is digits
    plain = build_dataloader(digits, 8, 0, shuffle=False, sampler=range(5))
    assert [b['gt_label'].tolist() for b in plain] == [digits.get_gt_labels()[:5].tolist()]


def test_scalar_sample_seed_matches_the_vectorised_one():
    from imgcls.data.samplers import sample_seeds, seed_base, seed_from_base
    indices = np.array([0, 1, 7, 123456789, 2 ** 40 + 3], dtype=np.int64)
    for seed, epoch in ((0, 0), (5, 3), (2 ** 62, 99)):
        base = seed_base(seed, epoch)
        assert [seed_from_base(base, int(i)) for i in indices] == sample_seeds(seed, epoch, indices).tolist()
