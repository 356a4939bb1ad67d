"""Search helpers of ``DocumentIndex``: metadata filters, candidates, one chunk per document."""

from __future__ import annotations

import numpy as np


def allowed_documents(documents, doc_ids: np.ndarray, where) -> np.ndarray:
    """Boolean mask over ``doc_ids`` of the documents passing the metadata filter."""
    if where is None:
        return np.ones(len(doc_ids), dtype=bool)
    if callable(where):
        keep = np.asarray(where(documents), dtype=bool)
    elif isinstance(where, dict):
        keep = np.ones(len(documents), dtype=bool)
        for column, wanted in where.items():
            if column not in documents.columns:
                raise ValueError(f"where names {column!r}, which is not a document column; "
                                 f"columns: {list(documents.columns)}.")
            values = wanted if isinstance(wanted, (list, tuple, set)) else [wanted]
            keep &= documents[column].isin(list(values)).to_numpy()
    else:
        raise TypeError("where must be a dict {column: value or values} or a function of "
                        "the documents frame returning a boolean mask.")
    return np.isin(doc_ids, documents["doc_id"].to_numpy()[keep])


def top_candidates(scores: np.ndarray, n: int) -> np.ndarray:
    """``scores`` with all but each row's ``n`` best set to ``-inf``."""
    if scores.shape[1] <= n:
        return scores
    cut = np.partition(scores, -n, axis=1)[:, -n][:, None]
    return np.where(scores >= cut, scores, -np.inf)


def first_chunks(chunk_doc: np.ndarray, n_docs: int, n_queries: int) -> np.ndarray:
    """``(n_queries, n_docs)``: each document's first chunk (its row), for every query."""
    first = np.full(n_docs, -1, dtype=np.int64)
    first[chunk_doc[::-1]] = np.arange(len(chunk_doc))[::-1]
    return np.tile(first, (n_queries, 1))


def max_per_document(best: np.ndarray, rows: np.ndarray, chunk_doc: np.ndarray,
                     chunks: np.ndarray):
    """Document scores from chunk hits: a document scores as its best chunk (MaxP).

    ``best``/``rows`` are each query's chunk hits, best first (``-1``: none). Returns
    the ``(n_queries, n_docs)`` scores (``-inf`` for documents without a hit) and
    ``chunks`` with each hit document's best chunk.
    """
    scores = np.full(chunks.shape, -np.inf)
    chunks = chunks.copy()
    for q in range(rows.shape[0]):
        hits = rows[q] >= 0
        docs = chunk_doc[rows[q][hits]]
        _, first = np.unique(docs, return_index=True)  # hits are sorted: first is best
        scores[q, docs[first]] = best[q][hits][first]
        chunks[q, docs[first]] = rows[q][hits][first]
    return scores, chunks


def top_documents(scores: np.ndarray, k: int) -> np.ndarray:
    """Per query, the ``k`` best documents (``-1`` pads where fewer have a score)."""
    k = min(k, scores.shape[1])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    top_scores = np.take_along_axis(scores, top, axis=1)
    order = np.argsort(-top_scores, axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    return np.where(np.isfinite(np.take_along_axis(top_scores, order, axis=1)), top, -1)
