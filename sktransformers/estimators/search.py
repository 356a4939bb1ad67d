"""Search helpers of ``DocumentIndex``: metadata filters, candidates, one chunk per document."""

from __future__ import annotations

import numpy as np


def allowed_documents(documents, chunk_doc: np.ndarray, where) -> np.ndarray:
    """Boolean mask over chunks whose document passes the metadata filter ``where``."""
    if where is None:
        return np.ones(len(chunk_doc), dtype=bool)
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
    return np.isin(chunk_doc, documents["doc_id"].to_numpy()[keep])


def top_candidates(scores: np.ndarray, n: int) -> np.ndarray:
    """``scores`` with all but each row's ``n`` best set to ``-inf``."""
    if scores.shape[1] <= n:
        return scores
    cut = np.partition(scores, -n, axis=1)[:, -n][:, None]
    return np.where(scores >= cut, scores, -np.inf)


def best_chunk_per_document(scores: np.ndarray, chunk_doc: np.ndarray, k: int) -> np.ndarray:
    """Per query, the rows of the ``k`` best documents' best chunks (``-1`` pads)."""
    out = np.full((scores.shape[0], k), -1, dtype=np.int64)
    for q, row in enumerate(scores):
        candidates = np.flatnonzero(np.isfinite(row))
        ranked = candidates[np.argsort(-row[candidates], kind="stable")]
        _, first = np.unique(chunk_doc[ranked], return_index=True)
        best = ranked[np.sort(first)][:k]
        out[q, : len(best)] = best
    return out
