"""Classifiers that update backbone weights: full fine-tuning and LoRA."""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval

from ._adapted import AdaptedClassifier, doc
from ._base import TRAINING_CONSTRAINTS, store_params
from .adaptation import FullFinetuning, LoRA


class FullFinetuneClassifier(AdaptedClassifier):
    __doc__ = doc(
        """Fine-tune every layer of a pretrained transformer plus a new linear head.

    Parameters
    ----------
{shared}

    Examples
    --------
    >>> from sktransformers import FullFinetuneClassifier
    >>> clf = FullFinetuneClassifier(max_epochs=1, verbose=0, random_state=0)
    >>> clf.fit(["a great film", "an awful film"], ["pos", "neg"]).predict(["great"]).shape
    (1,)
    """
    )

    def __init__(self, model=None, *, pooling="mean", max_length=128, batch_size=32,
                 max_epochs=3, lr=5e-5, weight_decay=0.01, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=2, class_weight=None,
                 device="auto", precision="auto", random_state=None, verbose=1):
        store_params(self, locals())

    def _adaptation(self):
        return FullFinetuning()


class LoRAClassifier(AdaptedClassifier):
    __doc__ = doc(
        """Train low-rank updates of the backbone's attention (LoRA, via PEFT) and a head.

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
    target_modules : list of str or None, default=None
        Names of the linear layers to adapt; ``None`` uses PEFT's default for the
        architecture (``query``/``value`` for BERT, ``q_proj``/``v_proj`` for Llama).
    merge_weights : bool, default=True
        Fold the update into the weights after fit.
{shared}

    Examples
    --------
    >>> from sktransformers import LoRAClassifier
    >>> clf = LoRAClassifier(r=4, max_epochs=1, verbose=0, random_state=0)
    >>> clf.fit(["a great film", "an awful film"], ["pos", "neg"]).predict(["great"]).shape
    (1,)
    """
    )

    _parameter_constraints = {
        **TRAINING_CONSTRAINTS,
        "r": [Interval(Integral, 1, None, closed="left")],
        "lora_alpha": [Interval(Real, 0, None, closed="neither")],
        "lora_dropout": [Interval(Real, 0, 1, closed="left")],
        "target_modules": [list, tuple, str, None],
        "merge_weights": ["boolean"],
    }

    def __init__(self, model=None, *, r=8, lora_alpha=16, lora_dropout=0.1,
                 target_modules=None, merge_weights=True, pooling="mean", max_length=128,
                 batch_size=32, max_epochs=3, lr=5e-4, weight_decay=0.01,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=2,
                 class_weight=None, device="auto", precision="auto", random_state=None,
                 verbose=1):
        store_params(self, locals())

    def _adaptation(self):
        return LoRA(self.r, self.lora_alpha, self.lora_dropout, self.target_modules,
                    merge=self.merge_weights)
