"""A process-wide, size-bounded cache of frozen text embeddings.

Entries are keyed by ``(weights hash, pooling, max_length, precision, text)``,
so clones of an estimator (``GridSearchCV``, ``cross_val_score``) share them: each
distinct text is encoded once per backbone, however many folds and grid points
ask for it. The weights hash is the content hash of the model folder, so a
different model saved into the same folder never returns stale vectors.
Least-recently-used entries are evicted past ``max_bytes``, which counts the
vectors and the texts that key them.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections import OrderedDict

import numpy as np


class EmbeddingCache:
    """LRU cache of embedding vectors, bounded by the bytes they hold.

    Parameters
    ----------
    max_bytes : int, default=512 MiB
        Upper bound on the memory held by cached vectors; the least recently used
        vectors are dropped beyond it. ``0`` disables caching.

    Examples
    --------
    >>> import numpy as np
    >>> cache = EmbeddingCache(max_bytes=1024)
    >>> cache.put_many(("m", "mean", 128, "fp32"), ["hi"], np.ones((1, 4), np.float32))
    >>> cache.get_many(("m", "mean", 128, "fp32"), ["hi", "new"])[1]
    ['new']
    """

    def __init__(self, max_bytes: int = 512 * 2**20):
        self.max_bytes = int(max_bytes)
        self._store: OrderedDict = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._store)

    @property
    def nbytes(self) -> int:
        """Bytes held by the cached vectors and their texts."""
        return self._bytes

    def get_many(self, key, texts):
        """Look up the vectors of ``texts`` under ``key``.

        Parameters
        ----------
        key : hashable
            What identifies the encoder (backbone, pooling, length...).
        texts : list of str
            Texts to look up.

        Returns
        -------
        found : dict of str to ndarray
            The cached vectors.
        missing : list of str
            The texts not cached.
        """
        found, missing = {}, []
        with self._lock:
            for text in texts:
                vec = self._store.get((key, text))
                if vec is None:
                    missing.append(text)
                else:
                    self._store.move_to_end((key, text))
                    found[text] = vec
            self.hits += len(found)
            self.misses += len(missing)
        return found, missing

    def put_many(self, key, texts, vectors: np.ndarray) -> None:
        """Store one row of ``vectors`` per text, evicting old entries past the bound.

        Parameters
        ----------
        key : hashable
            What identifies the encoder.
        texts : list of str
            The texts, in the order of ``vectors``' rows.
        vectors : ndarray of shape (n_texts, n_features)
            Their embeddings.
        """
        if self.max_bytes <= 0:
            return
        with self._lock:
            for text, vec in zip(texts, vectors, strict=True):
                entry = (key, text)
                if entry in self._store:
                    continue
                vec = np.array(vec, copy=True)
                vec.setflags(write=False)
                self._store[entry] = vec
                self._bytes += _entry_bytes(text, vec)
            while self._bytes > self.max_bytes and self._store:
                (_, old_text), old = self._store.popitem(last=False)
                self._bytes -= _entry_bytes(old_text, old)

    def clear(self) -> None:
        """Drop every cached vector and reset the hit/miss counters."""
        with self._lock:
            self._store.clear()
            self._bytes = 0
            self.hits = self.misses = 0


def _entry_bytes(text, vec) -> int:
    """Memory of one entry: the vector, the text (or both texts of a pair), the slot."""
    texts = text if isinstance(text, tuple) else (text,)
    return vec.nbytes + sum(sys.getsizeof(t) for t in texts) + _SLOT_BYTES


#: Bookkeeping per entry (dictionary slot, key tuple, array header), measured.
_SLOT_BYTES = 160

#: The cache every frozen-feature estimator uses (``cache=True``).
embedding_cache = EmbeddingCache()

_active: list = []


def current() -> EmbeddingCache:
    """The cache in use: :data:`embedding_cache`, or one set by :func:`using`."""
    return _active[-1] if _active else embedding_cache


@contextlib.contextmanager
def using(cache: EmbeddingCache):
    """Use ``cache`` instead of the process cache inside the block (``compare`` does)."""
    _active.append(cache)
    try:
        yield cache
    finally:
        _active.pop()
