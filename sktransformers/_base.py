"""What every estimator shares: parameter rules, tags, fit/predict plumbing."""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import check_is_fitted

from ._device import PRECISIONS, check_device, resolve_device, resolve_precision, seed_everything
from ._modules import POOLINGS
from ._persistence import TorchPicklingMixin
from ._training import TrainConfig
from ._validation import check_labels, check_sample_weight, check_texts

ENCODER_CONSTRAINTS = {
    "model": [str, os.PathLike, None],
    "pooling": [StrOptions(set(POOLINGS))],
    "max_length": [Interval(Integral, 1, None, closed="left")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "device": [str],
    "precision": [StrOptions(set(PRECISIONS))],
    "verbose": ["verbose"],
}

TRAINING_CONSTRAINTS = {
    **ENCODER_CONSTRAINTS,
    "max_epochs": [Interval(Integral, 1, None, closed="left")],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "class_weight": [StrOptions({"balanced"}), dict, None],
    "random_state": ["random_state"],
}


def store_params(estimator, params: dict) -> None:
    """Store ``__init__`` arguments unchanged (call as ``store_params(self, locals())``)."""
    for name, value in params.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


class TextInputMixin:
    """Tags and device handling for estimators whose input is raw text."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags

    def _check_device(self):
        check_device(self.device)

    def _device_dtype(self):
        """The device and autocast dtype to run on now (re-resolved after loading)."""
        device = resolve_device(self.device)
        return device, resolve_precision(self.precision, device)


class BaseTransformerClassifier(TorchPicklingMixin, TextInputMixin, ClassifierMixin, BaseEstimator):
    """Shared ``fit``/``predict``/``predict_proba`` of the trainable classifiers.

    Subclasses implement ``_fit_model(texts, y, weights, split, device, dtype)``,
    which sets the fitted model attributes and returns
    ``(history, n_trainable, n_total)``, and ``_logits(texts, device, dtype)``.
    """

    _parameter_constraints: dict = TRAINING_CONSTRAINTS

    def fit(self, X, y, sample_weight=None):
        """Fit the classifier on texts ``X`` and labels ``y``.

        Parameters
        ----------
        X : list, tuple, ndarray, pandas Series or one-column DataFrame of str
        y : array-like of shape (n_samples,), str or int labels
        sample_weight : array-like of shape (n_samples,), optional
            Per-text weights in the loss (multiplied with ``class_weight``).

        Returns
        -------
        self
        """
        self._validate_params()
        self._check_device()
        texts = check_texts(X)
        labels = check_labels(y, len(texts))
        weights = check_sample_weight(sample_weight, len(texts))
        self.classes_, y_idx = np.unique(labels, return_inverse=True)
        if self.class_weight is not None:
            weights = weights * compute_sample_weight(self.class_weight, labels)
        seed_everything(self.random_state)
        device, dtype = self._device_dtype()
        split = self._split(y_idx)
        self.history_, self.n_trainable_params_, self.n_total_params_ = self._fit_model(
            texts, y_idx, weights.astype(np.float32), split, device, dtype
        )
        return self

    def _split(self, y_idx):
        """Train/validation indices for early stopping (stratified), or ``None``."""
        if not self.early_stopping:
            return None
        n_valid = int(np.ceil(self.validation_fraction * len(y_idx)))
        counts = np.bincount(y_idx)
        if n_valid < len(counts) or len(y_idx) - n_valid < len(counts) or counts.min() < 2:
            raise ValueError(
                f"early_stopping needs a validation split with every class in it, but "
                f"validation_fraction={self.validation_fraction} of {len(y_idx)} texts "
                "is too small (or a class has a single text); raise validation_fraction, "
                "add data, or set early_stopping=False."
            )
        seed = self.random_state if isinstance(self.random_state, Integral) else 0
        return train_test_split(
            np.arange(len(y_idx)), test_size=n_valid, stratify=y_idx, random_state=seed
        )

    def _train_config(self, device, dtype) -> TrainConfig:
        return TrainConfig(
            lr=self.lr, max_epochs=self.max_epochs, batch_size=self.batch_size,
            weight_decay=self.weight_decay, n_iter_no_change=self.n_iter_no_change,
            device=device, dtype=dtype, verbose=int(self.verbose),
        )

    def predict_proba(self, X):
        """Class probabilities, one row per text, columns in the order of ``classes_``."""
        check_is_fitted(self, "classes_")
        texts = check_texts(X)
        device, dtype = self._device_dtype()
        logits = self._logits(texts, device, dtype).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X):
        """The most probable class of each text."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


def count_params(module, trainable_only=False) -> int:
    """Number of (trainable) parameters of a torch module."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
