"""BM25 over the chunk texts, on ``bm25s`` (Lù, 2024): Lucene's variant, stemmed, stop words out."""

from __future__ import annotations

import numpy as np

BM25_EXTRA = "pip install 'sktransformers[index]'"


def require_bm25s():
    try:
        import bm25s
    except ImportError as exc:
        raise ImportError(f"mode='bm25' and 'hybrid' need bm25s: {BM25_EXTRA}.") from exc
    return bm25s


def _stemmer(language):
    if language is None:
        return None
    try:
        import Stemmer
    except ImportError as exc:
        raise ImportError(f"BM25 stemming needs PyStemmer: {BM25_EXTRA}, or pass "
                          "stemmer=None.") from exc
    return Stemmer.Stemmer(language).stemWords


class LexicalIndex:
    """BM25 scores of every chunk for a query (``k1``, ``b``: BM25's usual constants).

    ``bm25s`` stores the index as a sparse matrix of precomputed term scores, so a
    query costs one sparse row sum. Adding chunks re-indexes the corpus (seconds for
    10^4-10^5 chunks); removed chunks are masked at query time.
    """

    def __init__(self, texts: list[str], stemmer: str | None = "english", k1: float = 1.5,
                 b: float = 0.75):
        self.stemmer, self.k1, self.b = stemmer, k1, b
        self.texts: list[str] = []
        self.add(texts)

    def _tokens(self, texts):
        bm25s = require_bm25s()
        return bm25s.tokenize(list(texts), stopwords="en", stemmer=_stemmer(self.stemmer),
                              show_progress=False)

    def add(self, texts: list[str]) -> None:
        bm25s = require_bm25s()
        self.texts = self.texts + list(texts)
        self.model = bm25s.BM25(k1=self.k1, b=self.b)
        self.model.index(self._tokens(self.texts), show_progress=False)

    def scores(self, queries: list[str], allowed: np.ndarray) -> np.ndarray:
        """``(n_queries, n_chunks)`` BM25 scores; ``-inf`` for chunks not allowed or
        sharing no term with the query (they are not in its lexical ranking)."""
        tokenized = self._tokens(queries)
        vocab = {i: w for w, i in tokenized.vocab.items()}
        out = np.full((len(queries), len(self.texts)), -np.inf, dtype=np.float64)
        for row, ids in enumerate(tokenized.ids):
            words = [vocab[i] for i in ids if vocab[i] in self.model.vocab_dict]
            if words:
                scores = self.model.get_scores(words).astype(np.float64)
                out[row] = np.where((scores > 0) & allowed, scores, -np.inf)
        return out
