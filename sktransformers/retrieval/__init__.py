"""Retrieval: the parts of a searchable index, apart from the estimator that holds them.

Owns chunking documents into token windows (``chunks``), vector stores with exact
and approximate search (``stores``: a matrix product, FAISS), lexical BM25 scoring
on ``bm25s`` (``lexical``), rank fusion (``fusion``) and ranking metrics (``metrics``:
nDCG@k as BEIR computes it, recall@k, MRR).

May import: :mod:`sktransformers.core`, :mod:`sktransformers.backbones`. Used by
:class:`sktransformers.DocumentIndex`.
"""
