"""Frozen text encoder: texts (or pairs, or windows of long texts) -> cached embeddings."""

from __future__ import annotations

import numpy as np
import torch

from ._cache import embedding_cache
from ._inference import run_module
from ._loading import load_frozen_backbone, load_tokenizer, model_identity
from ._modules import Encoder, pool_windows
from ._persistence import TorchPicklingMixin
from ._text import tokenize


class FrozenEncoder(TorchPicklingMixin):
    """A loaded, frozen backbone with its tokenizer and pooling (fitted state, not an estimator).

    Pickles with its weights, so a fitted estimator predicts without the original
    model folder.
    """

    def __init__(self, path: str, pooling: str, max_length: int):
        self.identity = model_identity(path)
        self.tokenizer = load_tokenizer(path)
        self.module = Encoder(load_frozen_backbone(path), pooling)
        self.max_length = max_length

    @property
    def dim(self) -> int:
        return int(self.module.backbone.config.hidden_size)

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.module.parameters())

    def embed(self, texts, *, batch_size, device, dtype, cache=True, verbose=0, stride=None,
              chunk_pooling="mean", normalize=False, pair_encoding="bi") -> np.ndarray:
        """Embed ``texts`` (or pairs); with ``cache``, only texts not seen before are encoded.

        With ``stride`` (``long_text="chunk"``), each text is split into overlapping
        windows; the cache holds every text's window vectors, so changing
        ``chunk_pooling`` re-encodes nothing, and the windows are pooled here.
        ``normalize`` scales each text's vector to unit length. Pairs are encoded
        together (``pair_encoding="cross"``) or each text alone, giving the features
        ``[u, v, |u - v|, u * v]`` (``"bi"``).
        """
        options = {"batch_size": batch_size, "device": device, "dtype": dtype, "cache": cache,
                   "verbose": verbose, "stride": stride, "chunk_pooling": chunk_pooling,
                   "normalize": normalize}
        if isinstance(texts[0], tuple) and pair_encoding == "bi":
            u, v = (self.embed([pair[i] for pair in texts], **options) for i in (0, 1))
            return np.hstack([u, v, np.abs(u - v), u * v])
        Z = self._embed_texts(texts, batch_size, device, dtype, cache, verbose, stride,
                              chunk_pooling)
        if normalize:
            Z /= np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
        return Z

    def _embed_texts(self, texts, batch_size, device, dtype, cache, verbose, stride,
                     chunk_pooling) -> np.ndarray:
        key = (self.identity, self.module.pooling, self.max_length, str(dtype), stride)
        unique = list(dict.fromkeys(texts))
        found, missing = embedding_cache.get_many(key, unique) if cache else ({}, unique)
        if missing:
            vectors = self._encode(missing, stride, batch_size, device, dtype, verbose)
            if cache:
                embedding_cache.put_many(key, missing, vectors)
            found.update(zip(missing, vectors, strict=True))
        rows = [found[t] for t in texts]
        if stride is None:
            return np.stack(rows).astype(np.float32)
        owner = np.repeat(np.arange(len(rows)), [len(r) for r in rows])
        pooled = pool_windows(torch.from_numpy(np.concatenate(rows)), torch.from_numpy(owner),
                              len(rows), chunk_pooling)
        return pooled.numpy().astype(np.float32)

    def _encode(self, texts, stride, batch_size, device, dtype, verbose) -> list:
        """One vector per text, or with ``stride`` one ``(n_windows, dim)`` array per text."""
        self.module.to(device)
        encodings = tokenize(self.tokenizer, texts, self.max_length, stride)
        if stride is None:
            return list(run_module(self.module, self.tokenizer, encodings,
                                   batch_size=batch_size, device=device, dtype=dtype,
                                   verbose=verbose, desc="embedding"))
        windows = [w for e in encodings for w in e["windows"]]
        flat = run_module(self.module, self.tokenizer, windows, batch_size=batch_size,
                          device=device, dtype=dtype, verbose=verbose, desc="embedding windows")
        ends = np.cumsum([len(e["windows"]) for e in encodings])[:-1]
        return np.split(flat, ends)
