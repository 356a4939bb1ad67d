"""Online preference tuning: a policy trained on its own samples against a reward model.

This closes the loop of learning from human feedback: a :class:`RewardModel`
fitted on preference pairs scores the policy's generations, and the policy is
tuned to raise that reward with RLOO (REINFORCE leave-one-out: each sample's
advantage is its reward minus the mean reward of the other samples for the same
prompt, with a KL penalty towards the reference). The engine is TRL's
``RLOOTrainer`` (the ``preferences`` extra); this module turns it into an
estimator with the library's conventions.
"""

from __future__ import annotations

import copy
import os
import tempfile
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..backbones.causal_lm import load_policy
from ..backbones.loading import load_tokenizer
from ..backbones.packaged import DEFAULT_LM, default_lm_path
from ..backbones.reference import reference_for
from ..core.history import History
from ..core.params import count_params, load_trained, trainable_state
from ..core.preference_data import check_prompts
from ..core.progress import show_progress
from .base import ENCODER_CONSTRAINTS, NO_INT8_PRECISION, BaseTransformerModel, store_params
from .preference_tuning import POLICY_ADAPTATIONS, GenerationMixin, policy_adaptation

_EXTRA = "RLOOTuner needs TRL: pip install 'sktransformers[preferences]'."


def _require_trl():
    try:
        import trl
    except ImportError as exc:
        raise ImportError(_EXTRA) from exc
    return trl


def _content(message) -> str:
    """The text of a plain or conversational (list of messages) prompt or completion."""
    return message[-1]["content"] if isinstance(message, list) else message


class RLOOTuner(GenerationMixin, BaseTransformerModel):
    """Tune a causal LM on its own generations to raise a reward model's score (RLOO).

    For each prompt the policy samples ``n_generations`` responses; ``reward_model``
    scores them; each response's advantage is its reward minus the mean of the
    others for that prompt (a baseline with no value network), and the policy
    follows that advantage with a KL penalty ``beta`` towards the reference model
    (with LoRA: the adapter switched off). ``fit(prompts)`` needs prompts only.

    Parameters
    ----------
    reward_model : fitted RewardModel or callable
        Scores ``(prompts, responses)``: a fitted estimator whose ``predict`` takes a
        ``prompt``/``response`` DataFrame (a :class:`RewardModel`), or a function
        ``f(prompts, responses) -> rewards``. ``clone`` (and so ``GridSearchCV``)
        un-fits estimator parameters: wrap a fitted reward model in
        ``sklearn.frozen.FrozenEstimator`` to search over this estimator.
    model : str or path, default=None
        The policy (a causal LM); ``None`` uses the packaged SmolLM2-135M-Instruct.
    adaptation : {"lora", "full", "adapter"} or strategy object, default="lora"
        How the policy trains, as for :class:`DPOTuner`: a LoRA adapter (kept apart
        from the weights, so that switching it off gives the reference policy),
        every weight, or bottleneck adapters; or a strategy object such as
        ``LoRA(r=16)``.
    n_generations : int, default=4
        Samples per prompt (the leave-one-out group).
    beta : float, default=0.05
        KL penalty towards the reference.
    max_new_tokens : int, default=48
        Length of generated responses, in training and in ``predict``.
    temperature, top_p : float, default=1.0
        Sampling during training (and in ``predict`` when ``do_sample``).
    do_sample : bool, default=False
        ``predict`` decodes greedily unless set.
    batch_size : int, default=4
        Prompts per step (each with ``n_generations`` samples).
    max_epochs : int, default=1
        Passes over the training prompts.
    lr : float, default=1e-4
        AdamW learning rate of the policy (its LoRA matrices by default).
    device, precision, random_state, verbose
        As for the other estimators.

    Attributes
    ----------
    policy_ : torch.nn.Module
    tokenizer_ : tokenizer
    history_ : list of dict
        Per logged step: ``step``, ``loss``, ``reward`` (mean reward of the samples),
        ``kl`` where TRL reports it.
    n_trainable_params_, n_total_params_ : int
    """

    _rebuilt = ("policy_", "tokenizer_", "model_path_")

    _parameter_constraints = {
        "reward_model": [HasMethods(["predict"]), callable],
        "model": ENCODER_CONSTRAINTS["model"],
        "adaptation": [StrOptions(POLICY_ADAPTATIONS), HasMethods(["prepare", "finalize"])],
        "n_generations": [Interval(Integral, 2, None, closed="left")],
        "beta": [Interval(Real, 0, None, closed="left")],
        "max_new_tokens": [Interval(Integral, 1, None, closed="left")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "top_p": [Interval(Real, 0, 1, closed="right")],
        "do_sample": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "device": [str],
        "precision": NO_INT8_PRECISION,
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, reward_model=None, model=None, *, adaptation="lora", n_generations=4,
                 beta=0.05, max_new_tokens=48, temperature=1.0, top_p=1.0, do_sample=False,
                 batch_size=4, max_epochs=1, lr=1e-4, device="auto", precision="auto",
                 random_state=None, verbose=1):
        store_params(self, locals())

    def fit(self, X, y=None):
        """Tune the policy on prompts ``X`` (texts, or a frame with a ``prompt`` column).

        Parameters
        ----------
        X : list of str, Series, or DataFrame with a ``prompt`` column
            The prompts to sample responses for.
        y : None
            Ignored: the reward model scores the responses.

        Returns
        -------
        self : RLOOTuner
        """
        self._validate_params()
        self._check_device()
        trl = _require_trl()
        prompts = check_prompts(X)
        reward = self._reward_function()
        self._release()
        path = default_lm_path(self.verbose) if self.model is None else str(self.model)
        tokenizer = copy.deepcopy(load_tokenizer(path))  # TRL sets its padding side
        device, dtype = self._device_dtype()
        adaptation = policy_adaptation(self.adaptation)
        policy = adaptation.prepare(load_policy(path), path)
        n_trainable, n_total = count_params(policy, trainable_only=True), count_params(policy)
        with tempfile.TemporaryDirectory() as output_dir:
            trainer = trl.RLOOTrainer(
                model=policy, reward_funcs=reward,
                args=self._config(trl, output_dir, device, dtype),
                train_dataset=self._dataset(prompts, tokenizer), processing_class=tokenizer)
            if self.verbose < 2:
                from transformers.trainer_callback import PrinterCallback

                trainer.remove_callback(PrinterCallback)
            trainer.train()
        policy = trainer.model.eval()
        vars(self).update(
            policy_=adaptation.finalize(policy), tokenizer_=tokenizer, model_path_=path,
            trained_state_=trainable_state(policy), adaptation_=adaptation,
            base_=reference_for(self.model, path, DEFAULT_LM),
            history_=History(_history(trainer.state.log_history)),
            n_trainable_params_=n_trainable, n_total_params_=n_total)
        return self

    def _restore(self, path):
        # 0.3 kept the parameter ("lora", "full" or a LoRA) as adaptation_
        adaptation = policy_adaptation(self.adaptation_)
        policy = load_trained(adaptation.prepare(load_policy(path), path), self.trained_state_)
        self.policy_, self.adaptation_ = adaptation.finalize(policy).eval(), adaptation
        self.tokenizer_, self.model_path_ = copy.deepcopy(load_tokenizer(path)), path

    def _reward_function(self):
        scorer = self.reward_model
        if hasattr(scorer, "predict"):
            check_is_fitted(scorer, msg=(
                "reward_model is not fitted: fit it on preference pairs first. (clone and "
                "GridSearchCV un-fit estimator parameters; wrap a fitted reward model in "
                "sklearn.frozen.FrozenEstimator to keep it.)"))
            import pandas as pd

            def score(prompts, responses):
                return scorer.predict(pd.DataFrame({"prompt": prompts, "response": responses}))
        else:
            score = scorer

        def reward(prompts, completions, **kwargs):
            values = score([_content(p) for p in prompts], [_content(c) for c in completions])
            return [float(v) for v in np.asarray(values, dtype=np.float64)]

        reward.__name__ = "reward_model"
        return reward

    def _dataset(self, prompts, tokenizer):
        from datasets import Dataset

        if tokenizer.chat_template:
            prompts = [[{"role": "user", "content": p}] for p in prompts]
        return Dataset.from_dict({"prompt": prompts})

    def _config(self, trl, output_dir, device, dtype):
        import torch

        os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
        seed = self.random_state if isinstance(self.random_state, Integral) else 0
        return trl.RLOOConfig(
            output_dir=output_dir, per_device_train_batch_size=self.batch_size * self.n_generations,
            num_generations=self.n_generations, max_completion_length=self.max_new_tokens,
            temperature=self.temperature, top_p=self.top_p, beta=self.beta,
            learning_rate=self.lr, num_train_epochs=self.max_epochs, seed=seed,
            use_cpu=device == "cpu", bf16=dtype == torch.bfloat16, report_to="none",
            save_strategy="no", logging_steps=1, disable_tqdm=not show_progress(self.verbose))

    def score(self, X, y=None):
        """Mean reward (under ``reward_model``) of the responses ``predict`` gives for ``X``.

        Parameters
        ----------
        X : list of str, Series, or DataFrame with a ``prompt`` column
            Prompts.
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        prompts = check_prompts(X)
        responses = self.predict(prompts)
        return float(np.mean(self._reward_function()(prompts, list(responses))))


def _history(log_history) -> list[dict]:
    keys = {"step": "step", "loss": "loss", "reward": "reward", "kl": "kl"}
    return [{new: float(row[old]) for old, new in keys.items() if old in row}
            for row in log_history if "loss" in row]
