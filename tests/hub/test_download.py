"""Downloading weights from a real local HTTP server: cache, hash check, broken connections, offline, mirror, 404."""

from __future__ import annotations

import hashlib
import io
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

from imgcls.engine.checkpoint import load_checkpoint
from imgcls.errors import CheckpointError
from imgcls.hub.download import download_url, hash_prefix


def _checkpoint_bytes(value: float = 1.5) -> bytes:
    buffer = io.BytesIO()
    torch.save({'state_dict': {'w': torch.full((256, 64), value)}}, buffer)
    return buffer.getvalue()


def _leftovers(cache):
    """Every file in the cache folder, temporary ones included (not the download locks)."""
    return sorted(p.name for p in cache.iterdir() if p.name != '.locks') if cache.is_dir() else []


def test_hash_prefix_of_published_names():
    assert hash_prefix('resnet18_b16x8_cifar10_20210528-bd6371c8.pth') == 'bd6371c8'
    assert hash_prefix('shufflenetv2_x0.5-f707e7126e.pth') == 'f707e7126e'
    assert hash_prefix('my_model.pth') is None and hash_prefix('weights-2024.pth') is None


def test_download_is_cached_and_the_second_use_needs_no_network(server, hub_cache):
    data = _checkpoint_bytes()
    url = server.add('net_20240101-{sha}.pth', data)
    path = download_url(url, progress=False)
    assert path == hub_cache / url.rsplit('/', 1)[1]
    assert path.read_bytes() == data
    server.close()  # from now on any network use would fail
    assert download_url(url, progress=False) == path
    assert torch.equal(load_checkpoint(url)['state_dict']['w'], torch.full((256, 64), 1.5))
    assert sum(server.requests.values()) == 1
    assert _leftovers(hub_cache) == [path.name]


def test_a_hash_mismatch_is_refused_and_nothing_is_kept(server, hub_cache):
    data = _checkpoint_bytes()
    url = server.add('net-deadbeef.pth', data)
    with pytest.raises(CheckpointError) as err:
        download_url(url, progress=False)
    actual = hashlib.sha256(data).hexdigest()
    assert str(err.value).startswith(f'the file downloaded from {url} is not the published one: its sha256 is '
                                     f'{actual}, the file name says it starts with deadbeef.')
    assert _leftovers(hub_cache) == []
    assert server.requests['/weights/net-deadbeef.pth'] == 1  # a wrong file is not fetched again and again


def test_a_connection_dropped_half_way_is_retried(server, hub_cache):
    data = _checkpoint_bytes()
    url = server.add('net-{sha}.pth', data)
    path_on_server = url[len(server.base):]
    server.drop[path_on_server] = 1  # the first attempt breaks, the second succeeds
    assert download_url(url, progress=False).read_bytes() == data
    assert server.requests[path_on_server] == 2


def test_a_connection_that_keeps_dropping_leaves_no_file(server, hub_cache):
    data = _checkpoint_bytes()
    url = server.add('net-{sha}.pth', data)
    path_on_server = url[len(server.base):]
    server.drop[path_on_server] = -1
    with pytest.raises(CheckpointError, match=f'could not download {url} after 3 attempts: the connection'):
        download_url(url, progress=False)
    assert server.requests[path_on_server] == 3
    assert _leftovers(hub_cache) == []  # no partial file a later run could take for the real one


def test_offline_uses_the_cache_and_says_where_a_missing_file_goes(server, hub_cache, monkeypatch):
    data = _checkpoint_bytes()
    cached = server.add('cached-{sha}.pth', data)
    missing = server.add('missing-{sha}.pth', _checkpoint_bytes(2.0))
    download_url(cached, progress=False)
    monkeypatch.setenv('IMGCLS_OFFLINE', '1')
    assert download_url(cached, progress=False).read_bytes() == data
    target = hub_cache / missing.rsplit('/', 1)[1]
    with pytest.raises(CheckpointError) as err:
        download_url(missing, progress=False)
    assert str(err.value) == (f'IMGCLS_OFFLINE is set and {missing} is not in the cache: download {missing} on a '
                              f'machine with network access and place it at {target}, or unset IMGCLS_OFFLINE.')
    assert server.requests[missing[len(server.base):]] == 0


def test_the_mirror_replaces_the_openmmlab_base(server, hub_cache, monkeypatch):
    data = _checkpoint_bytes()
    served = server.add('resnet18_b16x8_cifar10_20210528-{sha}.pth', data, folder='/mirror/mmclassification/v0/resnet')
    name = served.rsplit('/', 1)[1]
    monkeypatch.setenv('IMGCLS_WEIGHTS_MIRROR', server.base + '/mirror')
    official = f'https://download.openmmlab.com/mmclassification/v0/resnet/{name}'
    assert download_url(official, progress=False) == hub_cache / name
    assert server.requests[served[len(server.base):]] == 1


def test_a_404_is_reported_at_once(server, hub_cache):
    url = server.base + '/weights/nothing-0123abcd.pth'
    with pytest.raises(CheckpointError, match=f'downloading {url} failed: HTTP 404 Not Found '
                                              r'\(no such file: check the name or URL\)'):
        download_url(url, progress=False)
    assert server.requests['/weights/nothing-0123abcd.pth'] == 1  # not retried


def test_processes_sharing_the_cache_download_a_file_once(server, hub_cache):
    data = _checkpoint_bytes()
    url = server.add('net-{sha}.pth', data)
    server.delay_s = 0.3  # all three are waiting before the first finishes
    with ThreadPoolExecutor(3) as pool:  # each thread opens its own lock, as separate processes would
        paths = list(pool.map(lambda _: download_url(url, progress=False), range(3)))
    assert len(set(paths)) == 1 and paths[0].read_bytes() == data
    assert server.requests[url[len(server.base):]] == 1
