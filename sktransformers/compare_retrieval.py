"""Compare ways of searching one corpus: BM25, dense, hybrid, reranked, a tuned encoder.

The retrieval counterpart of :mod:`sktransformers.compare`, behind ``sktransformers
retrieve``: every set-up is a :class:`~sktransformers.DocumentIndex` over the same
corpus, scored on the same test queries and judgements (nDCG@k, recall@100, MRR@k),
with its build time (training included), single-query latency and vector memory.
Two set-ups learn from judged training queries, when given:

- ``"reranked"``: hybrid search whose top ``n_rerank`` documents a cross-encoder
  (``FullFinetuneClassifier`` on query/document pairs) reorders;
- ``"finetuned"``: hybrid search whose dense half is a bi-encoder tuned on those
  pairs to rank (``ContrastiveClassifier`` on text pairs: in-batch negatives; its
  ``embed`` gives the vectors). Compare it with ``"hybrid"``: only the encoder differs.

Their training pairs are each judged document (relevant) and the best BM25 documents
not judged for that query (hard negatives, ``n_negatives`` per query). The set-ups
share the process's embedding cache: a mode after ``"dense"`` with the same encoder
reuses its chunk vectors, so its build time leaves the encoding out.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.frozen import FrozenEstimator

from .backbones.cache import EmbeddingCache, using
from .compare import markdown_table
from .estimators.contrastive import ContrastiveClassifier
from .estimators.indexing import DocumentIndex
from .estimators.tuned import FullFinetuneClassifier

MODES = ("bm25", "dense", "hybrid", "reranked", "finetuned")
TRAINED = ("reranked", "finetuned")
#: The trained models read a query and a document's first ~100 tokens: on a CPU,
#: attention over 256 tokens in batches of 32 pairs peaked at 10 GB of memory. Two
#: epochs: a third cost the demo 27 s of its 4 minutes for +0.010 nDCG@10 (0.693
#: against 0.683 on python-docs; SciFact in benchmarks/results/retrieval_scifact.md).
TRAINING = {"max_length": 128, "batch_size": 8, "max_epochs": 2}
#: The bi-encoder's ranking loss takes its negatives from the batch: more per step.
RANKING = {"max_length": 128, "batch_size": 32, "max_epochs": 2}


def training_pairs(corpus, queries, qrels, *, n_negatives=3, max_chars=1000, random_state=0):
    """Query/document pairs labelled 1 (judged relevant) or 0 (a BM25 hard negative).

    Parameters
    ----------
    corpus, queries, qrels : DataFrame
        The shared layouts: ``doc_id``/``title``/``text``; ``query_id``/``text``;
        ``query_id``/``doc_id``/``relevance``.
    n_negatives : int, default=3
        Unjudged documents per query: the best BM25 ranks, then (where BM25 matches
        too few) others drawn at random.
    max_chars : int, default=1000
        Documents are cut to this many characters (the encoder reads the start).
    random_state : int, default=0
        Seeds the random negatives.

    Returns
    -------
    pairs : DataFrame
        Columns ``query`` and ``document``.
    labels : ndarray of int
    """
    docs = corpus.assign(doc_id=corpus.doc_id.astype(str)).set_index("doc_id")
    text = (docs.title.fillna("") + " " + docs.text).str.strip().str[:max_chars]
    relevant = qrels[qrels.relevance > 0].assign(query_id=lambda f: f.query_id.astype(str),
                                                 doc_id=lambda f: f.doc_id.astype(str))
    judged = relevant.groupby("query_id").doc_id.apply(set).to_dict()
    asked = queries.assign(query_id=queries.query_id.astype(str))
    asked = asked[asked.query_id.isin(judged)]
    bm25 = DocumentIndex(mode="bm25", k=n_negatives + 10, verbose=0).fit(corpus)
    found = bm25.search(asked[["query_id", "text"]])
    rng = np.random.default_rng(random_state)
    rows = []
    for query_id, query in zip(asked.query_id, asked.text, strict=True):
        rows += [(query, text[d], 1) for d in sorted(judged[query_id])]
        hard = [d for d in found[found.query_id == query_id].doc_id if d not in judged[query_id]]
        others = [d for d in rng.permutation(text.index) if d not in judged[query_id]
                  and d not in hard]  # where BM25 finds too few, any unjudged documents
        rows += [(query, text[d], 0) for d in (hard + others)[:n_negatives]]
    pairs = pd.DataFrame(rows, columns=["query", "document", "label"])
    return pairs[["query", "document"]], pairs.label.to_numpy()


def make_index(mode, pairs, labels, *, model, k, device, random_state, verbose):
    """The (unfitted) DocumentIndex of ``mode``, training its model first when needed."""
    common = {"k": k, "device": device, "verbose": verbose}
    if mode in ("bm25", "dense", "hybrid"):
        return DocumentIndex(model, mode=mode, **common)
    if mode == "reranked":
        reranker = FullFinetuneClassifier(model, pair_encoding="cross", **TRAINING,
                                          device=device, verbose=verbose,
                                          random_state=random_state).fit(pairs, labels)
        return DocumentIndex(model, mode="hybrid", reranker=FrozenEstimator(reranker),
                             **common)
    encoder = ContrastiveClassifier(model, **RANKING, device=device, verbose=verbose,
                                    random_state=random_state).fit(pairs, labels)
    return DocumentIndex(FrozenEstimator(encoder), mode="hybrid", **common)


def search_latencies(search, texts, n=50, budget_s=None):
    """p50 and p99 ms of ``search(text)`` over the first ``n`` texts, each query embedded
    afresh (an empty embedding cache: a scoring pass before may have cached them all).

    With ``budget_s``, timing stops once that many seconds are spent (after at least 5
    queries): a slow set-up (a cross-encoder reranking) is timed on fewer queries.
    """
    times = []
    with using(EmbeddingCache()):
        for text in list(texts)[:n]:
            start = time.perf_counter()
            search(text)
            times.append(time.perf_counter() - start)
            if budget_s is not None and len(times) >= 5 and sum(times) > budget_s:
                break
    return 1000 * np.percentile(times, 50), 1000 * np.percentile(times, 99)


def compare_retrieval(corpus, queries, qrels, *, train_queries=None, train_qrels=None,
                      modes=None, model=None, k=10, n_negatives=3, n_latency=50,
                      latency_budget_s=5.0, device="auto", random_state=0,
                      verbose=1) -> pd.DataFrame:
    """Build each retrieval set-up on ``corpus`` and score it on the test queries.

    Parameters
    ----------
    corpus : DataFrame or list of str
        What :meth:`DocumentIndex.fit` takes.
    queries, qrels : DataFrame
        Test queries (``query_id``, ``text``) and judgements (``query_id``, ``doc_id``,
        ``relevance``).
    train_queries, train_qrels : DataFrame, optional
        Judged training queries: needed by ``"reranked"`` and ``"finetuned"``.
    modes : list of str, optional
        Of :data:`MODES`; default: all that the data allows.
    model : str or path, optional
        The encoder (the packaged all-MiniLM-L6-v2 by default).
    k : int, default=10
        The cut of nDCG and MRR.
    n_negatives : int, default=3
        Hard negatives per training query.
    n_latency : int, default=50
        Single-query searches timed for the latency percentiles (at most).
    latency_budget_s : float or None, default=5.0
        Seconds of single-query searches per set-up, at least 5 queries; ``None``:
        all ``n_latency``.
    device, random_state, verbose
        As for the estimators.

    Returns
    -------
    results : DataFrame
        One row per set-up: ``mode``, ``ndcg@k``, ``recall@100``, ``mrr@k``,
        ``build_s`` (training included), ``p50_ms``, ``p99_ms``, ``vectors_mb``.
    """
    has_training = train_queries is not None and train_qrels is not None
    modes = list(modes or [m for m in MODES if has_training or m not in TRAINED])
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        raise ValueError(f"Unknown retrieval modes {unknown}; choose from {list(MODES)}.")
    if set(modes) & set(TRAINED) and not has_training:
        raise ValueError(f"{sorted(set(modes) & set(TRAINED))} learn from judged training "
                         "queries: pass train_queries and train_qrels (--train-queries, "
                         "--train-qrels), or leave those modes out.")
    pairs = labels = None
    rows = []
    for mode in modes:
        if verbose:
            print(f"{mode}: building the index ...", flush=True)
        start = time.perf_counter()
        if mode in TRAINED and pairs is None:
            pairs, labels = training_pairs(corpus, train_queries, train_qrels,
                                           n_negatives=n_negatives, random_state=random_state)
        index = make_index(mode, pairs, labels, model=model, k=k, device=device,
                           random_state=random_state, verbose=verbose).fit(corpus)
        build_s = time.perf_counter() - start
        scores = index.evaluate(queries, qrels, k=[k, 100])
        p50, p99 = search_latencies(index.search, queries.text, n_latency, latency_budget_s)
        vectors = getattr(index, "vectors_", None)
        rows.append({"mode": mode, f"ndcg@{k}": scores[f"ndcg@{k}"],
                     "recall@100": scores["recall@100"],
                     f"mrr@{k}": scores[f"mrr@{k}"], "build_s": build_s, "p50_ms": p50,
                     "p99_ms": p99,
                     "vectors_mb": 0.0 if vectors is None else vectors.nbytes / 2**20})
        if verbose:
            print(f"{mode}: nDCG@{k} {scores[f'ndcg@{k}']:.3f}, built in {build_s:.1f} s",
                  flush=True)
    return pd.DataFrame(rows)


def format_retrieval_table(results: pd.DataFrame) -> str:
    """The results as a Markdown table with rounded numbers."""
    def cell(v):
        return f"{v:.3f}" if isinstance(v, float) and abs(v) < 10 else (
            f"{v:.1f}" if isinstance(v, float) else str(v))
    return markdown_table(results, cell)


def write_retrieval_report(results: pd.DataFrame, out_dir, title="", note="") -> list[Path]:
    """Write ``retrieval.md``, ``retrieval.csv`` and (with matplotlib) ``retrieval.png``.

    Parameters
    ----------
    results : DataFrame
        What :func:`compare_retrieval` returned.
    out_dir : str or path
        Folder to write into (created if needed).
    title, note : str
        Heading and a paragraph under it.

    Returns
    -------
    written : list of pathlib.Path
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results.to_csv(out / "retrieval.csv", index=False)
    (out / "retrieval.md").write_text(f"# {title}\n\n{note}\n\n"
                                      f"{format_retrieval_table(results)}\n")
    written = [out / "retrieval.md", out / "retrieval.csv"]
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return written
    metric = next(c for c in results.columns if c.startswith("ndcg@"))
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    bars = ax.barh(results["mode"], results[metric], color="tab:blue")
    for bar, seconds in zip(bars, results.build_s, strict=True):
        ax.annotate(f" {bar.get_width():.3f}  (built in {seconds:.0f} s)",
                    (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                    va="center", fontsize=8)
    ax.set_xlim(0, min(1.0, results[metric].max() * 1.45))
    ax.invert_yaxis()
    ax.set_xlabel(f"{metric.replace('ndcg', 'nDCG')} on the test queries")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "retrieval.png", dpi=120)
    return [*written, out / "retrieval.png"]
