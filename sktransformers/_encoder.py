"""Frozen text encoder: texts -> pooled embeddings, cached per distinct text."""

from __future__ import annotations

import numpy as np

from ._cache import embedding_cache
from ._inference import run_module
from ._loading import load_frozen_backbone, load_tokenizer, model_identity
from ._modules import Encoder
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

    def embed(self, texts, *, batch_size, device, dtype, cache=True, verbose=0) -> np.ndarray:
        """Embed ``texts``; with ``cache``, only texts not seen before are encoded."""
        key = (self.identity, self.module.pooling, self.max_length, str(dtype))
        unique = list(dict.fromkeys(texts))
        found, missing = embedding_cache.get_many(key, unique) if cache else ({}, unique)
        if missing:
            self.module.to(device)
            encodings = tokenize(self.tokenizer, missing, self.max_length)
            vectors = run_module(
                self.module, self.tokenizer, encodings, batch_size=batch_size,
                device=device, dtype=dtype, verbose=verbose, desc="embedding",
            )
            if cache:
                embedding_cache.put_many(key, missing, vectors)
            found.update(zip(missing, vectors, strict=True))
        return np.stack([found[t] for t in texts]).astype(np.float32, copy=False)
