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

from ._base import ENCODER_CONSTRAINTS, NO_INT8_PRECISION, BaseTransformerModel, store_params
from ._causal_lm import DEFAULT_LM, default_lm_path, load_policy
from ._history import History
from ._loading import load_tokenizer
from ._persistence import load_trained, trainable_state
from ._preference_data import check_prompts
from ._progress import show_progress
from ._reference import reference_for
from .adaptation import LoRA
from .preference_tuning import GenerationMixin

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
    adaptation : {"lora", "full"} or LoRA, default="lora"
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
        "adaptation": [StrOptions({"lora", "full"}), LoRA],
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
        with tempfile.TemporaryDirectory() as output_dir:
            trainer = trl.RLOOTrainer(
                model=load_policy(path), reward_funcs=reward,
                args=self._config(trl, output_dir, device, dtype),
                train_dataset=self._dataset(prompts, tokenizer), processing_class=tokenizer,
                peft_config=self._peft_config(self.adaptation))
            if self.verbose < 2:
                from transformers.trainer_callback import PrinterCallback

                trainer.remove_callback(PrinterCallback)
            trainer.train()
        policy = trainer.model.eval()
        vars(self).update(
            policy_=policy, tokenizer_=tokenizer, model_path_=path,
            trained_state_=trainable_state(policy), adaptation_=copy.deepcopy(self.adaptation),
            base_=reference_for(self.model, path, DEFAULT_LM),
            history_=History(_history(trainer.state.log_history)),
            n_trainable_params_=sum(p.numel() for p in policy.parameters() if p.requires_grad),
            n_total_params_=sum(p.numel() for p in policy.parameters()))
        return self

    def _restore(self, path):
        policy, config = load_policy(path), self._peft_config(self.adaptation_)
        if config is not None:
            from peft import get_peft_model

            policy = get_peft_model(policy, config)
        self.policy_ = load_trained(policy, self.trained_state_).eval()
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

    def _peft_config(self, adaptation):
        if adaptation == "full":
            return None
        from peft import LoraConfig

        lora = adaptation if isinstance(adaptation, LoRA) else LoRA()
        targets = lora.target_modules
        return LoraConfig(r=lora.r, lora_alpha=lora.lora_alpha, lora_dropout=lora.lora_dropout,
                          target_modules=list(targets) if isinstance(targets, (list, tuple))
                          else targets, task_type="CAUSAL_LM")

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
