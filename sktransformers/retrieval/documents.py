"""Corpus and query tables: checks for what ``DocumentIndex`` is given."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..core.validation import check_texts

#: Columns with a meaning of their own; every other column of a corpus is metadata.
RESERVED = ("doc_id", "title", "text")


def check_documents(X, start: int = 0) -> pd.DataFrame:
    """A corpus as a frame ``doc_id``, ``title``, ``text`` + metadata columns.

    ``X`` is a list of texts (ids ``start``, ``start + 1``, ... as strings) or a
    DataFrame with a ``text`` column and optionally ``doc_id``, ``title`` and any
    metadata columns (the BEIR ``corpus.csv`` layout reads as it is). The user's frame
    is copied, never changed.
    """
    if isinstance(X, pd.DataFrame):
        if "text" not in X.columns:
            raise ValueError(f"The documents frame has no 'text' column (columns: "
                             f"{list(X.columns)}); name the column holding the text 'text'.")
        frame = X.reset_index(drop=True).copy()
        frame["text"] = check_texts(frame["text"])
    else:
        texts = check_texts(X)
        if isinstance(texts[0], tuple):
            raise TypeError("Documents are single texts; for titles and metadata pass a "
                            "DataFrame with 'text', 'title' and other columns.")
        frame = pd.DataFrame({"text": texts})
    if "doc_id" not in frame.columns:
        frame["doc_id"] = [str(i) for i in range(start, start + len(frame))]
    ids = frame["doc_id"]
    if ids.isna().any() or (ids.astype(str).str.strip() == "").any():
        raise ValueError("Some doc_id values are missing or empty; give every document an id.")
    frame["doc_id"] = ids.astype(str)
    duplicated = frame["doc_id"][frame["doc_id"].duplicated()].unique()
    if len(duplicated):
        raise ValueError(f"doc_id values repeat ({list(duplicated[:5])}); ids must be unique.")
    title = frame["title"] if "title" in frame.columns else pd.Series([""] * len(frame))
    frame["title"] = title.fillna("").astype(str).to_numpy()
    return frame[[*RESERVED, *(c for c in frame.columns if c not in RESERVED)]]


def full_text(frame: pd.DataFrame) -> list[str]:
    """What is indexed of each document: its title, then its text (as BEIR does)."""
    return [f"{t} {x}" if t else x for t, x in zip(frame["title"], frame["text"], strict=True)]


def check_queries(X) -> tuple[np.ndarray, list[str]]:
    """``(query ids, texts)`` from texts, or a frame with ``text`` (and ``query_id``)."""
    if isinstance(X, pd.DataFrame):
        if "text" not in X.columns:
            raise ValueError("The queries frame needs a 'text' column (and optionally "
                             "'query_id'), the shared queries_<split>.csv layout.")
        texts = check_texts(X["text"])
        ids = X["query_id"].astype(str).to_numpy() if "query_id" in X.columns else None
    else:
        texts, ids = check_texts(X), None
    if ids is None:
        ids = np.array([str(i) for i in range(len(texts))], dtype=object)
    return ids, list(texts)
