"""Vector stores: rows of unit vectors searched by inner product, exactly or approximately.

Every store keeps row ``i`` as chunk ``i`` of the index and answers
``search(queries, n, allowed)``: the ``n`` best rows per query among ``allowed``
(rows not removed and passing the metadata filter), as scores and row numbers,
``-inf`` / ``-1`` where fewer rows are allowed. ``remove(rows)`` erases rows,
``state()`` is what a saved index keeps of the store besides the vectors (``None``:
rebuilt from them on loading) and ``drop()`` deletes what lives outside the process.

- ``"exact"``: one matrix product.
- ``"faiss"``: FAISS's HNSW graph or inverted lists (IVF), searched with a selector of
  the allowed rows, so removed or filtered rows never take a place in the top ``n``
  (a filter keeping few rows is scanned exactly); saved as FAISS's own serialised
  index, so loading does not rebuild it.
- ``"qdrant"``: a Qdrant collection, in this process (the default, or a folder) or
  on a Qdrant server or cluster by URL.
"""

from __future__ import annotations

import atexit
import uuid

import numpy as np

FAISS_EXTRA = "pip install 'sktransformers[index]'"
#: A filter that keeps at most this many rows is searched exactly (a FAISS graph walk or
#: probe that skips most rows can miss the few allowed; Qdrant's planner does the same).
FILTER_SCAN_ROWS = 10_000
QDRANT_EXTRA = "pip install 'sktransformers[qdrant]'"
#: Exact search scores queries in blocks of about this many (query, row) pairs: 1,000
#: queries against 10^6 rows would otherwise take 4 GB of scores and 8 GB of indices.
EXACT_BLOCK_SCORES = 2**25


def require_faiss():
    try:
        import faiss
    except ImportError as exc:
        raise ImportError(f"store='faiss' needs FAISS: {FAISS_EXTRA}.") from exc
    return faiss


def require_qdrant():
    try:
        import qdrant_client
    except ImportError as exc:
        raise ImportError(f"store='qdrant' needs the Qdrant client: {QDRANT_EXTRA}.") from exc
    return qdrant_client


def _top_n(scores: np.ndarray, n: int):
    """The ``n`` best columns per row of ``scores``, best first (``-1`` past the finite)."""
    n = min(n, scores.shape[1])
    top = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.argsort(-top_scores, axis=1, kind="stable")
    rows = np.take_along_axis(top, order, axis=1)
    best = np.take_along_axis(top_scores, order, axis=1)
    return best, np.where(np.isfinite(best), rows, -1)


class ExactStore:
    """Every row scored for every query: exact, and fast enough below ~10^5 rows."""

    def __init__(self, vectors: np.ndarray, state=None):
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    def add(self, vectors: np.ndarray) -> None:
        self.vectors = np.vstack([self.vectors, np.asarray(vectors, dtype=np.float32)])

    def remove(self, rows: np.ndarray) -> None:
        self.vectors[rows] = 0.0

    def search(self, queries: np.ndarray, n: int, allowed: np.ndarray):
        # queries in blocks, so the score matrix stays near EXACT_BLOCK_SCORES floats
        block = max(1, EXACT_BLOCK_SCORES // max(1, len(self.vectors)))
        parts = []
        for start in range(0, len(queries), block):
            scores = queries[start:start + block].astype(np.float32) @ self.vectors.T
            scores[:, ~allowed] = -np.inf
            parts.append(_top_n(scores, n))
        return np.vstack([b for b, _ in parts]), np.vstack([r for _, r in parts])

    def state(self):
        return None

    def drop(self) -> None:
        """Nothing outside this process to delete."""


class FaissStore:
    """A FAISS index over the rows (inner product): an HNSW graph or inverted lists.

    Parameters
    ----------
    vectors : ndarray of shape (n_rows, dim)
    kind : {"hnsw", "ivf"}, default="hnsw"
        ``IndexHNSWFlat``, or ``IndexIVFFlat`` (k-means cells, trained on the first
        vectors; searched in ``nprobe`` cells).
    m, ef_construction, ef_search : int
        HNSW's neighbours per node and candidate lists when building and searching.
    nlist, nprobe : int
        IVF's cells (at most one per 39 vectors, FAISS's minimum for training) and
        cells searched per query.
    state : ndarray of uint8, optional
        A serialised index (``state()``): used instead of building a new one.
    """

    def __init__(self, vectors: np.ndarray, kind: str = "hnsw", m: int = 32,
                 ef_construction: int = 80, ef_search: int = 64, nlist: int = 1024,
                 nprobe: int = 16, state=None):
        if kind not in ("hnsw", "ivf"):
            raise ValueError(f"store_options kind={kind!r}: FAISS indexes here are 'hnsw' "
                             "or 'ivf'.")
        self.kind, self.ef_search, self.nprobe = kind, ef_search, nprobe
        faiss = require_faiss()
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.removed = False
        if state is not None:
            self.index = faiss.deserialize_index(np.asarray(state, dtype=np.uint8))
            return
        dim = vectors.shape[1]
        if kind == "hnsw":
            self.index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efConstruction = ef_construction
        else:
            cells = max(1, min(nlist, len(vectors) // 39))
            self.index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, cells,
                                            faiss.METRIC_INNER_PRODUCT)
            self.index.train(self.vectors)
        self.index.add(self.vectors)

    def add(self, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.index.add(vectors)
        self.vectors = np.vstack([self.vectors, vectors])

    def remove(self, rows: np.ndarray) -> None:
        # HNSW graphs cannot drop nodes: the allowed rows' selector keeps them out of
        # every search, and a saved index is rebuilt from the (erased) vectors instead
        self.vectors[rows] = 0.0
        self.removed = True

    def search(self, queries: np.ndarray, n: int, allowed: np.ndarray):
        kept = np.flatnonzero(allowed)
        if len(kept) < len(allowed) and len(kept) <= FILTER_SCAN_ROWS:
            # a graph walk that skips most nodes can miss allowed ones: scan those exactly
            best, top = _top_n(queries.astype(np.float32) @ self.vectors[kept].T, n)
            return best, np.where(top >= 0, kept[np.maximum(top, 0)], -1)
        faiss = require_faiss()
        # a selector of every row costs a hash set of them per call: none when all count
        where = {} if len(kept) == len(allowed) else {"sel": faiss.IDSelectorBatch(
            kept.astype(np.int64))}
        params = (faiss.SearchParametersHNSW(efSearch=max(self.ef_search, n), **where)
                  if self.kind == "hnsw" else
                  faiss.SearchParametersIVF(nprobe=self.nprobe, **where))
        scores, rows = self.index.search(np.ascontiguousarray(queries, dtype=np.float32),
                                         min(n, len(self.vectors)), params=params)
        return np.where(rows >= 0, scores, -np.inf), rows

    def state(self):
        """The serialised index (FAISS's own format, as bytes), or ``None`` after removals."""
        return None if self.removed else require_faiss().serialize_index(self.index)

    def drop(self) -> None:
        """Nothing outside this process to delete."""


class QdrantStore:
    """A Qdrant collection of the rows (point ``i`` is row ``i``, dot-product distance).

    Parameters
    ----------
    vectors : ndarray of shape (n_rows, dim)
    url, api_key : str, optional
        A Qdrant server or cluster; without ``url`` the collection lives in this
        process (the client's local mode: in memory, or in the folder ``path``).
    path : str, optional
        Folder of a local-mode collection that outlives the process.
    collection : str, optional
        The collection's name; a new unique one by default. An existing collection is
        never overwritten: ``fit`` refuses a name already on the server.
    m, ef_construction, ef_search : int, optional
        HNSW settings of the server's index (the local mode searches exactly).
    batch_size : int, default=256
        Points per upload request.
    state : dict, optional
        ``state()`` of a saved index: reattach to its collection where it still holds
        every row, else build it again from ``vectors``.
    """

    def __init__(self, vectors: np.ndarray, url: str | None = None, api_key: str | None = None,
                 path: str | None = None, collection: str | None = None,
                 m: int | None = None, ef_construction: int | None = None,
                 ef_search: int | None = None, batch_size: int = 256, state=None):
        require_qdrant()
        from qdrant_client import QdrantClient

        self.url, self.path, self.ef_search, self.batch_size = url, path, ef_search, batch_size
        self.client = (QdrantClient(url=url, api_key=api_key) if url else
                       _local_client(path) if path else QdrantClient(location=":memory:"))
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if state is not None and self._reattach(state["collection"]):
            return
        self.collection = collection or f"sktransformers_{uuid.uuid4().hex[:12]}"
        if self.client.collection_exists(self.collection):
            raise ValueError(
                f"The Qdrant collection {self.collection!r} already exists; DocumentIndex "
                "never overwrites one. Pass store_options={'collection': <a new name>} or "
                "delete it on the server first.")
        self._create(m, ef_construction)
        self._upload(self.vectors, 0)

    def _reattach(self, collection: str) -> bool:
        self.collection = collection
        return (self.client.collection_exists(collection) and self.client.count(
            collection, exact=True).count == int(np.any(self.vectors != 0, axis=1).sum()))

    def _create(self, m, ef_construction) -> None:
        from qdrant_client import models

        hnsw = models.HnswConfigDiff(m=m, ef_construct=ef_construction) if (
            m or ef_construction) else None
        self.client.create_collection(self.collection, vectors_config=models.VectorParams(
            size=self.vectors.shape[1], distance=models.Distance.DOT), hnsw_config=hnsw)

    def _upload(self, vectors: np.ndarray, start: int) -> None:
        keep = np.flatnonzero(np.any(vectors != 0, axis=1))  # erased rows stay out
        self.client.upload_collection(self.collection, vectors=vectors[keep],
                                      ids=(keep + start).tolist(),
                                      batch_size=self.batch_size, wait=True)

    def add(self, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self._upload(vectors, len(self.vectors))
        self.vectors = np.vstack([self.vectors, vectors])

    def remove(self, rows: np.ndarray) -> None:
        from qdrant_client import models

        self.vectors[rows] = 0.0
        self.client.delete(self.collection, points_selector=models.PointIdsList(
            points=np.asarray(rows, dtype=np.int64).tolist()), wait=True)

    def drop(self) -> None:
        """Delete the collection (a refit replaces it)."""
        self.client.delete_collection(self.collection)

    def search(self, queries: np.ndarray, n: int, allowed: np.ndarray):
        from qdrant_client import models

        n = min(n, len(self.vectors))
        where = None
        if not allowed.all():  # name the smaller set of rows
            kept, dropped = np.flatnonzero(allowed), np.flatnonzero(~allowed)
            condition = models.HasIdCondition(has_id=(kept if len(kept) <= len(dropped)
                                                      else dropped).tolist())
            where = (models.Filter(must=[condition]) if len(kept) <= len(dropped) else
                     models.Filter(must_not=[condition]))
        params = models.SearchParams(hnsw_ef=self.ef_search) if self.ef_search else None
        answers = self.client.query_batch_points(self.collection, [
            models.QueryRequest(query=q.tolist(), limit=n, filter=where, params=params)
            for q in np.asarray(queries, dtype=np.float32)])
        scores = np.full((len(queries), n), -np.inf)
        rows = np.full((len(queries), n), -1, dtype=np.int64)
        for i, answer in enumerate(answers):
            for j, point in enumerate(answer.points):
                scores[i, j], rows[i, j] = point.score, int(point.id)
        return scores, rows

    def state(self):
        """The collection's name: a loaded index reattaches to it where it still exists."""
        return {"collection": self.collection}


#: One client per local folder in this process: Qdrant's local mode locks its folder.
_LOCAL_CLIENTS: dict = {}


def _local_client(path):
    from pathlib import Path

    from qdrant_client import QdrantClient

    key = str(Path(path).resolve())
    if not _LOCAL_CLIENTS:  # closed before the interpreter tears its modules down
        atexit.register(_close_local_clients)
    if key not in _LOCAL_CLIENTS:
        _LOCAL_CLIENTS[key] = QdrantClient(path=key)
    return _LOCAL_CLIENTS[key]


def _close_local_clients() -> None:
    while _LOCAL_CLIENTS:
        _LOCAL_CLIENTS.popitem()[1].close()


STORES = {"exact": ExactStore, "faiss": FaissStore, "qdrant": QdrantStore}


def make_store(kind: str, vectors: np.ndarray, params: dict | None = None, state=None):
    """The store ``kind`` (``"exact"``, ``"faiss"`` or ``"qdrant"``) over ``vectors``."""
    return STORES[kind](vectors, **(params or {}), state=state)
