"""An embedding cache on disk that several processes read and append to safely.

``cache_dir=`` on the frozen-feature estimators points every worker of a search
(``GridSearchCV(n_jobs=...)``, joblib's Dask or Ray backends on one machine or a
shared file system) at one store, so each distinct text is encoded once in total.

Layout: one folder per embedding setting (a hash of model weights, pooling,
length, precision and windowing), holding shard files written by whichever process
encoded the texts. A shard (``.npz``, read with ``allow_pickle=False``) holds the
sha256 of each text, the number of rows of each (several with windows of long
texts) and the vectors. Shards are written to a temporary name and renamed, so a
reader never sees half a shard. Encoding the texts missing from the store happens
under an exclusive lock on the setting's folder: a second process asking for the
same texts waits, then finds them written, instead of encoding them again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from pathlib import Path

import numpy as np

_readers: dict = {}
_readers_lock = threading.Lock()


def text_hash(text) -> str:
    """sha256 of a text, or of a text pair (kept apart from any single text)."""
    if isinstance(text, tuple):
        text = "\x1fpair\x1f" + "\x1f".join(text)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class DiskStore:
    """The shards of one embedding setting under ``root`` (see the module docstring)."""

    def __init__(self, root, key):
        name = hashlib.sha256(repr(key).encode()).hexdigest()[:32]
        self.folder = Path(root).expanduser() / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self._vectors: dict[str, np.ndarray] = {}
        self._seen: set[str] = set()

    def _refresh(self) -> None:
        """Read the shards written since the last look (by any process)."""
        for path in sorted(self.folder.glob("*.npz")):
            if path.name in self._seen:
                continue
            with np.load(path, allow_pickle=False) as shard:
                hashes, counts, vectors = shard["hashes"], shard["counts"], shard["vectors"]
            for h, rows in zip(hashes, np.split(vectors, np.cumsum(counts)[:-1]), strict=True):
                self._vectors[str(h)] = rows
            self._seen.add(path.name)

    def get_many(self, texts) -> tuple[dict, list]:
        """``(found, missing)``: text -> rows stored for it, and the texts not stored."""
        self._refresh()
        found, missing = {}, []
        for text in texts:
            rows = self._vectors.get(text_hash(text))
            if rows is None:
                missing.append(text)
            else:
                found[text] = rows
        return found, missing

    def put_many(self, texts, rows_per_text) -> None:
        """Write one new shard holding each text's rows (a 1-D vector or a 2-D array)."""
        if not texts:
            return
        arrays = [np.atleast_2d(np.asarray(r, dtype=np.float32)) for r in rows_per_text]
        hashes = np.array([text_hash(t) for t in texts])
        handle, temp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        with os.fdopen(handle, "wb") as f:
            np.savez(f, hashes=hashes, counts=np.array([len(a) for a in arrays]),
                     vectors=np.concatenate(arrays))
        name = f"{os.getpid()}-{Path(temp).stem}.npz"
        os.replace(temp, self.folder / name)
        for h, a in zip(hashes, arrays, strict=True):
            self._vectors[str(h)] = a
        self._seen.add(name)

    @contextlib.contextmanager
    def locked(self):
        """Hold the setting's exclusive lock (across processes) inside the block."""
        with open(self.folder / ".lock", "a+") as handle:
            _lock(handle)
            try:
                yield
            finally:
                _unlock(handle)



def texts_written(cache_dir) -> int:
    """Texts encoded into the store at ``cache_dir`` so far, by every process.

    Each text is written once, by the process that encoded it, so this counts the
    encodings a search did in total.
    """
    total = 0
    for path in Path(cache_dir).expanduser().glob("*/*.npz"):
        with np.load(path, allow_pickle=False) as shard:
            total += len(shard["hashes"])
    return total


def store(root, key) -> DiskStore:
    """The process's reader of ``root`` for ``key`` (shards already read are kept)."""
    with _readers_lock:
        entry = (str(Path(root).expanduser().resolve()), key)
        if entry not in _readers:
            _readers[entry] = DiskStore(root, key)
        return _readers[entry]


def _lock(handle) -> None:
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
    else:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)


def _unlock(handle) -> None:
    if os.name == "nt":  # pragma: no cover
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
