"""Estimators that update backbone weights: full fine-tuning and LoRA."""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval

from ..adaptation import FullFinetuning, LoRA
from .adapted import AdaptedClassifier, AdaptedRegressor, doc, example
from .base import REGRESSION_CONSTRAINTS, TRAINING_CONSTRAINTS, store_params


class _FullFinetuning:
    def _adaptation(self):
        return FullFinetuning()


class FullFinetuneClassifier(_FullFinetuning, AdaptedClassifier):
    __doc__ = doc(
        """Fine-tune every layer of a pretrained transformer plus a new linear head.

    Parameters
    ----------
{shared}
""" + example("FullFinetuneClassifier"))

    _parameter_constraints = TRAINING_CONSTRAINTS

    def __init__(self, model=None, *, pooling="mean", max_length=None, long_text="truncate",
                 stride=32, chunk_pooling="mean", pair_encoding="auto", batch_size=32,
                 max_epochs=3, lr=5e-5, weight_decay=0.01, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=2, class_weight=None, threshold=0.5,
                 normalize=True, head_init="probe",
                 device="auto", precision="auto", random_state=None, verbose=1,
                 checkpoint_dir=None):
        store_params(self, locals())


class FullFinetuneRegressor(_FullFinetuning, AdaptedRegressor):
    __doc__ = doc(
        """Fine-tune every layer of a pretrained transformer plus a linear regression head.

    Targets are standardised for training and mapped back; a 2-D ``y`` gives
    multi-output regression.

    Parameters
    ----------
{shared_regressor}
""" + example("FullFinetuneRegressor", regressor=True))

    _parameter_constraints = REGRESSION_CONSTRAINTS

    def __init__(self, model=None, *, pooling="mean", max_length=None, long_text="truncate",
                 stride=32, chunk_pooling="mean", pair_encoding="auto", batch_size=32,
                 max_epochs=3, lr=5e-5, weight_decay=0.01, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=2, loss="squared_error",
                 normalize=True, head_init="probe",
                 device="auto",
                 precision="auto", random_state=None, verbose=1, checkpoint_dir=None):
        store_params(self, locals())


_LORA_DOC = """
    Only the LoRA matrices ``A``, ``B`` and the head train; the update
    ``W + B·A·lora_alpha/r`` is merged into the weights after ``fit`` so that
    prediction costs what the base model costs.

    Parameters
    ----------
    r : int, default=8
        Rank of the update.
    lora_alpha : float, default=16
        Scale of the update (``lora_alpha / r``).
    lora_dropout : float, default=0.1
        Dropout on the input of the low-rank update during training.
    target_modules : list of str or None, default=None
        Names of the linear layers to adapt; ``None`` uses PEFT's default for the
        architecture (``query``/``value`` for BERT, ``q_proj``/``v_proj`` for Llama).
    merge_weights : bool, default=True
        Fold the update into the weights after fit."""

_LORA_CONSTRAINTS = {
    "r": [Interval(Integral, 1, None, closed="left")],
    "lora_alpha": [Interval(Real, 0, None, closed="neither")],
    "lora_dropout": [Interval(Real, 0, 1, closed="left")],
    "target_modules": [list, tuple, str, None],
    "merge_weights": ["boolean"],
}


class _LoRA:
    def _adaptation(self):
        return LoRA(self.r, self.lora_alpha, self.lora_dropout, self.target_modules,
                    merge=self.merge_weights)


class LoRAClassifier(_LoRA, AdaptedClassifier):
    __doc__ = doc(
        """Train low-rank updates of the backbone's attention (LoRA, via PEFT) and a head.
""" + _LORA_DOC + """
{shared}
""" + example("LoRAClassifier", "r=4, "))

    _parameter_constraints = {**TRAINING_CONSTRAINTS, **_LORA_CONSTRAINTS}

    def __init__(self, model=None, *, r=8, lora_alpha=16, lora_dropout=0.1, target_modules=None,
                 merge_weights=True, pooling="mean", max_length=None, long_text="truncate",
                 stride=32, chunk_pooling="mean", pair_encoding="auto", batch_size=32,
                 max_epochs=3, lr=5e-4, weight_decay=0.01, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=2, class_weight=None, threshold=0.5,
                 normalize=True, head_init="probe",
                 device="auto", precision="auto", random_state=None, verbose=1,
                 checkpoint_dir=None):
        store_params(self, locals())


class LoRARegressor(_LoRA, AdaptedRegressor):
    __doc__ = doc(
        """Train low-rank updates of the backbone's attention (LoRA) and a regression head.
""" + _LORA_DOC + """
{shared_regressor}
""" + example("LoRARegressor", "r=4, ", regressor=True))

    _parameter_constraints = {**REGRESSION_CONSTRAINTS, **_LORA_CONSTRAINTS}

    def __init__(self, model=None, *, r=8, lora_alpha=16, lora_dropout=0.1, target_modules=None,
                 merge_weights=True, pooling="mean", max_length=None, long_text="truncate",
                 stride=32, chunk_pooling="mean", pair_encoding="auto", batch_size=32,
                 max_epochs=3, lr=5e-4, weight_decay=0.01, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=2, loss="squared_error",
                 normalize=True, head_init="probe",
                 device="auto",
                 precision="auto", random_state=None, verbose=1, checkpoint_dir=None):
        store_params(self, locals())
