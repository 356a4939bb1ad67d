"""Documents -> overlapping token windows, each kept as a span of its document's text."""

from __future__ import annotations

import numpy as np

from ..backbones.text import encode


def chunk_spans(tokenizer, texts: list[str], chunk_size: int, overlap: int):
    """``(document, start, end)`` character spans of every chunk of every text.

    A text of at most ``chunk_size`` tokens is one chunk; a longer one is cut into
    windows of ``chunk_size`` tokens, consecutive windows sharing ``overlap`` tokens
    (the tokenizer's own overflow, as long documents are windowed for training).

    Returns
    -------
    spans : ndarray of shape (n_chunks, 3), int64
    """
    if not 0 <= overlap < chunk_size:
        raise ValueError(f"chunk_overlap={overlap} must be at least 0 and below "
                         f"chunk_size={chunk_size}.")
    enc = encode(tokenizer, texts, add_special_tokens=False, truncation=True,
                 max_length=chunk_size, stride=overlap, return_overflowing_tokens=True,
                 return_offsets_mapping=True)
    spans = []
    for doc, offsets in zip(enc["overflow_to_sample_mapping"], enc["offset_mapping"],
                            strict=True):
        offsets = [o for o in offsets if o[1] > o[0]]
        if offsets:
            spans.append((doc, offsets[0][0], offsets[-1][1]))
        else:  # a text without tokens (only spaces or unknown symbols): keep it whole
            spans.append((doc, 0, len(texts[doc])))
    return np.asarray(spans, dtype=np.int64).reshape(-1, 3)
