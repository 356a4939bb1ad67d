"""Indexing: a searchable corpus as an estimator (dense, BM25 or hybrid retrieval)."""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..retrieval.chunks import chunk_spans
from ..retrieval.documents import check_documents, check_queries, full_text
from ..retrieval.fusion import reciprocal_rank_fusion
from ..retrieval.lexical import LexicalIndex, require_bm25s
from ..retrieval.metrics import ranking_metrics
from ..retrieval.stores import make_store, require_faiss, require_qdrant
from .base import ENCODER_CONSTRAINTS, TextInputMixin, store_params
from .embedding import TransformerEmbedder
from .search import (
    allowed_documents,
    first_chunks,
    max_per_document,
    top_candidates,
    top_documents,
)


class DocumentIndex(TextInputMixin, BaseEstimator):
    """Search a corpus: chunk, embed and index documents; return the best for a query.

    ``fit(documents)`` splits each document (its title, then its text) into
    overlapping token windows, embeds every chunk with the encoder and stores the unit
    vectors; ``search(queries)`` embeds the queries the same way and returns the best
    documents, each with its best chunk. ``mode`` chooses dense retrieval, lexical
    BM25 (``bm25s``), or both fused by reciprocal rank (``"hybrid"``); a fitted pair
    classifier can rerank the top documents. ``score`` is nDCG@``k`` against graded
    relevance judgements, so ``GridSearchCV`` tunes chunking, mode and weights.

    Parameters
    ----------
    encoder : str, path, fitted estimator or None, default=None
        The packaged all-MiniLM-L6-v2 (``None``), a hub id or model folder, or a
        fitted sktransformers estimator with ``embed`` (e.g. a ``LoRAClassifier``
        trained on your own query/document pairs with ``pair_encoding="bi"``); wrap a
        fitted one in ``sklearn.frozen.FrozenEstimator`` to keep it through ``clone``.
    mode : {"dense", "bm25", "hybrid"}, default="dense"
    hybrid_weight : float, default=0.5
        Weight of the dense ranking in the fusion (BM25 gets the rest).
    rrf_k : int, default=60
        Reciprocal rank fusion's constant.
    chunk_size : int or None, default=None
        Tokens per chunk; ``None``: what the encoder reads (its ``max_length`` less the
        two special tokens).
    chunk_overlap : int, default=32
        Tokens shared by consecutive chunks of a document.
    k : int, default=10
        Documents ``search`` returns per query, and the cut of ``score``'s nDCG.
    n_candidates : int, default=100
        Chunks each ranking contributes before fusion, aggregation and reranking.
    store : {"exact", "faiss", "qdrant"}, default="exact"
        Exact inner products; FAISS (approximate, in this process; the ``index``
        extra); or a Qdrant collection, in this process or on a Qdrant server or
        cluster (the ``qdrant`` extra).
    store_options : dict or None, default=None
        For ``"faiss"``: ``kind`` (``"hnsw"``, the default, or ``"ivf"``), ``m``,
        ``ef_construction``, ``ef_search`` (HNSW), ``nlist``, ``nprobe`` (IVF). For
        ``"qdrant"``: ``url`` and ``api_key`` of a server (else in this process),
        ``path`` (a local folder), ``collection`` (a new unique name by default; an
        existing collection is never overwritten, a refit replaces its own), ``m``,
        ``ef_construction``, ``ef_search``, ``batch_size``.
    stemmer : str or None, default="english"
        Snowball stemmer language of BM25 (``None``: no stemming).
    reranker : fitted pair classifier or None, default=None
        Scores ``(query, chunk)`` pairs with ``predict_proba`` (the last class's
        probability: "relevant"); the top ``n_rerank`` documents are reordered by it.
    n_rerank : int, default=20
        Documents the reranker reorders (the best of the first ranking).
    batch_size : int, default=64
        Chunks (and queries) per forward pass of the encoder.
    n_jobs : int or None, default=None
        Workers that embed the chunks of ``fit`` and ``add`` in parallel, through
        joblib: processes on this machine, or a Dask or Ray cluster's workers inside
        ``joblib.parallel_config(backend="dask")`` (or ``"ray"``). Each worker loads
        the encoder once per share of the chunks; with a shared ``cache_dir`` every
        chunk is encoded once across workers and refits. ``None``: in this process.
    cache_dir : str or path, default=None
        Embeddings also kept on disk, shared by processes (see ``TransformerEmbedder``).
    device, precision, verbose
        As for ``TransformerEmbedder``.

    Attributes
    ----------
    documents_ : DataFrame
        ``doc_id``, ``title``, ``text`` and metadata of the indexed documents.
    n_chunks_ : int
        Chunks searched (removed documents' chunks excluded).
    vectors_ : ndarray of shape (n_chunks_total, dim) or None
        Unit chunk vectors (``None`` for ``mode="bm25"``).

    Examples
    --------
    >>> from sktransformers import DocumentIndex
    >>> docs = ["Cats purr when they are content.", "The stock market fell sharply today.",
    ...         "Dogs wag their tails when happy."]
    >>> index = DocumentIndex(k=1).fit(docs)
    >>> index.search(["why do cats purr"]).doc_id.tolist()
    ['0']
    """

    _rebuilt = ("store_", "lexical_")
    _parameter_constraints = {
        "encoder": [str, os.PathLike, HasMethods(["embed"]), None],
        "mode": [StrOptions({"dense", "bm25", "hybrid"})],
        "hybrid_weight": [Interval(Real, 0, 1, closed="both")],
        "rrf_k": [Interval(Integral, 1, None, closed="left")],
        "chunk_size": [Interval(Integral, 2, None, closed="left"), None],
        "chunk_overlap": [Interval(Integral, 0, None, closed="left")],
        "k": [Interval(Integral, 1, None, closed="left")],
        "n_candidates": [Interval(Integral, 1, None, closed="left")],
        "store": [StrOptions({"exact", "faiss", "qdrant"})],
        "store_options": [dict, None],
        "stemmer": [str, None],
        "reranker": [HasMethods(["predict_proba"]), None],
        "n_rerank": [Interval(Integral, 1, None, closed="left")],
        "batch_size": ENCODER_CONSTRAINTS["batch_size"],
        "n_jobs": [Integral, None],
        "cache_dir": [str, os.PathLike, None],
        "device": ENCODER_CONSTRAINTS["device"],
        "precision": ENCODER_CONSTRAINTS["precision"],
        "verbose": ["verbose"],
    }

    def __init__(self, encoder=None, *, mode="dense", hybrid_weight=0.5, rrf_k=60,
                 chunk_size=None, chunk_overlap=32, k=10, n_candidates=100, store="exact",
                 store_options=None, stemmer="english", reranker=None, n_rerank=20,
                 batch_size=64, n_jobs=None, cache_dir=None, device="auto", precision="auto",
                 verbose=0):
        store_params(self, locals())

    # ------------------------------------------------------------ building
    def fit(self, X, y=None):
        """Index the documents ``X`` (replacing any earlier index).

        Parameters
        ----------
        X : list of str, Series, or DataFrame
            Texts, or a frame with ``text`` and optionally ``doc_id``, ``title`` and
            metadata columns.
        y : None
            Ignored.

        Returns
        -------
        self : DocumentIndex
        """
        self._validate_params()
        self._check_device()
        documents = check_documents(X)
        # missing extras fail before any work, the state unchanged
        {"faiss": require_faiss, "qdrant": require_qdrant}.get(self.store, lambda: None)()
        if self.mode != "dense":
            require_bm25s()
        embedder = self._embedder()
        tokenizer, max_length = _reader(embedder)
        chunk_size = self.chunk_size or max_length - 2
        if self.chunk_overlap >= chunk_size:
            raise ValueError(f"chunk_overlap={self.chunk_overlap} must be below the chunk "
                             f"size ({chunk_size} tokens).")
        texts = full_text(documents)
        spans = chunk_spans(tokenizer, texts, chunk_size, self.chunk_overlap)
        vectors = (self._embed_chunks(embedder, [texts[d][s:e] for d, s, e in spans])
                   if self.mode != "bm25" else None)
        fitted = {"embedder_": embedder, "documents_": documents, "chunk_size_": chunk_size,
                  "doc_ids_": documents["doc_id"].to_numpy(dtype=object),
                  "doc_texts_": np.asarray(texts, dtype=object),
                  "doc_alive_": np.ones(len(documents), dtype=bool),
                  "chunk_doc_": spans[:, 0], "chunk_spans_": spans[:, 1:], "vectors_": vectors}
        fitted.update(self._searchers(fitted))  # a store that fails leaves the old index
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]:
            delattr(self, name)
        vars(self).update(fitted)
        return self

    def _embedder(self):
        if self.encoder is not None and hasattr(self.encoder, "embed"):
            check_is_fitted(self.encoder, msg=(
                "encoder is not fitted: fit it first (clone and GridSearchCV un-fit "
                "estimator parameters; wrap a fitted one in sklearn.frozen.FrozenEstimator)."))
            return self.encoder
        return TransformerEmbedder(self.encoder, normalize=True, batch_size=self.batch_size,
                                   cache_dir=self.cache_dir, device=self.device,
                                   precision=self.precision, verbose=self.verbose).fit()

    def _embed_chunks(self, embedder, texts) -> np.ndarray:
        """Unit vectors of ``texts``, shared among ``n_jobs`` joblib workers."""
        if self.n_jobs in (None, 1) or len(texts) < 2:
            return _unit_vectors(embedder, texts)
        from joblib import Parallel, delayed, effective_n_jobs

        # a worker loads the packaged or named encoder itself rather than receive it
        portable = clone(embedder) if isinstance(embedder, TransformerEmbedder) else embedder
        n_parts = min(len(texts), 4 * effective_n_jobs(self.n_jobs))
        bounds = np.linspace(0, len(texts), n_parts + 1).astype(int)
        parts = Parallel(n_jobs=self.n_jobs)(
            delayed(_embed_share)(portable, texts[a:b])
            for a, b in zip(bounds[:-1], bounds[1:], strict=True))
        return np.vstack(parts)

    def _chunk_texts(self, rows) -> list[str]:
        return [self.doc_texts_[self.chunk_doc_[r]][slice(*self.chunk_spans_[r])]
                for r in rows]

    def _searchers(self, fitted: dict, store_state=None) -> dict:
        """The searchable structures over the fitted arrays (a fit's, or a loaded one's).

        A refit replaces the store: a Qdrant collection of the same name is deleted
        first, one of another name once the new one stands."""
        old = vars(self).get("store_")
        options = self.store_options or {}
        same = old is not None and options.get("collection") == getattr(old, "collection", 0)
        if same and store_state is None:
            old.drop()
        store = (None if fitted["vectors_"] is None else
                 make_store(self.store, fitted["vectors_"], options, store_state))
        if old is not None and not same and store_state is None:
            old.drop()
        lexical = (LexicalIndex(list(fitted["doc_texts_"]), self.stemmer)
                   if self.mode != "dense" else None)
        # one matrix of vectors: the store's, which ``add`` grows and ``remove`` erases
        return {"store_": store, "lexical_": lexical,
                "vectors_": None if store is None else store.vectors}

    @property
    def n_chunks_(self) -> int:
        return int(self.doc_alive_[self.chunk_doc_].sum())

    # ------------------------------------------------------------ updating
    def add(self, X):
        """Index more documents, visible to the next search (no rebuild of the rest).

        Parameters
        ----------
        X : list of str, Series, or DataFrame
            As for ``fit``; their ``doc_id`` must be new (texts get the next numbers).

        Returns
        -------
        self : DocumentIndex
        """
        check_is_fitted(self, "documents_")
        documents = check_documents(X, start=_next_id(self.doc_ids_))
        clash = sorted(set(documents["doc_id"]) & set(self.doc_ids_))
        if clash:
            raise ValueError(f"doc_id values already indexed: {clash[:5]}; remove them first "
                             "or give the new documents other ids.")
        texts = full_text(documents)
        spans = chunk_spans(_reader(self.embedder_)[0], texts, self.chunk_size_,
                            self.chunk_overlap)
        if self.vectors_ is not None:
            vectors = self._embed_chunks(self.embedder_, [texts[d][s:e] for d, s, e in spans])
            self.store_.add(vectors)
            self.vectors_ = self.store_.vectors
        if self.lexical_ is not None:
            self.lexical_.add(texts)
        spans[:, 0] += len(self.doc_ids_)
        self.documents_ = pd.concat([self.documents_, documents], ignore_index=True)
        self.doc_ids_ = np.concatenate([self.doc_ids_, documents["doc_id"].to_numpy(object)])
        self.doc_texts_ = np.concatenate([self.doc_texts_, np.asarray(texts, dtype=object)])
        self.doc_alive_ = np.concatenate([self.doc_alive_, np.ones(len(documents), bool)])
        self.chunk_doc_ = np.concatenate([self.chunk_doc_, spans[:, 0]])
        self.chunk_spans_ = np.vstack([self.chunk_spans_, spans[:, 1:]])
        return self

    def remove(self, ids):
        """Drop documents by ``doc_id``: gone from the next search, their text and
        vectors erased from the index (and from what ``save`` writes).

        Parameters
        ----------
        ids : str or list of str
            The ``doc_id`` values to remove; every one must be indexed.

        Returns
        -------
        self : DocumentIndex
        """
        check_is_fitted(self, "documents_")
        ids = [str(ids)] if isinstance(ids, (str, int)) else [str(i) for i in ids]
        unknown = sorted(set(ids) - set(self.documents_["doc_id"]))
        if unknown:
            raise ValueError(f"No indexed document has doc_id {unknown[:5]}; nothing was "
                             "removed.")
        gone = np.isin(self.doc_ids_, ids)
        self.doc_alive_ = self.doc_alive_ & ~gone
        self.doc_texts_ = np.where(gone, "", self.doc_texts_).astype(object)
        if self.vectors_ is not None:  # the store erases the rows of ``vectors_``
            self.store_.remove(np.flatnonzero(gone[self.chunk_doc_]))
        self.documents_ = self.documents_[~self.documents_["doc_id"].isin(ids)].reset_index(
            drop=True)
        return self

    # ------------------------------------------------------------ searching
    def search(self, X, k=None, *, where=None):
        """The best ``k`` documents for each query, each with its best chunk.

        Parameters
        ----------
        X : str, list of str, Series, or DataFrame
            Queries: texts, or a frame with ``text`` (and ``query_id``).
        k : int, optional
            Defaults to the ``k`` parameter.
        where : dict or callable, optional
            Metadata filter: ``{column: value or list of values}``, or a function of
            ``documents_`` returning a boolean mask.

        Returns
        -------
        results : DataFrame
            ``query_id``, ``query``, ``rank`` (1 first), ``doc_id``, ``chunk``,
            ``score`` and the documents' metadata columns. The chunk is the document's
            best under the dense ranking (its first for ``mode="bm25"``, which scores
            whole documents).
        """
        check_is_fitted(self, "documents_")
        ids, queries = check_queries([X] if isinstance(X, str) else X)
        k = self.k if k is None else k
        allowed = self.doc_alive_ & allowed_documents(self.documents_, self.doc_ids_, where)
        scores, chunks = self._scores(queries, allowed)
        docs = top_documents(scores, max(k, self._rerank_depth()))
        if self.reranker is not None:
            docs, scores = self._rerank(queries, docs, chunks, scores)
        return self._results(ids, queries, docs[:, :k], chunks, scores)

    def _rerank_depth(self) -> int:
        return self.n_rerank if self.reranker is not None else 0

    def _scores(self, queries, allowed):
        """Document scores ``(n_queries, n_documents)`` of the chosen mode (``-inf``: not
        a candidate) and each document's best chunk per query."""
        sets, chunks = [], first_chunks(self.chunk_doc_, len(self.doc_ids_), len(queries))
        if self.mode != "bm25":
            vectors = _unit_vectors(self.embedder_, queries)
            best, rows = self.store_.search(vectors, self.n_candidates,
                                            allowed[self.chunk_doc_])
            dense, chunks = max_per_document(best, rows, self.chunk_doc_, chunks)
            sets.append(dense)
        if self.mode != "dense":
            sets.append(top_candidates(self.lexical_.scores(queries, allowed),
                                       self.n_candidates))
        if self.mode != "hybrid":
            return sets[0], chunks
        return reciprocal_rank_fusion(sets, [self.hybrid_weight, 1 - self.hybrid_weight],
                                      self.rrf_k), chunks

    def _rerank(self, queries, docs, chunks, scores):
        depth = min(self.n_rerank, docs.shape[1])
        top = docs[:, :depth]
        pairs = [(q, self._chunk_texts([chunks[i, d]])[0])
                 for i, (q, line) in enumerate(zip(queries, top, strict=True))
                 for d in line if d >= 0]
        if not pairs:
            return docs, scores
        proba = np.asarray(self.reranker.predict_proba(pd.DataFrame(pairs)))[:, -1]
        reranked = np.full(top.shape, -np.inf)
        reranked[top >= 0] = proba
        order = np.argsort(-reranked, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        new_scores, found = scores.copy(), top >= 0
        new_scores[np.nonzero(found)[0], top[found]] = np.take_along_axis(
            reranked, order, axis=1)[found]
        # past the reranked depth, the first stage's order and scores stand
        return np.concatenate([top, docs[:, depth:]], axis=1), new_scores

    def _results(self, ids, queries, docs, chunks, scores) -> pd.DataFrame:
        meta = self.documents_.set_index("doc_id")
        extra = [c for c in meta.columns if c not in ("title", "text")]
        records = []
        for q, (qid, query) in enumerate(zip(ids, queries, strict=True)):
            for rank, doc in enumerate(d for d in docs[q] if d >= 0):
                doc_id = self.doc_ids_[doc]
                records.append({"query_id": qid, "query": query, "rank": rank + 1,
                                "doc_id": doc_id, "chunk": self._chunk_texts([chunks[q, doc]])[0],
                                "score": float(scores[q, doc]),
                                **{c: meta.at[doc_id, c] for c in extra}})
        columns = ["query_id", "query", "rank", "doc_id", "chunk", "score", *extra]
        return pd.DataFrame.from_records(records, columns=columns)

    def kneighbors(self, X, n_neighbors=None):
        """Array form of ``search``: scores and ``doc_id`` of the best documents.

        Parameters
        ----------
        X : list of str
            Queries.
        n_neighbors : int, optional
            Defaults to ``k``.

        Returns
        -------
        scores : ndarray of shape (n_queries, n_neighbors)
            ``-inf`` where fewer documents match.
        doc_ids : ndarray of shape (n_queries, n_neighbors), object
            ``None`` where fewer documents match.
        """
        k = self.k if n_neighbors is None else n_neighbors
        found = self.search(X, k)
        n = len(check_queries(X)[1])
        scores = np.full((n, k), -np.inf)
        doc_ids = np.full((n, k), None, dtype=object)
        order = {q: i for i, q in enumerate(dict.fromkeys(found["query_id"]))}
        for q, rank, doc, score in zip(found["query_id"], found["rank"], found["doc_id"],
                                       found["score"], strict=True):
            scores[order[q], rank - 1], doc_ids[order[q], rank - 1] = score, doc
        return scores, doc_ids

    def score(self, X, y):
        """nDCG@``k`` of ``search`` against graded relevance judgements (BEIR's way).

        Parameters
        ----------
        X : DataFrame
            Queries: ``query_id`` and ``text``.
        y : DataFrame
            Judgements: ``query_id``, ``doc_id``, ``relevance``.

        Returns
        -------
        ndcg : float
        """
        return self.evaluate(X, y)[f"ndcg@{self.k}"]

    def evaluate(self, X, y, k=None) -> dict:
        """nDCG@k, recall@k and MRR@k of ``search`` (``k`` defaults to the parameter).

        Parameters
        ----------
        X : DataFrame
            Queries: ``query_id`` and ``text``.
        y : DataFrame
            Judgements: ``query_id``, ``doc_id``, ``relevance``.
        k : int or list of int, optional
            The cut-off, or several (one search to the deepest, the metrics at each);
            defaults to the ``k`` parameter.

        Returns
        -------
        metrics : dict
            ``{"ndcg@10": ..., "recall@10": ..., "mrr@10": ...}``, for every cut.
        """
        cuts = [self.k if k is None else k] if k is None or np.isscalar(k) else list(k)
        qrels = _check_qrels(y, X)
        known = set(self.documents_["doc_id"])
        unknown = sorted(set(qrels["doc_id"]) - known)
        if unknown:
            raise ValueError(f"qrels name documents that are not indexed: {unknown[:5]}; "
                             "index the whole corpus the judgements refer to.")
        found = self.search(X, max(cuts))
        return {name: value for cut in cuts
                for name, value in ranking_metrics(found, qrels, cut).items()}

    # ------------------------------------------------------------ persistence
    def __getstate__(self):
        state = super().__getstate__()
        if vars(self).get("store_") is not None:  # e.g. FAISS's index: not built again
            state["store_state_"] = self.store_.state()
        if isinstance(state.get("documents_"), pd.DataFrame):
            frame = state["documents_"]
            state["documents_"] = {c: frame[c].to_numpy() for c in frame.columns}
        return state

    def __setstate__(self, state):
        state = dict(state)
        store_state = state.pop("store_state_", None)
        if isinstance(state.get("documents_"), dict):
            state["documents_"] = pd.DataFrame(state["documents_"])
        super().__setstate__(state)
        if "documents_" in vars(self):
            vars(self).update(self._searchers(vars(self), store_state))


def _unit_vectors(embedder, texts) -> np.ndarray:
    embed = embedder.embed if hasattr(embedder, "embed") else embedder.transform
    vectors = np.asarray(embed(texts), dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _embed_share(embedder, texts) -> np.ndarray:
    """A worker's share of the chunks (loading the encoder where it came unfitted)."""
    if isinstance(embedder, TransformerEmbedder) and not hasattr(embedder, "encoder_"):
        embedder = embedder.fit()
    return _unit_vectors(embedder, texts)


def _reader(embedder):
    """The tokenizer and token limit of what embeds the chunks."""
    if hasattr(embedder, "encoder_"):
        return embedder.encoder_.tokenizer, embedder.encoder_.max_length
    return embedder.tokenizer_, embedder.max_length_


def _next_id(doc_ids) -> int:
    """The number after the largest numeric ``doc_id`` (texts added get the next ones)."""
    return max((int(i) for i in doc_ids if str(i).isdigit()), default=-1) + 1


def _check_qrels(y, queries) -> pd.DataFrame:
    if not isinstance(y, pd.DataFrame) or not {"query_id", "doc_id", "relevance"} <= set(
            y.columns):
        raise ValueError("qrels must be a DataFrame with query_id, doc_id and relevance "
                         "columns (the shared qrels_<split>.csv layout).")
    qrels = y.assign(query_id=y["query_id"].astype(str), doc_id=y["doc_id"].astype(str))
    ids = set(check_queries(queries)[0])
    missing = sorted(set(qrels["query_id"]) - ids)
    if missing:
        raise ValueError(f"qrels name queries that are not in X: {missing[:5]}; pass the "
                         "queries of the same split.")
    return qrels
