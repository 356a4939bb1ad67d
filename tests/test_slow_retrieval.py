"""Retrieval on BEIR SciFact with the real backbone (slow; the dense runs are extended).

The anchors run in the same test: ``bm25s`` alone on the same documents, and frozen
embeddings with exact search. The full comparison (every mode, sentence-transformers +
FAISS, build and query times) is ``benchmarks/bench_retrieval.py``.
"""

from __future__ import annotations

import pandas as pd
import pytest

from sktransformers import DocumentIndex
from sktransformers.retrieval.metrics import ranking_metrics

from conftest import MEASURED, shared_dataset

pytestmark = pytest.mark.slow


def scifact(n_queries=None, n_distractors=None):
    folder = shared_dataset("scifact")
    corpus = pd.read_csv(folder / "corpus.csv", dtype=str, keep_default_na=False)
    queries = pd.read_csv(folder / "queries_test.csv", dtype=str, keep_default_na=False)
    qrels = pd.read_csv(folder / "qrels_test.csv", dtype={"query_id": str, "doc_id": str})
    if n_queries:
        queries = queries.head(n_queries)
        qrels = qrels[qrels.query_id.isin(queries.query_id)]
        others = corpus[~corpus.doc_id.isin(qrels.doc_id)].sample(n_distractors,
                                                                  random_state=0)
        corpus = pd.concat([corpus[corpus.doc_id.isin(qrels.doc_id)], others])
    return corpus, queries, qrels


def test_bm25_matches_the_bm25s_library_on_all_of_scifact():
    import bm25s
    import Stemmer

    corpus, queries, qrels = scifact()
    ours = DocumentIndex(mode="bm25").fit(corpus).score(queries, qrels)
    stem = Stemmer.Stemmer("english").stemWords
    texts = [f"{t} {x}" for t, x in zip(corpus.title, corpus.text, strict=True)]
    model = bm25s.BM25()
    model.index(bm25s.tokenize(texts, stopwords="en", stemmer=stem, show_progress=False),
                show_progress=False)
    rows = model.retrieve(bm25s.tokenize(list(queries.text), stopwords="en", stemmer=stem,
                                         show_progress=False), k=10, show_progress=False)[0]
    run = pd.DataFrame({"query_id": queries.query_id.repeat(10).to_numpy(),
                        "doc_id": corpus.doc_id.to_numpy()[rows.ravel()]})
    anchor = ranking_metrics(run, qrels, 10)["ndcg@10"]
    MEASURED.append(f"SciFact BM25 nDCG@10: DocumentIndex {ours:.3f}, bm25s alone "
                    f"{anchor:.3f}")
    assert ours == pytest.approx(anchor, abs=0.005)  # the same scorer, the same tokens
    assert ours >= 0.66  # BEIR's published BM25 is 0.665


@pytest.mark.extended
def test_hybrid_beats_each_of_its_rankings():
    """100 test claims against their evidence and 1,000 other abstracts (minutes)."""
    corpus, queries, qrels = scifact(n_queries=100, n_distractors=1000)
    scores = {mode: DocumentIndex(mode=mode).fit(corpus).score(queries, qrels)
              for mode in ("bm25", "dense", "hybrid")}
    MEASURED.append("SciFact subset nDCG@10: " + ", ".join(
        f"{m} {s:.3f}" for m, s in scores.items()))
    assert scores["hybrid"] > max(scores["bm25"], scores["dense"])
