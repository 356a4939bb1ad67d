"""Preference tuning of a causal language model: DPO and its variants, as an estimator."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import ENCODER_CONSTRAINTS, BaseTransformerModel, store_params
from ._causal_lm import default_lm_path, load_causal_lm, load_policy
from ._device import seed_everything
from ._inference import run_module
from ._loading import load_tokenizer
from ._policy import PolicyCollator, PolicyModule, generate, tokenize_pairs
from ._preference_data import check_preferences, check_prompts
from ._tasks import DPO_LOSSES, DirectPreference
from ._text import LengthGroupedLoader, TextDataset
from ._training import train
from .adaptation import LoRA, default_lr, make_adaptation

#: Adaptations whose tuned policy still generates with ``model.generate``.
POLICY_ADAPTATIONS = {"lora", "full", "adapter"}
#: Default learning rates for preference tuning (lower than for classification:
#: DPO moves a policy that already writes well).
DPO_LR = {"lora": 5e-4, "full": 5e-6, "adapter": 5e-4}


class DPOTuner(BaseTransformerModel):
    """Tune a causal language model on preference pairs with DPO (or IPO, or hinge).

    Direct preference optimisation raises the policy's likelihood of the preferred
    (``chosen``) response relative to the ``rejected`` one, measured against a
    frozen reference (the model before tuning), with no reward model and no
    sampling: with ``h = log π(y_c|x)/π_ref(y_c|x) - log π(y_r|x)/π_ref(y_r|x)`` the
    loss is ``-log σ(β h)``. The reference log-probabilities are computed once
    before training, so no second copy of the model is kept; with LoRA (the
    default) the reference is the same weights with the adapter disabled.

    ``predict(prompts)`` generates responses; ``score(pairs)`` is the fraction of
    pairs whose implicit reward ``β log π/π_ref`` ranks ``chosen`` above
    ``rejected``, so ``GridSearchCV`` can select ``beta`` or ``lr`` directly.

    Parameters
    ----------
    model : str or path, default=None
        A causal LM (hub id or local folder); ``None`` uses the packaged
        SmolLM2-135M-Instruct.
    adaptation : {"lora", "full", "adapter"} or strategy, default="lora"
        How the policy trains (a strategy object such as ``LoRA(r=16)`` works too).
        LoRA is kept unmerged, so the reference is the adapter switched off.
    loss : {"sigmoid", "ipo", "hinge"}, default="sigmoid"
        ``"sigmoid"`` is DPO; ``"ipo"`` the squared loss of IPO on per-token
        averaged log-ratios (target ``1/(2β)``); ``"hinge"`` SLiC's ``max(0, 1-βh)``.
    beta : float, default=0.1
        Strength of the pull towards the reference (higher: closer to it).
    label_smoothing : float, default=0.0
        Sigmoid loss only: the assumed fraction of flipped labels (conservative DPO).
    max_length : int, default=256
        Tokens per prompt + response.
    max_prompt_length : int, default=128
        A longer prompt keeps its last tokens.
    batch_size : int, default=8
        Pairs per step (two sequences each).
    max_epochs : int, default=1
    lr : float or None, default=None
        ``None``: 5e-4 for LoRA and adapters, 5e-6 for full fine-tuning.
    weight_decay : float, default=0.0
    early_stopping, validation_fraction, n_iter_no_change
        As for the classifiers (validation on held-out pairs).
    max_new_tokens : int, default=64
        Length limit of generated responses (``predict``).
    do_sample : bool, default=False
        Greedy decoding by default; ``True`` samples with ``temperature`` and ``top_p``.
    temperature : float, default=1.0
    top_p : float, default=1.0
    device, precision, random_state, verbose
        As for the other estimators.

    Attributes
    ----------
    policy_ : torch.nn.Module
        The tuned causal LM (with its unmerged adapter for LoRA).
    tokenizer_ : tokenizer
    model_path_ : str
        The base model; the reference for full fine-tuning is loaded from it.
    history_ : list of dict
    n_trainable_params_, n_total_params_ : int

    Examples
    --------
    >>> import pandas as pd
    >>> from sktransformers import DPOTuner
    >>> pairs = pd.DataFrame({"prompt": ["Say hi."], "chosen": ["Hello!"],
    ...                       "rejected": ["No."]})
    >>> dpo = DPOTuner(max_epochs=1, max_new_tokens=4, verbose=0, random_state=0)
    >>> len(dpo.fit(pairs).predict(["Say hi."]))
    1
    """

    _parameter_constraints = {
        "model": ENCODER_CONSTRAINTS["model"],
        "adaptation": [StrOptions(POLICY_ADAPTATIONS), HasMethods(["prepare", "finalize"])],
        "loss": [StrOptions(set(DPO_LOSSES))],
        "beta": [Interval(Real, 0, None, closed="neither")],
        "label_smoothing": [Interval(Real, 0, 0.5, closed="left")],
        "max_length": [Interval(Integral, 2, None, closed="left")],
        "max_prompt_length": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither"), None],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "max_new_tokens": [Interval(Integral, 1, None, closed="left")],
        "do_sample": ["boolean"],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "top_p": [Interval(Real, 0, 1, closed="right")],
        "device": [str],
        "precision": ENCODER_CONSTRAINTS["precision"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, model=None, *, adaptation="lora", loss="sigmoid", beta=0.1,
                 label_smoothing=0.0, max_length=256, max_prompt_length=128, batch_size=8,
                 max_epochs=1, lr=None, weight_decay=0.0, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=2, max_new_tokens=64,
                 do_sample=False, temperature=1.0, top_p=1.0, device="auto", precision="auto",
                 random_state=None, verbose=1):
        store_params(self, locals())

    def fit(self, X, y=None):
        """Tune the policy on preference pairs.

        Parameters
        ----------
        X : DataFrame
            Columns ``prompt``, ``chosen`` and ``rejected`` (``margin`` is ignored).
        y : None
            Ignored.

        Returns
        -------
        self
        """
        self._validate_params()
        self._check_device()
        prefs = check_preferences(X)
        adaptation = self._adaptation()
        path = default_lm_path() if self.model is None else str(self.model)
        tokenizer = load_tokenizer(path)
        seed_everything(self.random_state)
        device, dtype = self._device_dtype()
        encodings = tokenize_pairs(tokenizer, prefs, self.max_length, self.max_prompt_length)
        policy = load_policy(path)
        reference = self._logps(PolicyModule(policy.requires_grad_(False)), tokenizer,
                                encodings, device, dtype)
        lengths = np.asarray([[sum(w["completion_mask"]) for w in e["windows"]]
                              for e in encodings], dtype=np.float32)
        targets = np.hstack([reference, lengths]).astype(np.float32)
        module = PolicyModule(adaptation.prepare(policy, path))
        n_trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
        n_total = sum(p.numel() for p in module.parameters())
        split = self._split(None, len(prefs))
        parts = [np.arange(len(prefs))] if split is None else split
        train_data, valid_data = ([TextDataset([encodings[i] for i in idx], targets[idx])
                                   for idx in parts] + [None])[:2]
        history = train(module, train_data, valid_data, self._train_config(device, dtype),
                        DirectPreference(self.loss, self.beta, self.label_smoothing),
                        collate_fn=PolicyCollator(tokenizer.pad_token_id),
                        train_loader=LengthGroupedLoader)
        vars(self).update(policy_=adaptation.finalize(module.model).eval(), tokenizer_=tokenizer,
                          model_path_=path, history_=history, n_trainable_params_=n_trainable,
                          n_total_params_=n_total)
        return self

    def _adaptation(self):
        adaptation = copy.deepcopy(make_adaptation(self.adaptation))
        if isinstance(adaptation, LoRA):  # unmerged: the reference is the adapter switched off
            adaptation = dataclasses.replace(adaptation, merge=False)
        return adaptation

    def _train_config(self, device, dtype):
        config = super()._train_config(device, dtype)
        if self.lr is None:
            name = self.adaptation if isinstance(self.adaptation, str) else None
            config.lr = DPO_LR.get(name) or default_lr(self.adaptation)
        return config

    def _logps(self, module, tokenizer, encodings, device, dtype) -> np.ndarray:
        module.to(device)
        return run_module(module, tokenizer, encodings, batch_size=self.batch_size,
                          device=device, dtype=dtype, verbose=self.verbose, desc="log-probs",
                          collate=PolicyCollator(tokenizer.pad_token_id)).astype(np.float64)

    def _reference(self):
        """The reference policy: the adapter switched off, or the base model reloaded."""
        if hasattr(self.policy_, "disable_adapter"):
            return self.policy_, self.policy_.disable_adapter()
        return load_causal_lm(self.model_path_), contextlib.nullcontext()

    def decision_function(self, X):
        """The implicit reward margin ``β [log π/π_ref (chosen) - log π/π_ref (rejected)]``."""
        check_is_fitted(self, "policy_")
        encodings = tokenize_pairs(self.tokenizer_, check_preferences(X), self.max_length,
                                   self.max_prompt_length)
        device, dtype = self._device_dtype()
        policy = self._logps(PolicyModule(self.policy_), self.tokenizer_, encodings, device,
                             dtype)
        model, context = self._reference()
        with context:
            reference = self._logps(PolicyModule(model), self.tokenizer_, encodings, device,
                                    dtype)
        ratios = policy - reference
        return self.beta * (ratios[:, 0] - ratios[:, 1])

    def score(self, X, y=None):
        """Implicit-reward accuracy: the fraction of pairs ranked ``chosen`` first."""
        return float(np.mean(self.decision_function(X) > 0))

    def predict(self, X):
        """Generate a response to each prompt.

        Parameters
        ----------
        X : list of str, Series, or DataFrame with a ``prompt`` column

        Returns
        -------
        responses : ndarray of str, shape (n_samples,)
        """
        check_is_fitted(self, "policy_")
        prompts = check_prompts(X)
        device, dtype = self._device_dtype()
        if self.do_sample:
            seed_everything(self.random_state)
        self.policy_.to(device)
        texts = generate(self.policy_, self.tokenizer_, prompts,
                         max_new_tokens=self.max_new_tokens, do_sample=self.do_sample,
                         temperature=self.temperature, top_p=self.top_p,
                         batch_size=self.batch_size, device=device, dtype=dtype)
        return np.asarray(texts, dtype=object)
