"""Annotation files (``<relative/path> <label>`` per line) read into compact arrays.

A dict per line costs about half a kilobyte: ImageNet's 1.28M training lines would take some 600 MB,
in the main process and again in every data-loader worker. :class:`AnnotationTable` keeps the paths
as one UTF-8 blob with end offsets and the labels as an int64 array (about 30 bytes a line), and
makes a sample's info dict when it is asked for.

Reading is vectorised: the file is taken in 1 MiB blocks, and each block's lines are split with
numpy. A block with anything unusual (a carriage return, a NUL, a label that is not plain digits,
a line with one field) goes through the line-by-line parser instead, which gives the exact error.
"""

from __future__ import annotations

import operator
from array import array
from collections.abc import Sequence

import numpy as np

from ...errors import DataError

__all__ = ['AnnotationTable', 'read_annotation_file', 'MAX_LABEL']

# labels of an annotation file without ``classes`` name that many classes: a larger one is a typo
MAX_LABEL = 1_000_000
_MAX_DIGITS = len(str(MAX_LABEL - 1))
_BLOCK = 1 << 20
_SPACE = np.array([0] * 256, dtype=bool)
_SPACE[[9, 10, 11, 12, 32]] = True  # bytes.split()'s whitespace, less \r (which sends a block the slow way)


class AnnotationTable(Sequence):
    """The samples of an annotation file; ``table[i]`` is the info dict of sample ``i``."""

    def __init__(self, prefix: str | None, blob: bytes, ends: np.ndarray, labels: np.ndarray, linenos: np.ndarray):
        self.prefix, self.blob, self.ends, self.labels, self.linenos = prefix, blob, ends, labels, linenos

    def __len__(self) -> int:
        return len(self.labels)

    def path(self, idx: int) -> str:
        """The path of sample ``idx`` as written in the file."""
        start = int(self.ends[idx - 1]) if idx else 0
        return self.blob[start:int(self.ends[idx])].decode('utf-8')

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return [self[i] for i in range(*idx.indices(len(self)))]
        i = operator.index(idx)
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f'sample {idx} is out of range for {n} samples')
        return {'img_prefix': self.prefix, 'img_info': {'filename': self.path(i)},
                'gt_label': np.int64(self.labels[i])}


def _show(text: bytes) -> str:
    return text[:200].decode('utf-8', 'replace')


class _Reader:
    """Accumulates the parsed lines of one file."""

    def __init__(self, ann_file: str):
        self.ann_file = ann_file
        self.lineno = 0
        self.blobs: list[bytes] = []
        self.lengths: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []
        self.linenos: list[np.ndarray] = []

    # -- the exact, line-by-line way ----------------------------------------------------------------
    def parse_line(self, line: bytes, lineno: int) -> tuple[bytes, int] | None:
        """``(path, label)`` of one line, None for a blank one; DataError naming the line otherwise."""
        parts = line.rsplit(None, 1)
        if not parts:
            return None
        where = f'{self.ann_file}, line {lineno}'
        if len(parts) != 2:
            raise DataError(f'{where}: expected "<relative/path> <label>", got {_show(line)!r}')
        try:
            label = int(parts[1])
        except ValueError:
            raise DataError(f'{where}: the label {_show(parts[1])!r} is not an integer '
                            '(expected "<relative/path> <label>")') from None
        path = parts[0].lstrip()
        if not 0 <= label < MAX_LABEL:
            raise DataError(f'{where}: label {str(label)[:30]} of {_show(path)!r} is not a class index '
                            f'(0 or more, below {MAX_LABEL:,})')
        if b'\x00' in path:
            raise DataError(f'{where}: the path {_show(path)!r} contains a NUL character')
        return path, label

    def slow(self, block: bytes) -> None:
        paths, lengths, labels, linenos = [], array('q'), array('q'), array('q')
        for raw in block.split(b'\n')[:-1] if block.endswith(b'\n') else block.split(b'\n'):
            for line in (raw.splitlines() or (b'',)) if b'\r' in raw else (raw,):
                self.lineno += 1
                entry = self.parse_line(line, self.lineno)
                if entry is not None:
                    paths.append(entry[0])
                    lengths.append(len(entry[0]))
                    labels.append(entry[1])
                    linenos.append(self.lineno)
        self._add(b''.join(paths), np.array(lengths, np.int64), np.array(labels, np.int64),
                  np.array(linenos, np.int64))

    # -- the fast way -------------------------------------------------------------------------------
    def fast(self, block: bytes) -> bool:
        """Parse a block of whole lines with numpy; False (nothing taken) if it needs the slow way."""
        if b'\r' in block or b'\x00' in block:
            return False
        a = np.frombuffer(block, np.uint8)
        n = len(a)
        newlines = np.flatnonzero(a == 10)
        starts = np.concatenate(([0], newlines + 1))
        ends = np.concatenate((newlines, [n]))
        if block.endswith(b'\n'):  # no line after the last newline
            starts, ends = starts[:-1], ends[:-1]
        idx = np.arange(n, dtype=np.int64)
        space = _SPACE[a]
        last_word = np.maximum.accumulate(np.where(space, -1, idx))  # last non-space at or before i
        last_space = np.maximum.accumulate(np.where(space, idx, -1))
        first_word = np.minimum.accumulate(np.where(space, n, idx)[::-1])[::-1]  # first non-space at or after i
        content_end = last_word[np.maximum(ends - 1, 0)] + 1
        used = (ends > starts) & (content_end > starts)  # lines with something on them
        starts, content_end, numbers = starts[used], content_end[used], np.flatnonzero(used)
        label_start = last_space[content_end - 1] + 1
        path_end = last_word[np.maximum(label_start - 1, 0)] + 1
        if not len(starts):
            self.lineno += len(used)
            return True
        path_start = first_word[starts]
        label_end = content_end
        width = label_end - label_start
        if not ((label_start > starts) & (path_end > starts) & (width >= 1) & (width <= _MAX_DIGITS)).all():
            return False
        is_digit = ((a >= 48) & (a <= 57)).astype(np.int64).cumsum()
        if not (is_digit[label_end - 1] - is_digit[label_start - 1] == width).all():
            return False
        labels = np.zeros(len(starts), np.int64)
        for j in range(_MAX_DIGITS):
            more = width > j
            labels[more] = labels[more] * 10 + (a[label_start[more] + j].astype(np.int64) - 48)
        in_path = np.zeros(n + 1, np.int8)
        in_path[path_start] = 1
        in_path[path_end] -= 1
        blob = a[np.cumsum(in_path[:n], dtype=np.int8).astype(bool)].tobytes()
        self._add(blob, path_end - path_start, labels, self.lineno + 1 + numbers)
        self.lineno += len(used)
        return True

    def _add(self, blob: bytes, lengths: np.ndarray, labels: np.ndarray, linenos: np.ndarray) -> None:
        self.blobs.append(blob)
        self.lengths.append(lengths)
        self.labels.append(labels)
        self.linenos.append(linenos)

    def table(self, prefix: str | None) -> AnnotationTable:
        blob = b''.join(self.blobs)
        ends = np.cumsum(np.concatenate(self.lengths)) if self.lengths else np.zeros(0, np.int64)
        linenos = np.concatenate(self.linenos) if self.linenos else np.zeros(0, np.int64)
        try:
            blob.decode('utf-8')  # once for all the paths
        except UnicodeDecodeError as e:
            line = linenos[int(np.searchsorted(ends, e.start, side='right'))]
            raise DataError(f'{self.ann_file}, line {line}: the path is not UTF-8 text ({e.reason}); save the '
                            'annotation file as UTF-8') from None
        labels = np.concatenate(self.labels) if self.labels else np.zeros(0, np.int64)
        return AnnotationTable(prefix, blob, ends.astype(np.int64), labels, linenos)


def read_annotation_file(ann_file: str, prefix: str | None) -> AnnotationTable:
    """Parse ``ann_file`` (``<relative/path> <label>`` lines; blank lines skipped) into a table."""
    reader = _Reader(ann_file)
    carry = b''
    try:
        with open(ann_file, 'rb') as fh:
            first = True
            while True:
                block = fh.read(_BLOCK)
                if first:
                    block, first = block.removeprefix(b'\xef\xbb\xbf'), False  # a UTF-8 byte-order mark
                if not block:
                    break
                block = carry + block
                cut = block.rfind(b'\n') + 1
                block, carry = block[:cut], block[cut:]
                if block and not reader.fast(block):
                    reader.slow(block)
    except OSError as e:
        raise DataError(f'cannot read ann_file {ann_file!r}: {e.strerror}') from None
    if carry and not reader.fast(carry):
        reader.slow(carry)
    return reader.table(prefix)
