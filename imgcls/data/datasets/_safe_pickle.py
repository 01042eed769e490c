"""Loading the CIFAR python pickles without letting a pickle run code.

``pickle.load`` calls whatever global a file names, so a malicious file can execute anything.
The unpickler here resolves only the few globals that numpy arrays need (the official CIFAR
batches hold dicts of bytes, ints, lists and uint8 arrays); any other global is refused.
"""

from __future__ import annotations

import codecs
import importlib
import pickle
from typing import Any

from ...errors import DataError

__all__ = ['safe_pickle_load']

# (module, name) pairs an array pickle names; numpy 2 moved numpy.core to numpy._core
_ALLOWED = {
    ('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'), ('numpy._core.multiarray', 'scalar'),
    ('numpy.core.numeric', '_frombuffer'), ('numpy._core.numeric', '_frombuffer'),
    ('numpy', 'ndarray'), ('numpy', 'dtype'),
}


def _latin1_encode(text: str, encoding: str = 'latin1', errors: str = 'strict') -> bytes:
    """``_codecs.encode`` as Python 3 protocol-2 pickles use it for bytes; only latin-1 is allowed."""
    if codecs.lookup(encoding).name != 'iso8859-1':
        raise pickle.UnpicklingError(f'encoding {encoding!r} is not allowed')
    return codecs.encode(text, 'latin1', errors)


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ('_codecs', 'encode'):
            return _latin1_encode
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f'the file names the global {module}.{name}, which a data file '
                                         'has no reason to contain')
        if module.startswith('numpy.core.'):
            try:  # numpy >= 2 warns on numpy.core; its modules live in numpy._core
                return getattr(importlib.import_module('numpy._core.' + module[len('numpy.core.'):]), name)
            except ImportError:
                pass
        return getattr(importlib.import_module(module), name)


def safe_pickle_load(path: str) -> Any:
    """Load a pickle holding only plain values and numpy arrays (Python 2 strings come back as bytes)."""
    try:
        with open(path, 'rb') as fh:
            return _ArrayOnlyUnpickler(fh, encoding='bytes').load()
    except OSError as e:
        raise DataError(f'cannot read {path}: {e.strerror}') from None
    except pickle.UnpicklingError as e:
        raise DataError(f'{path} is not a plain data pickle and was not loaded: {e}. Replace it with the '
                        'official file.') from None
    except Exception as e:  # truncated or garbled files raise EOFError, ValueError, ...
        raise DataError(f'cannot load {path} ({type(e).__name__}: {e}); the file is truncated or not a '
                        'pickle. Replace it with the official file.') from None
