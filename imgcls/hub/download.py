"""Downloading weight files into torch's hub cache: verified, atomic, retried, and never when offline.

* Files land in ``torch.hub.get_dir()/checkpoints`` (``TORCH_HOME`` moves it) under the URL's file name;
  a file already there is used without touching the network.
* A download goes to a temporary file that is renamed into place only once it is complete and verified,
  so an interrupted or refused download never leaves a file that a later run would use.
* The sha256 prefix in mmcls / torchvision file names (``..._20210528-bd6371c8.pth``) is checked.
* ``IMGCLS_OFFLINE=1`` forbids the network; ``IMGCLS_WEIGHTS_MIRROR`` replaces ``https://download.openmmlab.com/``.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import torch
from tqdm import tqdm

from ..errors import CheckpointError
from ..fileio import atomic_open

__all__ = ['OPENMMLAB_BASE', 'cache_dir', 'cached_file', 'download_url', 'hash_prefix', 'is_offline',
           'mirrored_url']

OPENMMLAB_BASE = 'https://download.openmmlab.com/'
RETRIES = 3  # attempts for a transient failure (reset connection, timeout, HTTP 5xx / 429)
BACKOFF_S = 1.0  # wait before the 2nd attempt; doubled for each next one
TIMEOUT_S = 30.0
_CHUNK = 1 << 20
# the convention of mmcls and torchvision: name-<first 8 to 10 hex digits of the sha256>.pth
_HASH_IN_NAME = re.compile(r'-([a-f0-9]{8,10})\.[A-Za-z0-9]+$')
_TRUE = ('1', 'true', 'yes', 'on')
logger = logging.getLogger(__name__)


class _Transient(Exception):
    """A failure worth another attempt."""


def is_offline() -> bool:
    """Whether ``IMGCLS_OFFLINE`` forbids the network."""
    return os.environ.get('IMGCLS_OFFLINE', '').strip().lower() in _TRUE


def cache_dir() -> Path:
    """Where downloaded weights live: torch's hub cache, ``checkpoints`` folder."""
    return Path(torch.hub.get_dir()) / 'checkpoints'


def mirrored_url(url: str) -> str:
    """``url`` with the OpenMMLab download base replaced by ``IMGCLS_WEIGHTS_MIRROR`` when that is set."""
    mirror = os.environ.get('IMGCLS_WEIGHTS_MIRROR', '').strip()
    if not mirror or not url.startswith(OPENMMLAB_BASE):
        return url
    return mirror.rstrip('/') + '/' + url[len(OPENMMLAB_BASE):]


def hash_prefix(filename: str) -> str | None:
    """The sha256 prefix a published file name carries (``resnet50-0676ba61.pth`` → ``0676ba61``), if any."""
    found = _HASH_IN_NAME.search(filename)
    return found.group(1) if found else None


def cached_file(url: str) -> Path:
    """Where ``url`` is (or would be) cached: the file name of the original URL, not of a mirror."""
    name = os.path.basename(urllib.parse.urlparse(url).path)
    if name in ('', '.', '..'):
        raise CheckpointError(f'cannot tell a file name from the URL {url!r}: it should end in the file, '
                              'e.g. https://host/path/model.pth')
    return cache_dir() / name


def download_url(url: str, progress: bool = True, check_hash: bool = True) -> Path:
    """The local copy of ``url``: from the cache, or downloaded into it (see the module docstring)."""
    target = cached_file(url)
    if target.is_file():
        return target
    source = mirrored_url(url)
    if is_offline():
        raise CheckpointError(f'IMGCLS_OFFLINE is set and {url} is not in the cache: download {source} '
                              f'on a machine with network access and place it at {target}, or unset '
                              'IMGCLS_OFFLINE.')
    expected = hash_prefix(target.name) if check_hash else None
    target.parent.mkdir(parents=True, exist_ok=True)
    with _one_downloader(target):
        if target.is_file():  # another process (e.g. another torchrun rank) fetched it while this one waited
            return target
        for attempt in range(RETRIES):
            try:
                _fetch(source, target, expected, progress)
                return target
            except _Transient as e:
                if attempt + 1 == RETRIES:
                    raise CheckpointError(f'could not download {source} after {RETRIES} attempts: {e}. Nothing '
                                          f'was saved; try again later, or download it yourself to {target}.') from e
                time.sleep(BACKOFF_S * 2 ** attempt)
    raise AssertionError('unreachable')  # the loop returns or raises


@contextlib.contextmanager
def _one_downloader(target: Path) -> Iterator[None]:
    """Hold a lock on ``target``'s download, so processes sharing the cache fetch a file once, not once each."""
    try:
        import fcntl  # POSIX only
    except ImportError:  # no flock (Windows): concurrent downloads stay correct, each renames a complete file
        yield
        return
    locks = target.parent / '.locks'
    locks.mkdir(exist_ok=True)
    # the lock file stays: removing it while another process waits on it would let a third one in
    fd = os.open(locks / f'{target.name}.lock', os.O_CREAT | os.O_RDWR, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _open(url: str) -> http.client.HTTPResponse:
    """The response for ``url``; HTTP errors worth retrying become _Transient, others CheckpointError."""
    request = urllib.request.Request(url, headers={'User-Agent': 'imgcls'})
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as e:
        if e.code == 429 or e.code >= 500:
            raise _Transient(f'HTTP {e.code} {e.reason}') from e
        hint = ' (no such file: check the name or URL)' if e.code == 404 else ''
        raise CheckpointError(f'downloading {url} failed: HTTP {e.code} {e.reason}{hint}') from e
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        reason = getattr(e, 'reason', e)
        raise _Transient(f'{type(e).__name__}: {reason}') from e


def _fetch(url: str, target: Path, expected: str | None, progress: bool) -> None:
    """One attempt: stream ``url`` into a temporary file, verify, rename it to ``target``."""
    digest = hashlib.sha256()
    with _open(url) as response:
        total = int(response.headers.get('Content-Length') or 0) or None
        done = 0
        logger.info(f'downloading {url} to {target}')
        # a bar where someone watches; a log file gets the line above, not hundreds of carriage returns
        bar = tqdm(total=total, unit='B', unit_scale=True, unit_divisor=1024, desc=target.name,
                   disable=not (progress and sys.stderr.isatty()), file=sys.stderr, leave=False)
        try:
            with atomic_open(target, 'wb') as out:  # removed, not renamed, if anything below raises
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except (OSError, http.client.HTTPException) as e:
                        raise _Transient(f'the connection broke after {done} bytes ({type(e).__name__})') from e
                    if not chunk:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    bar.update(len(chunk))
                if total is not None and done != total:
                    raise _Transient(f'the connection closed after {done} of {total} bytes')
                actual = digest.hexdigest()
                if expected is not None and not actual.startswith(expected):
                    raise CheckpointError(f'the file downloaded from {url} is not the published one: its sha256 '
                                          f'is {actual}, the file name says it starts with {expected}. It was not '
                                          'saved; if a mirror serves it, check the mirror has the right file.')
        finally:
            bar.close()
