"""WebDataset: training and evaluation data streamed from tar shards, local or remote.

The standard layout: each sample is a group of files sharing a key, an image (``key.jpg``,
``.png``, ``.webp`` ...) and its class (``key.cls``, the index as text, or ``key.json`` with a
``"label"``). Shards are read with the ``webdataset`` library, so ``urls`` may be local paths,
``http(s)://`` URLs (fetched with curl) or ``pipe:`` commands, with brace ranges
(``data/train-{000000..000127}.tar``).

Exact, like the folder datasets. Every epoch is a function of (seed, epoch) alone:

* the shards are put in an order drawn from (seed, epoch) (when shuffling), and the samples in
  that order are cut into one contiguous run per process (torchrun rank), padded by wrapping
  around so that every process gets the same number of batches; no sample is seen twice in an
  epoch except that padding;
* each process's run is cut into one contiguous block of whole batches per loader worker, which
  reads only its shards and shuffles through a buffer seeded from (seed, epoch, rank, block);
* each sample's augmentation is seeded from (seed, epoch, sample index), as for folders;
* the batches come out of the loader in a fixed order, so a run resumed ``k`` batches into an
  epoch hands its workers exactly the batches that were still to come (the samples before them
  are read but not decoded).

Sharing the samples out exactly needs each shard's sample count. ``imgcls data pack`` writes them
(and the labels) to an ``index.json`` beside the shards; ``urls`` may name that folder or file.
Shards without one are read through once at the start to count them.
"""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from ...errors import ConfigError, DataError
from ...evaluation import evaluate_single_label
from ..loader import run_seeded
from ..pack import INDEX_NAME, read_index
from ..pipelines.compose import Compose
from ..pipelines.loading import ImageReadError, check_file_client_args
from ..registries import DATASETS
from ..samplers import seed_base, seed_from_base
from .base_dataset import BaseDataset
from .encoded import decoded_results, split_loading_step

__all__ = ['WebDataset']

logger = logging.getLogger('imgcls')

IMAGE_EXTENSIONS = ('jpg', 'jpeg', 'png', 'webp', 'bmp', 'tif', 'tiff', 'ppm', 'pgm', 'gif')


def require_webdataset():
    try:
        import webdataset  # optional dependency (imgcls[wds])
    except ImportError:
        raise ConfigError('WebDataset needs the webdataset library: pip install "imgcls[wds]"') from None
    return webdataset


@dataclass(frozen=True)
class Shard:
    url: str
    count: int
    offset: int  # the dataset index of its first sample (shards in the order they were listed)


def _is_remote(url: str) -> bool:
    return '://' in url and not url.startswith('file://') or url.startswith('pipe:')


def _octal(field: bytes, where: str) -> int:
    if field[:1] and field[0] & 0x80:  # GNU base-256 for sizes of 8 GiB and more
        return int.from_bytes(field[1:], 'big')
    text = field.split(b'\0', 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise DataError(f'{where}: a tar header holds {bytes(field)!r} where a size should be') from None


def tar_members(stream, url: str) -> Iterator[dict]:
    """The regular files of a tar stream as ``{'fname', 'data', '__url__'}`` and, at the end, ``{}``: what
    webdataset's ``tar_file_expander`` yields, for ustar, GNU and pax archives (long names included),
    without the metadata files (``__*__``) webdataset leaves out."""
    long_name: str | None = None
    while True:
        header = stream.read(512)
        if len(header) < 512 or header == bytes(512):
            if 0 < len(header) < 512:
                raise DataError(f'WebDataset: shard {url} ends inside a tar header: it is truncated')
            break
        where = f'WebDataset: shard {url}'
        stored = _octal(header[148:156], where)
        if stored not in (sum(header[:148]) + 256 + sum(header[156:]), ):
            raise DataError(f'{where} has a damaged tar header (bad checksum): is it a complete tar file?')
        size, kind = _octal(header[124:136], where), header[156:157]
        data = stream.read(size)
        if len(data) < size:
            raise DataError(f'{where} ends inside a member ({len(data)} of {size} bytes): it is truncated')
        stream.read(-size % 512)
        if kind in (b'L',):  # GNU long name of the next member
            long_name = data.rstrip(b'\0').decode('utf-8', 'surrogateescape')
            continue
        if kind == b'x':  # pax extended header: its path replaces the next member's name
            for record in data.split(b'\n'):
                key, _, value = record.partition(b' ')[2].partition(b'=')
                if key == b'path':
                    long_name = value.decode('utf-8', 'surrogateescape')
            continue
        if kind not in (b'0', b'\0', b'7'):  # not a regular file (directory, link, global pax header ...)
            long_name = None
            continue
        name = long_name
        if name is None:
            name = header[:100].split(b'\0', 1)[0].decode('utf-8', 'surrogateescape')
            prefix = header[345:500].split(b'\0', 1)[0] if header[257:262] == b'ustar' else b''
            if prefix:
                name = prefix.decode('utf-8', 'surrogateescape') + '/' + name
        long_name = None
        top = name.split('/', 1)[0]
        if len(top) >= 4 and top.startswith('__') and top.endswith('__'):  # webdataset's metadata: not samples
            continue
        yield {'fname': name, 'data': data, '__url__': url}
    yield {}


@DATASETS.register_module()
class WebDataset(IterableDataset):
    """Samples streamed from WebDataset tar shards (see the module notes for the order and exactness).

    Args:
        urls: the shards: a brace pattern or ``::``-separated list (``'d/train-{000000..000009}.tar'``),
            a list of them, or a folder / ``index.json`` (local or URL) written by ``imgcls data pack``.
        length: the number of samples; checked against the shards (optional when there is an index).
        pipeline: steps as for a folder dataset; a leading LoadImageFromFile is used for decoding
            (its ``color_type`` and ``to_float32``) and taken out.
        classes: class names (a list or a text file); default the index's, else ``'0'``, ``'1'`` ...
        shuffle: shuffle shards and samples; default: unless ``test_mode`` (the evaluation loader
            never shuffles).
        shuffle_buffer: samples each loader worker shuffles among (more mixes better, holds more bytes).
        image_key / label_key: the file extensions to use; default the first image extension found
            and ``cls``, else ``json`` (its ``"label"``).
        skip_bad_images: an unreadable image is skipped and recorded in ``bad_images`` (by shard and key),
            its place taken by a readable neighbour so batches keep their size; False raises an error
            naming the shard and the key.
    """

    INITIAL_BUFFER = 100

    def __init__(self, urls, length: int | None = None, pipeline: Sequence = (), classes=None,
                 shuffle: bool | None = None, shuffle_buffer: int = 1000, test_mode: bool = False,
                 skip_bad_images: bool = False, image_key: str | None = None, label_key: str | None = None,
                 file_client_args=None):
        require_webdataset()
        check_file_client_args(file_client_args, 'WebDataset')
        for name, value in (('skip_bad_images', skip_bad_images), ('test_mode', test_mode)):
            if not isinstance(value, bool):
                raise ConfigError(f'WebDataset: {name} must be True or False, got {value!r}')
        if not isinstance(shuffle_buffer, int) or isinstance(shuffle_buffer, bool) or shuffle_buffer < 1:
            raise ConfigError(f'WebDataset: shuffle_buffer must be a positive int, got {shuffle_buffer!r}')
        if length is not None and (not isinstance(length, int) or isinstance(length, bool) or length < 1):
            raise ConfigError(f'WebDataset: length must be a positive number of samples, got {length!r}')
        self.test_mode, self.skip_bad_images = test_mode, skip_bad_images
        self.shuffle = (not test_mode) if shuffle is None else bool(shuffle)
        self.shuffle_buffer = shuffle_buffer
        self.image_key = image_key.lstrip('.').lower() if image_key else None
        self.label_key = label_key.lstrip('.').lower() if label_key else None
        self._decode, steps = split_loading_step(pipeline)
        self.pipeline = Compose(steps)
        self.bad_images: list[str] = []
        self.urls = urls
        self.shards, labels, index_classes = self._resolve(urls)
        self.length = sum(s.count for s in self.shards)
        if length is not None and length != self.length:
            raise ConfigError(f'WebDataset: length={length} but the {len(self.shards)} shard(s) hold {self.length} '
                              f'samples; set length={self.length} (or leave it out)')
        self._labels = labels
        names = BaseDataset.get_classes(classes)
        if names is None and index_classes:
            names = list(index_classes)
        if names is None:
            names = [str(i) for i in range(int(self.get_gt_labels().max()) + 1)]
        self.CLASSES = list(names)
        # set by the loader (configure_loader) and the engine (set_epoch / set_start)
        self.batch_size, self.drop_last, self.rank, self.world, self.seed, self.num_workers = 1, False, 0, 1, 0, 0
        self.epoch, self.start = 0, 0
        self._shared: torch.Tensor | None = None
        self._seed_base: tuple[int, int, int] | None = None

    # ---- where the samples are ------------------------------------------------------------------------------
    def _resolve(self, urls) -> tuple[list[Shard], np.ndarray | None, list | None]:
        from webdataset.shardlists import expand_urls  # optional dependency (imgcls[wds])
        if isinstance(urls, (str, os.PathLike)):
            text = os.path.expanduser(str(urls))
            is_folder = os.path.isdir(text) or (text.endswith('/') and _is_remote(text))
            if is_folder or text.endswith('.json'):
                index = read_index(text)
                if index is None:
                    if os.path.isdir(text):
                        tars = sorted(str(p) for p in Path(text).glob('*.tar'))
                        if not tars:
                            raise DataError(f'WebDataset: {text} holds no index.json and no .tar shards')
                        return self._count(tars)
                    raise DataError(f'WebDataset: no shard index at {text}')
                return self._from_index(index, None, text)
            listed = expand_urls(text)
        elif isinstance(urls, Sequence) and urls and all(isinstance(u, (str, os.PathLike)) for u in urls):
            listed = [x for u in urls for x in expand_urls(os.path.expanduser(str(u)))]
        else:
            raise ConfigError(f'WebDataset: urls must be a shard path/URL pattern, a list of them or a folder with '
                              f'an index.json, got {urls!r}')
        if not listed:
            raise ConfigError(f'WebDataset: urls={urls!r} names no shards')
        parent = listed[0].rsplit('/', 1)[0] if '/' in listed[0] else '.'
        index = None if listed[0].startswith('pipe:') else read_index(parent)
        if index is not None:
            known = {s['name'] for s in index['shards']}
            if all(u.rsplit('/', 1)[-1] in known for u in listed):
                return self._from_index(index, listed, parent + '/' + INDEX_NAME)
        return self._count(listed)

    @staticmethod
    def _from_index(index: dict, listed: list[str] | None, where: str):
        entries = {s['name']: s for s in index['shards']}
        names = [u.rsplit('/', 1)[-1] for u in listed] if listed else list(entries)
        urls = listed or [index['base'] + '/' + n for n in names]
        shards, labels, offset = [], [], 0
        for url, name in zip(urls, names):
            entry = entries[name]
            shards.append(Shard(url, int(entry['count']), offset))
            offset += int(entry['count'])
            labels.append(entry.get('labels'))
        all_labels = np.asarray([x for part in labels for x in part], dtype=np.int64) \
            if all(part is not None for part in labels) else None
        if not shards:
            raise DataError(f'WebDataset: the shard index {where} lists no shards')
        return shards, all_labels, index.get('classes')

    def _count(self, urls: list[str]):
        logger.warning(f'WebDataset: no index.json beside the shards, so all {len(urls)} are read once to count '
                       'their samples; `imgcls data pack` writes shards with an index')
        shards, labels, offset = [], [], 0
        for url in urls:
            n = 0
            for key, sample in self._read_shard(url):
                labels.append(self._label_of(url, key, sample))
                n += 1
            shards.append(Shard(url, n, offset))
            offset += n
        if not offset:
            raise DataError(f'WebDataset: the shards {urls[:3]}{" ..." if len(urls) > 3 else ""} hold no samples')
        return shards, np.asarray(labels, dtype=np.int64), None

    @staticmethod
    def _open(url: str):
        from webdataset.gopen import gopen  # optional dependency (imgcls[wds])
        local = not _is_remote(url)
        if local and not os.path.isfile(url[7:] if url.startswith('file://') else url):
            raise DataError(f'WebDataset: shard {url} does not exist')
        try:
            return open(url[7:] if url.startswith('file://') else url, 'rb', buffering=1 << 20) if local \
                else gopen(url, bufsize=1 << 20)
        except Exception as e:
            raise DataError(f'WebDataset: cannot open shard {url}: {e}') from None

    def _read_shard(self, url: str, start: int = 0, stop: int | None = None,
                    stream=None) -> Iterator[tuple[str, dict]]:
        """``(key, {extension: bytes})`` of samples ``start`` to ``stop`` of one shard, in stored order
        (from ``stream`` when the shard is already open)."""
        from webdataset.tariterators import group_by_keys  # optional dependency (imgcls[wds])
        if stream is None:
            stream = self._open(url)
        done = False
        try:
            # tar_members reads the members about 4x faster than tarfile's stream mode (which webdataset's
            # tar_file_expander uses); webdataset groups them into samples
            samples = group_by_keys(tar_members(stream, url))
            for i, sample in enumerate(samples):
                if stop is not None and i >= stop:
                    break
                if i >= start:
                    yield sample['__key__'], sample
            done = True
        except DataError:
            raise
        except Exception as e:
            detail = str(e.args[0]) if getattr(e, 'args', None) else type(e).__name__
            raise DataError(f'WebDataset: cannot read shard {url} ({detail.split(" @ ")[0][:200]}); is it a '
                            'complete tar file? Pack it again or remove it from urls') from None
        finally:
            try:
                stream.close()
            except Exception as e:  # curl's exit status, e.g. 22 for an HTTP error
                if done:
                    raise DataError(f'WebDataset: cannot read shard {url}: {e}') from None

    def _label_of(self, url: str, key: str, sample: dict) -> int:
        where = f'WebDataset shard {url}, sample {key!r}'
        order = [self.label_key] if self.label_key else ['cls', 'json']
        for ext in order:
            if ext in sample:
                raw = sample[ext]
                try:
                    if ext == 'json':
                        value = json.loads(raw)
                        value = value.get('label') if isinstance(value, dict) else value
                    else:
                        value = raw.decode().strip()
                    return int(value)
                except (ValueError, TypeError, AttributeError, UnicodeDecodeError):
                    raise DataError(f'{where}: its .{ext} holds no class index ({bytes(raw[:40])!r})') from None
        raise DataError(f'{where} has no label file (.{" or .".join(order)}); it has '
                        f'{sorted(k for k in sample if not k.startswith("__"))}; set label_key to the one to use')

    def _image_of(self, url: str, key: str, sample: dict) -> tuple[bytes, str]:
        exts = [self.image_key] if self.image_key else IMAGE_EXTENSIONS
        for ext in exts:
            if ext in sample:
                return sample[ext], ext
        raise DataError(f'WebDataset shard {url}, sample {key!r} has no image (.{" .".join(exts)}); it has '
                        f'{sorted(k for k in sample if not k.startswith("__"))}; set image_key to the one to use')

    # ---- what the loader and the engine set ---------------------------------------------------------------
    def configure_loader(self, batch_size: int, drop_last: bool, rank: int, world: int, seed: int,
                         num_workers: int, shuffle: bool | None = None) -> None:
        """Called by :func:`imgcls.data.build_dataloader`: how this process's batches are made."""
        self.batch_size, self.drop_last, self.rank, self.world = int(batch_size), bool(drop_last), rank, world
        self.seed, self.num_workers = int(seed), int(num_workers)
        if shuffle is not None and not shuffle:
            self.shuffle = False

        # the epoch and the resume position, in shared memory: persistent loader workers read them each epoch
        self._shared = torch.tensor([self.epoch, self.start], dtype=torch.int64).share_memory_()

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.start = int(epoch), 0
        if self._shared is not None:
            self._shared.copy_(torch.tensor([self.epoch, 0]))

    def set_start(self, start: int) -> None:
        """Resume this epoch after ``start`` samples (whole batches) of this process."""
        if start % self.batch_size:
            raise ValueError(f'WebDataset resumes at whole batches; {start} is not a multiple of {self.batch_size}')
        self.start = int(start)
        if self._shared is not None:
            self._shared[1] = self.start

    # ---- the plan of an epoch ------------------------------------------------------------------------------
    def _per_rank(self) -> int:
        n, world = self.length, self.world
        return n // world if self.drop_last else -(-n // world)

    def num_batches(self) -> int:
        """Batches this process loads per epoch (the same on every process)."""
        per_rank, b = self._per_rank(), self.batch_size
        return per_rank // b if self.drop_last else -(-per_rank // b)

    def _blocks(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """``(blocks, order)``: each block a (start, stop) run of this process's samples, whole batches
        (and, last, the short final batch on its own); order the (block, batch) of every batch in the
        order the loader hands them out: round-robin over the blocks, as its workers take turns."""
        b, workers = self.batch_size, max(1, self.num_workers)
        used = min(self._per_rank(), self.num_batches() * b)
        full = used // b
        counts = [full // workers + (1 if w < full % workers else 0) for w in range(workers)]
        blocks, at = [], 0
        for c in counts:
            blocks.append((at * b, (at + c) * b))
            at += c
        order = [(w, r) for r in range(max(counts, default=0)) for w in range(workers) if r < counts[w]]
        if used > full * b:
            blocks.append((full * b, used))
            order.append((workers, 0))
        return blocks, order

    def _shard_order(self) -> list[Shard]:
        if not self.shuffle:
            return list(self.shards)
        gen = np.random.default_rng([self.seed % 2 ** 63, self.epoch, 11])
        return [self.shards[i] for i in gen.permutation(len(self.shards))]

    def _stream(self, shards: list[Shard], start: int, stop: int) -> Iterator[tuple[int, str, str, dict]]:
        """``(dataset index, shard url, key, files)`` of positions ``start`` to ``stop`` of the epoch's sample
        sequence (the shards in ``shards`` order), wrapping around past the end (padding)."""
        n = self.length
        parts = []  # (shard, first, stop) within the shard
        while start < stop:
            lo, hi = start % n, min(stop - start, n - start % n) + start % n
            at = 0
            for shard in shards:
                s0, s1 = max(lo, at), min(hi, at + shard.count)
                if s0 < s1:
                    parts.append((shard, s0 - at, s1 - at))
                at += shard.count
                if at >= hi:
                    break
            start += hi - lo
        # a remote shard is opened while the one before it is read, so its request and curl's start overlap
        # with work (on localhost that hid about 5% of an epoch of 128-sample shards)
        following = None
        for j, (shard, first, end) in enumerate(parts):
            stream, following = following, None
            if j + 1 < len(parts) and _is_remote(parts[j + 1][0].url):
                following = self._open(parts[j + 1][0].url)
            try:
                for i, (key, files) in enumerate(self._read_shard(shard.url, first, end, stream)):
                    yield shard.offset + first + i, shard.url, key, files
            except BaseException:
                if following is not None:
                    try:
                        following.close()
                    except Exception:  # curl's status for a download cut short: the error above is the news
                        pass
                raise

    def _block_stream(self, shards: list[Shard], block: int, lo: int, hi: int):
        first = self.rank * self._per_rank()
        items = self._stream(shards, first + lo, first + hi)
        if not self.shuffle:
            yield from items
            return
        gen = np.random.default_rng([self.seed % 2 ** 63, self.epoch, self.rank, block, 13])
        # the first sample comes out once INITIAL are in; the buffer then grows by one every second sample
        # read until it holds shuffle_buffer (a full buffer before the first batch would stall every epoch)
        buffer: list = []
        grow, start = False, min(self.INITIAL_BUFFER, self.shuffle_buffer)
        for item in items:
            buffer.append(item)
            if len(buffer) < start:
                continue
            if len(buffer) < self.shuffle_buffer:
                grow = not grow
                if grow:
                    continue
            j = int(gen.integers(len(buffer)))
            buffer[j], buffer[-1] = buffer[-1], buffer[j]
            yield buffer.pop()
        for j in gen.permutation(len(buffer)):
            yield buffer[j]

    def _my_batches(self, worker: int, workers: int) -> list[tuple[int, int]]:
        _, order = self._blocks()
        return order[self.start // self.batch_size + worker::workers]

    def output_indices(self) -> np.ndarray:
        """The dataset index of every sample this process loads, in the order the loader hands them out
        (for evaluation, which never shuffles)."""
        if self.shuffle:
            raise DataError('WebDataset.output_indices: the order is shuffled; evaluation needs shuffle=False')
        blocks, order = self._blocks()
        first, n, b = self.rank * self._per_rank(), self.length, self.batch_size
        out = []
        for block, k in order:
            lo, hi = blocks[block]
            out.extend((first + p) % n for p in range(lo + k * b, min(lo + (k + 1) * b, hi)))
        return np.asarray(out, dtype=np.int64)

    # ---- iteration -----------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        if self._shared is not None:  # a persistent worker's copy learns the epoch here
            self.epoch, self.start = (int(v) for v in self._shared.tolist())
        if info is not None and max(1, self.num_workers) != workers:
            raise DataError(f'WebDataset was set up for {self.num_workers} loader workers but runs in {workers}; '
                            'build its loader with imgcls.data.build_dataloader')
        mine = self._my_batches(worker, workers)
        blocks, _ = self._blocks()
        shards = self._shard_order()
        b = self.batch_size
        groups: list[list[int]] = []  # [block, first batch, last batch + 1], consecutive batches of one block
        for block, k in mine:
            if groups and groups[-1][0] == block and groups[-1][2] == k:
                groups[-1][2] += 1
            else:
                groups.append([block, k, k + 1])
        for block, k0, k1 in groups:
            lo, hi = blocks[block]
            yield from self._serve(self._block_stream(shards, block, lo, hi), k0 * b, min(k1 * b, hi - lo))

    def _serve(self, items: Iterator, skip: int, stop: int) -> Iterator[dict]:
        """Samples ``skip`` to ``stop`` of a block's stream, decoded and run through the pipeline; the ones
        before ``skip`` are read but not decoded."""
        history: deque = deque(maxlen=8)  # the samples just before, raw: stand-ins for an unreadable one
        pending: deque = deque()
        items = iter(items)
        pos = 0
        while pos < stop:
            item = pending.popleft() if pending else next(items, None)
            if item is None:
                raise DataError(f'WebDataset: the shards ended early (position {pos} of {stop} in a block); they '
                                'hold fewer samples than their index says: pack them again')
            if pos < skip:
                history.append(item)
                pos += 1
                continue
            seed = self._sample_seed(item[0])
            try:
                yield self._prepare(item, seed)
            except ImageReadError as e:
                name = f'{item[1]}#{item[2]}'
                if not self.skip_bad_images:
                    raise DataError(f'WebDataset shard {item[1]}, sample {item[2]!r}: {e}. Set skip_bad_images=True '
                                    'in the dataset config to skip unreadable images.') from None
                yield self._stand_in(item, seed, name, history, pending, items)
            history.append(item)
            pos += 1

    def _sample_seed(self, index: int) -> int:
        """The augmentation seed of dataset index ``index`` this epoch (as SeededSampler gives folders)."""
        if self._seed_base is None or self._seed_base[:2] != (self.seed, self.epoch):
            self._seed_base = (self.seed, self.epoch, seed_base(self.seed, self.epoch))
        return seed_from_base(self._seed_base[2], int(index))

    def _stand_in(self, bad, seed: int, name: str, history: deque, pending: deque, items: Iterator) -> dict:
        """A readable neighbour of ``bad`` (the nearest before it, else after) with ``bad``'s seed."""
        skipped = [name]
        self._note_bad(name)
        candidates = list(reversed(history))
        for candidate in candidates:
            try:
                sample = self._prepare(candidate, seed)
            except ImageReadError:
                continue
            return dict(sample, _skipped=skipped)
        ahead = 0
        while True:
            if ahead < len(pending):
                candidate = pending[ahead]
            else:
                candidate = next(items, None)
                if candidate is None:
                    raise DataError(f'WebDataset: no readable image near {name} (skip_bad_images=True)')
                pending.append(candidate)
            ahead += 1
            try:
                return dict(self._prepare(candidate, seed), _skipped=skipped)
            except ImageReadError:
                continue

    def _note_bad(self, name: str) -> None:
        if name not in self.bad_images:
            if not self.bad_images:
                logger.warning(f'WebDataset: skipping unreadable image(s) (skip_bad_images=True); first: {name}')
            self.bad_images.append(name)

    def _prepare(self, item, seed: int) -> dict:
        _, url, key, files = item
        data, ext = self._image_of(url, key, files)
        label = self._label_of(url, key, files)
        results = decoded_results(data, label, f'{url.rsplit("/", 1)[-1]}/{key}.{ext}', **self._decode)
        return run_seeded(seed, self.pipeline, results)

    # ---- what the rest of imgcls asks of a dataset -------------------------------------------------------------
    def __len__(self) -> int:
        return self.length

    def get_gt_labels(self) -> np.ndarray:
        if self._labels is None:
            self._labels = np.asarray([self._label_of(s.url, key, files) for s in self.shards
                                       for key, files in self._read_shard(s.url)], dtype=np.int64)
        return self._labels

    def get_cat_ids(self, idx: int) -> list[int]:
        return [int(self.get_gt_labels()[idx])]

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.CLASSES)}

    def evaluate(self, results, metric='accuracy', metric_options=None, indices=None, logger=None) -> dict:
        labels = self.get_gt_labels()
        if indices is not None:
            labels = labels[np.asarray(indices, dtype=np.int64)]
        return evaluate_single_label(results, labels, metric, metric_options)

    def __repr__(self) -> str:
        return (f'WebDataset(shards={len(self.shards)}, images={self.length}, classes={len(self.CLASSES)}, '
                f'shuffle={self.shuffle})')
