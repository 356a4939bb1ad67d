"""Ranking metrics over a run (retrieved documents per query) and graded relevance.

nDCG@k follows ``trec_eval``'s ``ndcg_cut`` as BEIR reports it: gain = relevance
grade, discount ``1 / log2(rank + 1)``, the ideal from the judged grades of the
query; queries without relevant judgements are left out. Recall@k counts documents
with grade > 0; MRR is the reciprocal rank of the first relevant document.
"""

from __future__ import annotations

import numpy as np


def _judged(qrels) -> dict:
    judged: dict = {}
    for query, doc, grade in zip(qrels["query_id"].astype(str), qrels["doc_id"].astype(str),
                                 qrels["relevance"], strict=True):
        judged.setdefault(query, {})[doc] = float(grade)
    return {q: d for q, d in judged.items() if any(g > 0 for g in d.values())}


def _ranked(run) -> dict:
    ranked: dict = {}
    for query, doc in zip(run["query_id"].astype(str), run["doc_id"].astype(str),
                          strict=True):
        ranked.setdefault(query, []).append(doc)
    return ranked


def ranking_metrics(run, qrels, k: int = 10) -> dict:
    """``{"ndcg@k", "recall@k", "mrr@k"}`` averaged over the judged queries.

    Parameters
    ----------
    run : DataFrame
        ``query_id``, ``doc_id`` rows in rank order per query (as ``search`` returns).
    qrels : DataFrame
        ``query_id``, ``doc_id``, ``relevance`` (the shared layout).
    k : int, default=10
    """
    judged, ranked = _judged(qrels), _ranked(run)
    ndcg, recall, mrr = [], [], []
    for query, grades in judged.items():
        docs = ranked.get(query, [])[:k]
        gains = np.array([grades.get(d, 0.0) for d in docs])
        discount = 1.0 / np.log2(np.arange(2, len(docs) + 2))
        ideal = np.sort(np.array(list(grades.values())))[::-1][:k]
        idcg = float(np.sum(ideal * (1.0 / np.log2(np.arange(2, len(ideal) + 2)))))
        ndcg.append(float(np.sum(gains * discount)) / idcg)
        relevant = {d for d, g in grades.items() if g > 0}
        recall.append(len(relevant & set(docs)) / len(relevant))
        first = next((i for i, d in enumerate(docs) if d in relevant), None)
        mrr.append(0.0 if first is None else 1.0 / (first + 1))
    if not judged:
        raise ValueError("qrels hold no relevant judgement (relevance > 0): nothing to score.")
    return {f"ndcg@{k}": float(np.mean(ndcg)), f"recall@{k}": float(np.mean(recall)),
            f"mrr@{k}": float(np.mean(mrr))}
