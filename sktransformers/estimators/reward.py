"""A reward model learned from human preference pairs (Bradley–Terry)."""

from __future__ import annotations

import os
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_is_fitted

from ..backbones.inference import run_module
from ..backbones.modules import Encoder, RewardModule, make_head
from ..backbones.text import tokenize_responses
from ..core.device import seed_everything
from ..core.preference_data import check_preferences, check_prompted_responses
from ..core.tasks import PairwisePreference
from .adapted import AdaptedModel
from .base import ENCODER_CONSTRAINTS, NO_INT8_PRECISION, store_params


class RewardModel(AdaptedModel):
    """Learn a scalar reward from pairs of responses where one was preferred.

    A transformer, adapted as ``adaptation`` says, reads a prompt and a response and
    a linear head outputs one number, the reward ``r``. It is trained on preference
    pairs with the Bradley–Terry loss ``-log σ(r(chosen) - r(rejected) - margin)``, the
    first step of learning from human feedback (RLHF). ``predict`` gives rewards,
    ``score`` the fraction of pairs ranked the right way, so ``GridSearchCV`` and
    ``cross_val_score`` select reward models without a custom scorer.

    Parameters
    ----------
    model : str or path, default=None
        Hugging Face hub id or local model folder (an encoder, or a causal LM such as
        SmolLM2); ``None`` uses the packaged all-MiniLM-L6-v2.
    adaptation : {"lora", "full", "head", "adapter", "prompt", "prefix"} or strategy, \
default="lora"
        How the backbone trains: a name (the strategy with its defaults) or a strategy
        object from :mod:`sktransformers.adaptation`, e.g. ``LoRA(r=16)``.
    pooling : {"mean", "cls", "last"}, default="mean"
        How token states become one vector per response; ``"last"`` suits causal LMs.
    max_length : int or None, default=None
        Tokens per (prompt, response); ``None``: 128, or fewer where the backbone reads
        fewer positions. An encoder reads ``[CLS] prompt [SEP] response
        [SEP]`` and a long prompt keeps its end; a causal LM reads the chat template
        (user prompt, assistant response) cut from the left.
    batch_size : int, default=16
        Pairs per step (each pair is two sequences).
    max_epochs : int, default=3
        Passes over the preference pairs.
    lr : float or None, default=None
        AdamW learning rate; ``None`` takes the adaptation's default (LoRA 5e-4, full
        5e-5, head and adapters 1e-3, prompt 3e-3, prefix 1e-3). The head trains at
        1e-3 or more.
    weight_decay : float, default=0.01
        AdamW's decoupled weight decay.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the pairs and keep the epoch with the lowest
        validation loss (stopping after ``n_iter_no_change`` epochs without one).
    validation_fraction : float, default=0.1
        Share of the pairs held out for early stopping.
    n_iter_no_change : int, default=2
        Epochs without a lower validation loss before early stopping ends training.
    device : {"auto", "cpu", "cuda", "mps"} or "cuda:N", default="auto"
    precision : {"auto", "fp32", "bf16"}, default="auto"
    random_state : int, RandomState or None, default=None
        Seeds python, numpy and torch: the same seed on the same device gives the same
        model.
    verbose : int, default=1
        0: silent; 1: one progress bar per fit in Jupyter or a terminal, nothing in a
        non-interactive log; 2: the bar anywhere and a line of losses per epoch.
    checkpoint_dir : str or path, default=None
        Save the trainable state after every epoch there; a killed fit of the same
        run resumes from it (removed when the fit completes).
    gradient_checkpointing : bool, default=False
        Recompute each layer's activations in the backward pass instead of keeping
        them: lower peak memory for about a third more compute per step (TRL's
        trainers do this by default).

    Attributes
    ----------
    history_ : list of dict
        Per epoch: ``train_loss`` (and ``valid_loss``), ``duration``.
    n_trainable_params_, n_total_params_ : int
    module_ : torch.nn.Module
        The fitted encoder + reward head.

    Examples
    --------
    >>> import pandas as pd
    >>> from sktransformers import RewardModel
    >>> pairs = pd.DataFrame({"prompt": ["Say hi.", "Say bye."],
    ...                       "chosen": ["Hello, nice to meet you!", "Goodbye, take care!"],
    ...                       "rejected": ["Whatever.", "Go away."]})
    >>> rm = RewardModel(max_epochs=1, verbose=0, random_state=0).fit(pairs)
    >>> rm.predict(["Hello, nice to meet you!"]).shape
    (1,)
    """

    _parameter_constraints = {
        **ENCODER_CONSTRAINTS,
        "precision": NO_INT8_PRECISION,
        "adaptation": [str, HasMethods(["prepare", "finalize"])],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither"), None],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "checkpoint_dir": [str, os.PathLike, None],
        "gradient_checkpointing": ["boolean"],
    }

    def __init__(self, model=None, *, adaptation="lora", pooling="mean", max_length=None,
                 batch_size=16, max_epochs=3, lr=None, weight_decay=0.01, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=2, device="auto", precision="auto",
                 random_state=None, verbose=1, checkpoint_dir=None,
                 gradient_checkpointing=False):
        store_params(self, locals())

    def fit(self, X, y=None):
        """Fit the reward model on preference pairs.

        Parameters
        ----------
        X : DataFrame
            Columns ``chosen`` and ``rejected`` (the preferred and the other response),
            optionally ``prompt`` and a numeric ``margin``.
        y : None
            Ignored; the preference is in ``X``.

        Returns
        -------
        self
        """
        self._validate_params()
        self._check_device()
        prefs = check_preferences(X)
        seed_everything(self.random_state)
        device, dtype = self._device_dtype()
        split = self._split(None, len(prefs))
        weights = np.ones(len(prefs), dtype=np.float32)
        self._release()
        task = PairwisePreference()
        fitted = self._fit_model(prefs, prefs.margin, weights, split, device, dtype, task)
        vars(self).update(fitted, task_=task, pairs_=False)
        return self

    def _encode(self, tokenizer, prefs, max_length):
        chosen = tokenize_responses(tokenizer, prefs.prompts, prefs.chosen, max_length)
        rejected = tokenize_responses(tokenizer, prefs.prompts, prefs.rejected, max_length)
        return [{"windows": [c, r]} for c, r in zip(chosen, rejected, strict=True)]

    def _is_pairs(self, prefs) -> bool:
        return False  # a preference pair is encoded as two responses, not a text pair

    def _initial_head(self, *args, **kwargs):
        return None  # one reward per response: nothing to probe

    def _build_module(self, backbone, config, task, head, pairs, adaptation):
        return RewardModule(Encoder(backbone, self.pooling), make_head(config.hidden_size, 1))

    def _rewards(self, encodings) -> np.ndarray:
        device, dtype = self._device_dtype()
        self.module_.to(device)
        return run_module(self.module_, self.tokenizer_, encodings, batch_size=self.batch_size,
                          device=device, dtype=dtype, verbose=self.verbose,
                          desc="scoring").astype(np.float64)

    def predict(self, X):
        """The reward of each response.

        Parameters
        ----------
        X : list of str, Series, or DataFrame
            Responses; or a DataFrame with a ``response`` column and optionally
            ``prompt``; or ``(prompt, response)`` pairs.

        Returns
        -------
        rewards : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "module_")
        prompts, responses = check_prompted_responses(X)
        encodings = tokenize_responses(self.tokenizer_, prompts, responses, self.max_length_)
        return self._rewards(encodings)[:, 0]

    def decision_function(self, X):
        """``r(chosen) - r(rejected)`` for each preference pair of ``X``.

        Parameters
        ----------
        X : DataFrame
            Columns ``chosen`` and ``rejected``, optionally ``prompt``.

        Returns
        -------
        margins : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "module_")
        rewards = self._rewards(self._encode(self.tokenizer_, check_preferences(X),
                                             self.max_length_))
        return rewards[:, 0] - rewards[:, 1]

    def score(self, X, y=None):
        """Pairwise accuracy: the fraction of pairs whose ``chosen`` gets the higher reward.

        Ties count as wrong.

        Parameters
        ----------
        X : DataFrame
            Columns ``chosen`` and ``rejected``, optionally ``prompt``.
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        return float(np.mean(self.decision_function(X) > 0))
