"""Reciprocal rank fusion (Cormack et al., 2009) of several rankings of one candidate set."""

from __future__ import annotations

import numpy as np


def ranks(scores: np.ndarray) -> np.ndarray:
    """1-based rank of every column of each row (highest score first; -inf ranks last)."""
    order = np.argsort(-scores, axis=1, kind="stable")
    out = np.empty_like(order)
    rows = np.arange(scores.shape[0])[:, None]
    out[rows, order] = np.arange(1, scores.shape[1] + 1)
    return out


def reciprocal_rank_fusion(score_sets, weights, k: int = 60) -> np.ndarray:
    """``sum_i w_i / (k + rank_i)`` per candidate; candidates a ranking excludes
    (score ``-inf``) get nothing from it, and ``-inf`` where every ranking excludes them.

    Parameters
    ----------
    score_sets : list of ndarray of shape (n_queries, n_candidates)
    weights : list of float
    k : int, default=60
        The constant of the original method: larger values flatten the top ranks.
    """
    fused = np.zeros(score_sets[0].shape, dtype=np.float64)
    seen = np.zeros(score_sets[0].shape, dtype=bool)
    for scores, weight in zip(score_sets, weights, strict=True):
        valid = np.isfinite(scores)
        fused += np.where(valid, weight / (k + ranks(np.where(valid, scores, -np.inf))), 0.0)
        seen |= valid
    return np.where(seen, fused, -np.inf)
