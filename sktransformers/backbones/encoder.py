"""Frozen text encoder: texts (or pairs, or windows of long texts) -> cached embeddings."""

from __future__ import annotations

import numpy as np
import torch

from ..core.device import INT8
from ..core.registry import safe_state
from . import cache as embedding_store
from .disk_cache import store as disk_store
from .inference import run_module
from .loading import (
    check_max_length,
    check_pooling,
    load_frozen_backbone,
    load_tokenizer,
    resolve_model,
)
from .modules import Encoder, pool_windows
from .packaged import DEFAULT_ENCODER
from .reference import (
    BaseReference,
    base_blobs,
    including_base,
    reference_for,
    resolve,
    unpack_blobs,
    weights_key,
)
from .text import tokenize


def frozen_encoder(estimator, device: str = "cpu") -> FrozenEncoder:
    """The :class:`FrozenEncoder` for an estimator's ``model``, ``pooling``, ``max_length``."""
    path = resolve_model(estimator.model)
    config = load_frozen_backbone(path, device).config
    max_length = check_max_length(config, estimator.max_length)
    check_pooling(config, estimator.pooling)
    return FrozenEncoder(path, estimator.pooling, max_length,
                         reference_for(estimator.model, path, DEFAULT_ENCODER), device)


def _from_disk_or_encode(cache_dir, key, texts, encode, stride) -> dict:
    """Each text's vector (or windows) from the shared on-disk store, encoding the rest.

    The texts still missing are encoded under the store's lock, after a second look:
    a process that waited finds what another one wrote meanwhile.
    """
    disk = disk_store(cache_dir, key)
    found, missing = disk.get_many(texts)
    if missing:
        with disk.locked():
            written, missing = disk.get_many(missing)
            found.update(written)
            if missing:
                vectors = encode(missing)
                disk.put_many(missing, vectors)
                found.update(zip(missing, vectors, strict=True))
    if stride is None:  # the store keeps 2-D rows; a text without windows has one
        found = {t: np.asarray(v).reshape(-1) for t, v in found.items()}
    return {t: found[t] for t in texts}


@safe_state
class FrozenEncoder:
    """A frozen backbone with its tokenizer and pooling (fitted state, not an estimator).

    It holds a reference to the base model, not the model: the shared frozen
    backbone of each device comes from the process cache
    (:func:`~sktransformers._loading.load_frozen_backbone`), and a pickle stores the
    reference and the base model's hash only.
    """

    def __init__(self, path: str, pooling: str, max_length: int, base: BaseReference,
                 device: str = "cpu"):
        backbone = load_frozen_backbone(path, device)
        self.base, self.path, self.pooling, self.max_length = base, path, pooling, max_length
        self.dim = int(backbone.config.hidden_size)
        self.n_params = sum(p.numel() for p in backbone.parameters())
        self.tokenizer = load_tokenizer(path)

    def __getstate__(self):
        state = {"base": self.base, "pooling": self.pooling, "max_length": self.max_length,
                 "dim": self.dim, "n_params": self.n_params}
        if including_base():
            state["base_files"] = base_blobs(self.base, self.path)
        return state

    def __setstate__(self, state):
        state = dict(state)
        blobs = state.pop("base_files", None)
        vars(self).update(state)
        bundled = None if blobs is None else (lambda: unpack_blobs(self.base, blobs))
        self.path = resolve(self.base, bundled)
        self.tokenizer = load_tokenizer(self.path)

    def module(self, device, int8: bool = False) -> Encoder:
        """The shared frozen backbone on ``device`` with this encoder's pooling (eval mode).

        The wrapper is in eval mode too: :func:`run_module` restores a module's mode
        after running it, and a wrapper in training mode would switch the shared
        backbone's dropout on for every other user of it.
        """
        return Encoder(load_frozen_backbone(self.path, device, int8), self.pooling).eval()

    def embed(self, texts, *, batch_size, device, dtype, cache=True, verbose=0, stride=None,
              chunk_pooling="mean", normalize=False, pair_encoding="bi",
              cache_dir=None) -> np.ndarray:
        """Embed ``texts`` (or pairs); with ``cache``, only texts not seen before are encoded.

        With ``stride`` (``long_text="chunk"``), each text is split into overlapping
        windows; the cache holds every text's window vectors, so changing
        ``chunk_pooling`` re-encodes nothing, and the windows are pooled here.
        ``normalize`` scales each text's vector to unit length. Pairs are encoded
        together (``pair_encoding="cross"``) or each text alone, giving the features
        ``[u, v, |u - v|, u * v]`` (``"bi"``). ``cache_dir``: also look texts up in,
        and write new ones to, the on-disk store that several processes share.
        """
        options = {"batch_size": batch_size, "device": device, "dtype": dtype, "cache": cache,
                   "verbose": verbose, "stride": stride, "chunk_pooling": chunk_pooling,
                   "normalize": normalize, "cache_dir": cache_dir}
        if isinstance(texts[0], tuple) and pair_encoding == "bi":
            u, v = (self.embed([pair[i] for pair in texts], **options) for i in (0, 1))
            return np.hstack([u, v, np.abs(u - v), u * v])
        Z = self._embed_texts(texts, batch_size, device, dtype, cache, verbose, stride,
                              chunk_pooling, cache_dir)
        if normalize:
            Z /= np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
        return Z

    def _embed_texts(self, texts, batch_size, device, dtype, cache, verbose, stride,
                     chunk_pooling, cache_dir=None) -> np.ndarray:
        key = (weights_key(self.path), self.pooling, self.max_length, str(dtype), stride)
        unique = list(dict.fromkeys(texts))
        found, missing = embedding_store.current().get_many(key, unique) if cache else ({}, unique)
        if missing:
            def encode(batch):
                return self._encode(batch, stride, batch_size, device, dtype, verbose)

            new = (dict(zip(missing, encode(missing), strict=True)) if cache_dir is None
                   else _from_disk_or_encode(cache_dir, key, missing, encode, stride))
            if cache:
                embedding_store.current().put_many(key, list(new), list(new.values()))
            found.update(new)
        rows = [found[t] for t in texts]
        if stride is None:
            return np.stack(rows).astype(np.float32)
        owner = np.repeat(np.arange(len(rows)), [len(r) for r in rows])
        pooled = pool_windows(torch.from_numpy(np.concatenate(rows)), torch.from_numpy(owner),
                              len(rows), chunk_pooling)
        return pooled.numpy().astype(np.float32)

    def _encode(self, texts, stride, batch_size, device, dtype, verbose) -> list:
        """One vector per text, or with ``stride`` one ``(n_windows, dim)`` array per text."""
        module = self.module(device, int8=dtype is INT8)
        encodings = tokenize(self.tokenizer, texts, self.max_length, stride)
        if stride is None:
            return list(run_module(module, self.tokenizer, encodings,
                                   batch_size=batch_size, device=device, dtype=dtype,
                                   verbose=verbose, desc="embedding"))
        windows = [w for e in encodings for w in e["windows"]]
        flat = run_module(module, self.tokenizer, windows, batch_size=batch_size,
                          device=device, dtype=dtype, verbose=verbose, desc="embedding windows")
        ends = np.cumsum([len(e["windows"]) for e in encodings])[:-1]
        return np.split(flat, ends)
