"""Vector stores: rows of unit vectors searched by inner product, exactly or approximately.

Both stores keep the vectors (row ``i`` is chunk ``i`` of the index) and answer
``search(queries, n, allowed)``: the ``n`` best rows per query among ``allowed``
(rows not removed and passing the metadata filter), as scores and row numbers,
``-inf`` / ``-1`` where fewer rows are allowed. ``"exact"`` is one matrix product;
``"faiss"`` an HNSW graph (FAISS) searched with a selector of the allowed rows, so
removed or filtered rows never take a place in the top ``n``.
"""

from __future__ import annotations

import numpy as np

FAISS_EXTRA = "pip install 'sktransformers[index]'"


def require_faiss():
    try:
        import faiss
    except ImportError as exc:
        raise ImportError(f"store='faiss' needs FAISS: {FAISS_EXTRA}.") from exc
    return faiss


class ExactStore:
    """Every row scored for every query: exact, and fast enough below ~10^5 rows."""

    def __init__(self, vectors: np.ndarray):
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    def add(self, vectors: np.ndarray) -> None:
        self.vectors = np.vstack([self.vectors, np.asarray(vectors, dtype=np.float32)])

    def search(self, queries: np.ndarray, n: int, allowed: np.ndarray):
        scores = queries.astype(np.float32) @ self.vectors.T
        scores[:, ~allowed] = -np.inf
        n = min(n, scores.shape[1])
        top = np.argpartition(-scores, n - 1, axis=1)[:, :n]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        rows = np.take_along_axis(top, order, axis=1)
        best = np.take_along_axis(top_scores, order, axis=1)
        return best, np.where(np.isfinite(best), rows, -1)


class FaissStore:
    """An HNSW graph over the rows (FAISS ``IndexHNSWFlat``, inner product).

    Parameters
    ----------
    vectors : ndarray of shape (n_rows, dim)
    m : int
        Graph neighbours per node (memory and recall grow with it).
    ef_construction, ef_search : int
        Candidate lists when building and when searching (recall against speed).
    """

    def __init__(self, vectors: np.ndarray, m: int = 32, ef_construction: int = 80,
                 ef_search: int = 64):
        self.m, self.ef_construction, self.ef_search = m, ef_construction, ef_search
        faiss = require_faiss()
        self.index = faiss.IndexHNSWFlat(vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = ef_construction
        self.vectors = np.zeros((0, vectors.shape[1]), dtype=np.float32)
        self.add(vectors)

    def add(self, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.index.add(vectors)
        self.vectors = np.vstack([self.vectors, vectors])

    def search(self, queries: np.ndarray, n: int, allowed: np.ndarray):
        faiss = require_faiss()
        ids = np.flatnonzero(allowed).astype(np.int64)
        params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, n),
                                            sel=faiss.IDSelectorBatch(ids))
        scores, rows = self.index.search(np.ascontiguousarray(queries, dtype=np.float32),
                                         min(n, len(self.vectors)), params=params)
        return np.where(rows >= 0, scores, -np.inf), rows


def make_store(kind: str, vectors: np.ndarray, params: dict | None = None):
    """The store ``kind`` (``"exact"`` or ``"faiss"``) over ``vectors``."""
    if kind == "exact":
        return ExactStore(vectors)
    return FaissStore(vectors, **(params or {}))
