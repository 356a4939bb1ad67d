"""What every estimator shares: parameter rules, tags, fit/predict plumbing per task."""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..backbones.encoder import frozen_encoder
from ..backbones.loading import resolve_model, resolve_pair_encoding
from ..backbones.modules import CHUNK_POOLINGS, PAIR_ENCODINGS, POOLINGS
from ..backbones.onnx import export_onnx
from ..core.device import (
    PRECISIONS,
    check_device,
    resolve_device,
    resolve_precision,
    seed_everything,
    training_dtype,
)
from ..core.tasks import Regression, classification_task
from ..core.training import TrainConfig
from ..core.validation import check_sample_weight, check_texts
from ..persistence.portable import PortableStateMixin
from .card import NotebookReprMixin

ENCODER_CONSTRAINTS = {
    "model": [str, os.PathLike, None],
    "pooling": [StrOptions(set(POOLINGS))],
    "max_length": [Interval(Integral, 1, None, closed="left"), None],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "device": [str],
    "precision": [StrOptions(set(PRECISIONS))],
    "verbose": ["verbose"],
}

#: ``precision`` of estimators that predict through a language model or a reward head:
#: int8 prediction is offered where a classifier, regressor or embedder predicts.
NO_INT8_PRECISION = [StrOptions(set(PRECISIONS) - {"int8"})]

#: How texts longer than ``max_length`` are handled (every text-encoding estimator).
LONG_TEXT_CONSTRAINTS = {
    "long_text": [StrOptions({"truncate", "chunk"})],
    "stride": [Interval(Integral, 0, None, closed="left")],
    "chunk_pooling": [StrOptions(set(CHUNK_POOLINGS))],
    "pair_encoding": [StrOptions(set(PAIR_ENCODINGS))],
}

_TRAINING = {
    **ENCODER_CONSTRAINTS,
    **LONG_TEXT_CONSTRAINTS,
    "max_epochs": [Interval(Integral, 1, None, closed="left")],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "weight_decay": [Interval(Real, 0, None, closed="left")],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "random_state": ["random_state"],
    "checkpoint_dir": [str, os.PathLike, None],
    "head_init": [StrOptions({"probe", "random"})],
    "normalize": ["boolean"],
}

#: Parameters of every trainable classifier.
TRAINING_CONSTRAINTS = {
    **_TRAINING,
    "class_weight": [StrOptions({"balanced"}), dict, list, None],
    "threshold": [Interval(Real, 0, 1, closed="neither")],
}

#: Parameters of every trainable regressor.
REGRESSION_CONSTRAINTS = {**_TRAINING, "loss": [StrOptions({"squared_error", "huber"})]}


def store_params(estimator, params: dict) -> None:
    """Store ``__init__`` arguments unchanged (call as ``store_params(self, locals())``)."""
    for name, value in params.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


class TextInputMixin(NotebookReprMixin, PortableStateMixin):
    """Tags, device handling and input checks for estimators whose input is raw text."""

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

    def _is_pairs(self, texts) -> bool:
        """Whether the checked input ``texts`` holds text pairs (two columns)."""
        return isinstance(texts[0], tuple)

    def _pair_encoding(self) -> str:
        """How pairs are encoded: the fitted ``pair_encoding_``, else ``pair_encoding``
        with ``"auto"`` resolved for this estimator's backbone."""
        if "pair_encoding_" in vars(self):
            return self.pair_encoding_
        return resolve_pair_encoding(self.pair_encoding, resolve_model(self.model))

    def _stride(self):
        """Window overlap for ``long_text="chunk"``; ``None`` means truncate."""
        return self.stride if getattr(self, "long_text", "truncate") == "chunk" else None

    def _check_input_kind(self, texts, fitted_pairs: bool) -> None:
        """Refuse single texts for a model fitted on pairs, and the reverse."""
        pairs = isinstance(texts[0], tuple)
        if pairs != fitted_pairs:
            fitted = "text pairs (two columns)" if fitted_pairs else "single texts"
            given = "text pairs" if pairs else "single texts"
            raise ValueError(f"This estimator was fitted on {fitted}; X holds {given}. "
                             "Pass the same kind of input as in fit.")


class BaseTransformerModel(TextInputMixin, BaseEstimator):
    """``fit`` and output plumbing shared by the trainable estimators of every task.

    Subclasses (through a classifier or regressor mixin) provide ``_task(y)``, and
    implement ``_fit_model(texts, targets, weights, split, device, dtype, task)``,
    which returns a dict of fitted attributes (``history_``, ``n_trainable_params_``,
    ``n_total_params_``, the model), and ``_raw(texts, device, dtype)``, the model's
    outputs. Invalid input or parameters leave the previous fitted state intact;
    once they are checked, the previous fit is released (its modules freed before
    the new ones are built), so a fit that then fails leaves the estimator clearly
    unfitted, never new ``classes_`` beside an old model.
    """

    def fit(self, X, y, sample_weight=None):
        """Fit the model on texts (or text pairs) ``X`` and targets ``y``.

        Parameters
        ----------
        X : list, tuple, ndarray, pandas Series or DataFrame of str
            Texts; a two-column DataFrame or ``(n, 2)`` array holds text pairs.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels, a 2-D label indicator matrix (multi-label), or numbers
            (regressors).
        sample_weight : array-like of shape (n_samples,), optional
            Per-text weights in the loss (multiplied with ``class_weight``).

        Returns
        -------
        self
        """
        self._validate_params()
        self._check_device()
        texts = check_texts(X)
        task = self._task(y)
        targets = task.encode(y, len(texts))
        self._check_fit_input(texts, task)
        weights = check_sample_weight(sample_weight, len(texts))
        class_weights = task.sample_weight(getattr(self, "class_weight", None))
        if class_weights is not None:
            weights = weights * class_weights
        task.forget_labels()
        split = self._split(task.stratify(targets), len(texts))
        self._release()
        seed_everything(self.random_state)
        device, dtype = self._device_dtype()
        dtype = training_dtype(dtype)
        fitted = self._fit_model(texts, targets, weights.astype(np.float32), split, device,
                                 dtype, task)
        fitted.update(task_=task, pairs_=self._is_pairs(texts),
                      pair_encoding_=self._pair_encoding())
        if hasattr(task, "classes_"):
            fitted["classes_"] = task.classes_
        vars(self).update(fitted)
        return self

    def _check_fit_input(self, texts, task) -> None:
        """Refuse input this estimator cannot fit, before the previous fit is released
        (``task`` has seen the targets)."""

    def _release(self) -> None:
        """Drop every fitted attribute (and free its memory) before a new fit trains."""
        fitted = [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]
        fitted += [k for k in ("_int8",) if k in vars(self)]
        for name in fitted:
            delattr(self, name)
        if fitted:
            release_memory()

    def _split(self, stratify, n_samples):
        """Train/validation indices for early stopping, or ``None``.

        Single-label targets are split stratified, so every class is in both parts.
        """
        if not self.early_stopping:
            return None
        n_valid = int(np.ceil(self.validation_fraction * n_samples))
        if stratify is not None:
            counts = np.bincount(stratify)
            too_small = (n_valid < len(counts) or n_samples - n_valid < len(counts)
                         or counts.min() < 2)
        else:
            too_small = n_samples - n_valid < 1
        if too_small:
            raise ValueError(
                f"early_stopping needs a validation split (with every class in it, for "
                f"classifiers), but validation_fraction={self.validation_fraction} of "
                f"{n_samples} texts is too small (or a class has a single text); raise "
                "validation_fraction, add data, or set early_stopping=False."
            )
        seed = self.random_state if isinstance(self.random_state, Integral) else 0
        return train_test_split(
            np.arange(n_samples), test_size=n_valid, stratify=stratify, random_state=seed
        )

    def _initial_head(self, texts, targets, weights, split, device, dtype, task, features=None,
                      embed=None):
        """Initial ``weight`` and ``bias`` of the output layer.

        ``head_init="probe"``: a linear model fitted on the frozen backbone's pooled
        features of the training part (linear probing, then fine-tuning: Kumar et
        al. 2022), so training starts where frozen features + logistic regression
        end; the features come from the embedding cache when it holds them. Its
        classes are balanced unless ``class_weight`` is set.
        ``"random"``: the layer's own initialisation and the task's prior bias.
        ``features`` (all texts) or ``embed(rows)`` (the texts of ``rows``) give the
        probe's features instead of the frozen backbone, e.g. those of an adapted
        backbone that does not start as the base model.
        """
        if self.head_init != "probe":
            return {"bias": task.initial_bias(targets)}
        rows = np.arange(len(texts)) if split is None else split[0]
        if features is not None:
            features = features[rows]
        elif embed is not None:
            features = embed(rows)
        else:
            features = frozen_encoder(self, device).embed(
                [texts[i] for i in rows], batch_size=self.batch_size, device=device, dtype=dtype,
                verbose=self.verbose, stride=self._stride(), chunk_pooling=self.chunk_pooling,
                pair_encoding=self._pair_encoding(), normalize=self.normalize)
        return probe_head(task, features, targets[rows], weights[rows],
                          getattr(self, "class_weight", None))

    def _train_config(self, device, dtype) -> TrainConfig:
        return TrainConfig(
            lr=self.lr, max_epochs=self.max_epochs, batch_size=self.batch_size,
            weight_decay=self.weight_decay, n_iter_no_change=self.n_iter_no_change,
            device=device, dtype=dtype, verbose=int(self.verbose),
            checkpoint_dir=getattr(self, "checkpoint_dir", None),
            gradient_checkpointing=getattr(self, "gradient_checkpointing", False),
            desc=type(self).__name__,
        )

    def export_onnx(self, path, *, quantize=None):
        """Export the fitted model for ONNX Runtime: ``model.onnx``, ``tokenizer.json``
        and ``onnx_config.json`` in the folder ``path``.

        The graph takes ``input_ids`` and ``attention_mask`` and returns what
        ``predict_proba`` returns (classifiers) or the predicted values
        (regressors); ``tokenizer.json`` already truncates and pads as this model
        does, so a service needs only ``onnxruntime`` and ``tokenizers``
        (:func:`sktransformers.predict_with_onnx_runtime` shows how). Needs
        ``pip install 'sktransformers[onnx]'``.

        Parameters
        ----------
        path : str or path
            A new or empty folder.
        quantize : {None, "int8"}, default=None
            ``"int8"``: ONNX Runtime's dynamic int8 quantisation of the exported
            graph (weights per channel), the fastest CPU prediction we measured.

        Returns
        -------
        path : pathlib.Path
        """
        return export_onnx(self, path, quantize)

    def _outputs(self, X) -> np.ndarray:
        """The fitted model's raw outputs (logits or standardised values) for ``X``."""
        check_is_fitted(self, "task_")
        texts = check_texts(X)
        self._check_input_kind(texts, self.pairs_)
        device, dtype = self._device_dtype()
        return self._raw(texts, device, dtype)


class TransformerClassifierMixin(ClassifierMixin):
    """Classification: single-label ``y``, or a 2-D indicator ``y`` for multi-label.

    ``predict_proba`` gives class probabilities (rows sum to 1) or, multi-label,
    per-label probabilities; ``predict`` the most probable class, or the labels whose
    probability reaches ``threshold``.
    """

    def _task(self, y):
        return classification_task(y)

    def predict_proba(self, X):
        """Class probabilities (columns in the order of ``classes_``), one row per text.

        Multi-label: the probability of each label, independently.

        Parameters
        ----------
        X : list, tuple, ndarray, pandas Series or DataFrame of str
            Texts; a two-column DataFrame or ``(n, 2)`` array holds text pairs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to 1 (single-label).
        """
        outputs = self._outputs(X)
        return self.task_.proba(outputs)

    def predict(self, X):
        """The most probable class of each text; multi-label, the indicator matrix.

        Parameters
        ----------
        X : list, tuple, ndarray, pandas Series or DataFrame of str
            Texts; a two-column DataFrame or ``(n, 2)`` array holds text pairs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_labels)
            Labels from ``classes_``; multi-label, 0/1 for each label whose probability
            reaches ``threshold``.
        """
        proba = self.predict_proba(X)
        return self.task_.predict(proba, getattr(self, "threshold", 0.5))


class TransformerRegressorMixin(RegressorMixin):
    """Regression: numeric ``y`` (2-D for several outputs), standardised for training."""

    def _task(self, y):
        return Regression(self.loss)

    def predict(self, X):
        """Predicted values, in the units of the training targets.

        Parameters
        ----------
        X : list, tuple, ndarray, pandas Series or DataFrame of str
            Texts; a two-column DataFrame or ``(n, 2)`` array holds text pairs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        outputs = self._outputs(X)
        return self.task_.predict(outputs)


def probe_head(task, features, targets, weights, class_weight) -> dict:
    """``weight`` and ``bias`` of a linear model fitted on ``features`` (the probe).

    Sample weights are scaled to mean 1; classes are balanced unless the user weighted
    them with ``class_weight`` (training then minimises the loss as the user asked).
    """
    weights = weights / max(float(weights.mean()), 1e-12)
    weight, bias = task.linear_probe(features, targets, weights, class_weight is None)
    return {"weight": weight, "bias": bias}


def release_memory() -> None:
    """Collect freed modules now (and return cached GPU blocks), not at some later point."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
