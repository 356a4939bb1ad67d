"""Tasks: what a model predicts and how it learns it, as one small object.

The training core and every trainable estimator are task-agnostic; a task says

- how targets are checked and encoded for training (:meth:`encode`),
- how many outputs the head has (``n_outputs``) and which loss trains them
  (:meth:`criterion`, per-sample losses),
- which array early stopping stratifies on (:meth:`stratify`),
- and how raw outputs become probabilities and predictions.

:class:`Task` and :class:`SupervisedTask` declare what the core and the estimators
use; a new task implements them and registers with ``@safe_state`` (loadable from a
saved folder). Three supervised tasks exist: :class:`SingleLabel` (softmax + cross-entropy),
:class:`MultiLabel` (sigmoid + binary cross-entropy, 2-D indicator targets, as
scikit-learn's ``MLPClassifier``) and :class:`Regression` (standardised targets,
squared error or Huber). A fitted estimator keeps its task as ``task_``: it holds
no tensors, only what is needed to map outputs back (classes, target scale).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.utils.class_weight import compute_sample_weight
from torch import nn

from .registry import safe_state
from .validation import check_labels, check_multilabel, check_regression_targets


@runtime_checkable
class Task(Protocol):
    """What the training core asks of a task (:func:`~sktransformers.core.training.train`).

    Attributes
    ----------
    kind : str
        ``"classification"``, ``"multilabel"``, ``"regression"`` or ``"preference"``:
        how the core reports validation (single-label classification: accuracy, and
        ``n_outputs`` classes) and how exports map outputs.
    """

    kind: str

    def criterion(self) -> nn.Module:
        """The loss, per sample (``reduction="none"``): the core weights and averages it."""

    def stratify(self, targets):
        """The array early stopping stratifies its split on, or ``None``."""


@runtime_checkable
class SupervisedTask(Task, Protocol):
    """A task the estimators fit from ``y`` and predict with (all but the preference tasks).

    ``n_outputs`` (the head's width) is known once ``encode`` has seen the targets.
    """

    @property
    def n_outputs(self) -> int: ...

    def initial_bias(self, targets):
        """The output layer's starting bias, or ``None`` for the layer's own."""

    def encode(self, y, n_samples: int) -> np.ndarray:
        """Check ``y`` and return training targets; remember what maps outputs back."""

    def sample_weight(self, class_weight):
        """Per-sample weights from ``class_weight``, or ``None``."""

    def linear_probe(self, features, targets, weights, balanced=False):
        """Weights ``(n_outputs, dim)`` and bias of a linear model on frozen features."""

    def predict(self, outputs, *args) -> np.ndarray:
        """Predictions from outputs (classifiers: from probabilities, see ``proba``)."""

    def forget_labels(self) -> None:
        """Drop the training targets once fitted."""


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (rows sum to 1)."""
    scores = np.asarray(scores, dtype=np.float64)
    scores = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(scores)
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(scores: np.ndarray) -> np.ndarray:
    """Element-wise logistic function in float64."""
    return 1.0 / (1.0 + np.exp(-np.asarray(scores, dtype=np.float64)))


@safe_state
class SingleLabel:
    """One class per text: softmax outputs trained with cross-entropy."""

    kind = "classification"

    def encode(self, y, n_samples: int) -> np.ndarray:
        """Check labels, set ``classes_`` (``np.unique`` order); return class indices."""
        self.labels_ = check_labels(y, n_samples)
        self.classes_, idx = np.unique(self.labels_, return_inverse=True)
        return idx.astype(np.int64)

    @property
    def n_outputs(self) -> int:
        return len(self.classes_)

    def criterion(self) -> nn.Module:
        return nn.CrossEntropyLoss(reduction="none")

    def stratify(self, targets):
        return targets

    def initial_bias(self, targets):
        """Bias of the output layer at the start (``None``: the layer's own init)."""
        return None

    def linear_probe(self, features, targets, weights, balanced=False):
        """Weights ``(n_outputs, dim)`` and bias of a linear model fitted on ``features``.

        A multinomial logistic regression (two classes: the binary model's logit
        split evenly between two outputs, so their softmax is its probability).
        ``balanced=True`` weights each class by its inverse frequency: at C=1 on unit
        vectors an unweighted probe under-fits a rare class (on 200 SMS texts with
        13% spam its balanced accuracy was 0.62-0.78 over three seeds), and training
        then starts from a head that almost never predicts it.
        """
        model = LogisticRegression(max_iter=1000, class_weight="balanced" if balanced else None)
        model.fit(features, targets, sample_weight=weights)
        coef, bias = model.coef_, model.intercept_
        if coef.shape[0] == 1:
            coef, bias = np.vstack([-coef, coef]) / 2, np.array([-bias[0], bias[0]]) / 2
        return coef, bias

    def sample_weight(self, class_weight) -> np.ndarray | None:
        """Per-sample weights from ``class_weight`` (``None``: no weighting)."""
        if class_weight is None:
            return None
        return compute_sample_weight(class_weight, self.labels_)

    def proba(self, outputs) -> np.ndarray:
        return softmax(outputs)

    def predict(self, proba, threshold=None) -> np.ndarray:
        return self.classes_[np.argmax(proba, axis=1)]

    def forget_labels(self):
        """Drop the training labels once fitted (they are not needed to predict)."""
        del self.labels_


@safe_state
class MultiLabel(SingleLabel):
    """Any number of labels per text: a 2-D indicator ``y``, sigmoid outputs, BCE loss.

    ``classes_`` is ``np.arange(n_labels)``, as scikit-learn defines it for an
    indicator target; ``predict`` thresholds the per-label probabilities.
    """

    kind = "multilabel"

    def encode(self, y, n_samples: int) -> np.ndarray:
        self.labels_ = check_multilabel(y, n_samples)
        self.classes_ = np.arange(self.labels_.shape[1])
        return self.labels_.astype(np.float32)

    def criterion(self) -> nn.Module:
        return nn.BCEWithLogitsLoss(reduction="none")

    def stratify(self, targets):
        return None

    def initial_bias(self, targets) -> np.ndarray:
        """Each label's prior log-odds: the untrained head predicts the base rates.

        With many rare labels a zero bias costs the first epochs just learning that
        most labels are absent (and an under-trained model then predicts none).
        """
        rate = np.clip(targets.mean(axis=0), 1e-3, 1 - 1e-3)
        return np.log(rate / (1 - rate))

    def linear_probe(self, features, targets, weights, balanced=False):
        """One logistic regression per label; a label seen only one way keeps its prior.

        ``balanced`` is ignored: each label's rarity is in its prior bias."""
        coef = np.zeros((targets.shape[1], features.shape[1]))
        bias = self.initial_bias(targets)
        for j in range(targets.shape[1]):
            if 0 < targets[:, j].sum() < len(targets):
                model = LogisticRegression(max_iter=1000).fit(features, targets[:, j],
                                                              sample_weight=weights)
                coef[j], bias[j] = model.coef_[0], model.intercept_[0]
        return coef, bias

    def proba(self, outputs) -> np.ndarray:
        return sigmoid(outputs)

    def predict(self, proba, threshold=0.5) -> np.ndarray:
        return (proba >= threshold).astype(np.int64)


@safe_state
class Regression:
    """Numeric targets, one or several per text, standardised for training.

    Parameters
    ----------
    loss : {"squared_error", "huber"}
        Huber uses ``delta=1`` on standardised targets, i.e. one standard deviation.
    """

    kind = "regression"

    def __init__(self, loss: str = "squared_error"):
        self.loss = loss

    def encode(self, y, n_samples: int) -> np.ndarray:
        """Check targets, remember mean and scale; return standardised 2-D float32 targets."""
        values = check_regression_targets(y, n_samples)
        self.one_d_ = values.ndim == 1
        values = values.reshape(len(values), -1)
        self.mean_ = values.mean(axis=0)
        scale = values.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        return ((values - self.mean_) / self.scale_).astype(np.float32)

    @property
    def n_outputs(self) -> int:
        return len(self.mean_)

    def criterion(self) -> nn.Module:
        if self.loss == "huber":
            return nn.HuberLoss(reduction="none", delta=1.0)
        return nn.MSELoss(reduction="none")

    def stratify(self, targets):
        return None

    def sample_weight(self, class_weight):
        return None

    def initial_bias(self, targets):
        return None

    def linear_probe(self, features, targets, weights, balanced=False):
        """Ridge regression on the standardised targets, its penalty chosen by
        leave-one-out cross-validation (as :class:`TransformerFeatureRegressor`);
        ``balanced`` is ignored (there are no classes)."""
        model = RidgeCV(alphas=np.logspace(-2, 3, 11)).fit(features, targets,
                                                           sample_weight=weights)
        return np.atleast_2d(model.coef_), np.atleast_1d(model.intercept_)

    def predict(self, outputs) -> np.ndarray:
        """Map standardised outputs back to the target scale (1-D for a 1-D ``y``)."""
        values = np.asarray(outputs, dtype=np.float64) * self.scale_ + self.mean_
        return values[:, 0] if self.one_d_ else values

    def forget_labels(self):
        """Nothing to drop: a regression task keeps only mean and scale."""


def classification_task(y):
    """:class:`MultiLabel` for a 2-D ``y`` (indicator matrix), else :class:`SingleLabel`.

    Nested lists count as 2-D, so that lists of label lists reach the multi-label
    check and its advice (``MultiLabelBinarizer``) rather than a generic error.
    """
    shape = getattr(y, "shape", None)
    if shape is not None:
        return MultiLabel() if len(shape) == 2 and shape[1] > 1 else SingleLabel()
    nested = isinstance(y, (list, tuple)) and len(y) > 0 and isinstance(
        y[0], (list, tuple, set, np.ndarray))
    return MultiLabel() if nested else SingleLabel()


@safe_state
class PairwisePreference:
    """Preference pairs for a reward model: Bradley–Terry loss on two rewards per pair.

    The model's output for a pair is ``(r_chosen, r_rejected)``; the target is the
    pair's ``margin`` (0 when none is given). The per-pair loss is
    ``-log σ(r_chosen - r_rejected - margin)``.
    """

    kind = "preference"
    n_outputs = 1

    def criterion(self) -> nn.Module:
        return BradleyTerryLoss()

    def initial_bias(self, targets):
        return None

    def stratify(self, targets):
        return None


class BradleyTerryLoss(nn.Module):
    """``-log σ(r_c - r_r - margin)`` per pair; ``rewards`` is ``(n, 2)``, ``margin`` ``(n,)``."""

    def forward(self, rewards, margin):
        return -nn.functional.logsigmoid(rewards[:, 0] - rewards[:, 1] - margin)


#: The preference-tuning losses :class:`DirectPreference` implements.
DPO_LOSSES = ("sigmoid", "ipo", "hinge")


@safe_state
class DirectPreference:
    """Preference tuning of a policy (DPO and its variants) as a task of the core.

    The model's output for a pair is the policy's summed log-probabilities of the
    two completions ``(log π(y_c|x), log π(y_r|x))``; the target row holds the
    reference model's ``(log π_ref(y_c|x), log π_ref(y_r|x))`` and the two
    completions' token counts. With ``h = (log π(y_c) - log π_ref(y_c)) -
    (log π(y_r) - log π_ref(y_r))``:

    - ``"sigmoid"`` (DPO): ``-log σ(β h)``, with ``label_smoothing`` ε the
      conservative form ``-(1-ε) log σ(β h) - ε log σ(-β h)``;
    - ``"ipo"``: ``(h' - 1/(2β))²`` with ``h'`` from per-token averaged log-ratios;
    - ``"hinge"`` (SLiC): ``max(0, 1 - β h)``.

    These are the formulas of TRL's ``DPOTrainer`` (a test checks equality).
    """

    kind = "preference"

    def __init__(self, loss: str = "sigmoid", beta: float = 0.1, label_smoothing: float = 0.0):
        self.loss = loss
        self.beta = beta
        self.label_smoothing = label_smoothing

    def criterion(self) -> nn.Module:
        return DPOLoss(self.loss, self.beta, self.label_smoothing)

    def stratify(self, targets):
        return None


class DPOLoss(nn.Module):
    """Per-pair preference-tuning loss (see :class:`DirectPreference`)."""

    def __init__(self, loss: str = "sigmoid", beta: float = 0.1, label_smoothing: float = 0.0):
        super().__init__()
        self.loss, self.beta, self.label_smoothing = loss, beta, label_smoothing

    def forward(self, logps, reference):
        ratios = logps - reference[:, :2]
        if self.loss == "ipo":
            ratios = ratios / reference[:, 2:4].clamp(min=1.0)
            return (ratios[:, 0] - ratios[:, 1] - 1 / (2 * self.beta)) ** 2
        h = self.beta * (ratios[:, 0] - ratios[:, 1])
        if self.loss == "hinge":
            return torch.relu(1 - h)
        eps = self.label_smoothing
        return -(1 - eps) * nn.functional.logsigmoid(h) - eps * nn.functional.logsigmoid(-h)
