"""The engine of the online tuners: rollouts, rewards and training on the core.

:class:`OnlineTuner` runs every online algorithm (:mod:`sktransformers.estimators.online_tuning`
has the three estimators): per step it draws ``batch_size`` prompts, samples
``n_generations`` responses to each from the current policy, scores them, computes
the reference log-probabilities (with LoRA: the adapter switched off, so no second
model is held), lets the algorithm (:mod:`sktransformers.core.online`) turn them into
per-token targets, and trains on that rollout for ``ppo_epochs`` passes in minibatches
through the same skorch net every estimator trains with (AdamW, gradient clipping,
autocast). Checkpoints, history, ``save``/``load`` and the progress rule are the
library's own.
"""

from __future__ import annotations

import hashlib
import json
from numbers import Integral

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from ..backbones.causal_lm import load_policy
from ..backbones.loading import load_tokenizer
from ..backbones.packaged import DEFAULT_LM, lm_path
from ..backbones.reference import reference_for
from ..backbones.rollout import (
    OnlinePolicyModule,
    RolloutCollator,
    RolloutDataset,
    batch_inputs,
    pad_right,
    response_logps,
    sample_responses,
)
from ..core.callbacks import load_state, remove_checkpoint, save_state
from ..core.device import autocast, seed_everything
from ..core.history import History
from ..core.online import Rollout
from ..core.params import count_params, load_trained, trainable_state
from ..core.preference_data import check_prompts
from ..core.progress import progress_bar
from ..core.training import TrainConfig, make_net
from .base import BaseTransformerModel
from .preference_tuning import GenerationMixin, policy_adaptation

#: The value head's learning rate (a linear layer on detached features learns fast).
VALUE_HEAD_LR = 1e-3

class OnlineTuner(GenerationMixin, BaseTransformerModel):
    """The engine of the online tuners (see the module docstring); not used directly.

    Subclasses define ``_algorithm()`` (a :class:`~sktransformers.core.online.OnlineAlgorithm`).
    """

    _rebuilt = ("policy_", "tokenizer_", "model_path_", "value_head_")

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
        self
        """
        self._validate_params()
        self._check_device()
        prompts = check_prompts(X)
        reward = self._reward_function()
        algorithm = self._algorithm()
        self._release()
        path = lm_path(self.model, self.verbose)
        tokenizer = load_tokenizer(path)
        device, dtype = self._device_dtype()
        seed_everything(self.random_state)
        adaptation = policy_adaptation(self.adaptation)
        policy = adaptation.prepare(load_policy(path), path)
        head = _value_head(policy) if algorithm.needs_value else None
        module = OnlinePolicyModule(policy, head).to(device)
        reference = None if hasattr(policy, "disable_adapter") or not (
            algorithm.uses_reference) else load_policy(path).requires_grad_(False).eval().to(
            device)
        n_trainable, n_total = count_params(module, trainable_only=True), count_params(module)
        net = make_net(module, self._train_config(device, dtype), algorithm,
                       [("clip", _clip())], collate_fn=RolloutCollator(tokenizer.pad_token_id))
        net.initialize()
        history = self._run(net, module, reference, tokenizer, prompts, reward, algorithm,
                            device, dtype)
        policy = module.model.eval()
        vars(self).update(
            policy_=adaptation.finalize(policy), tokenizer_=tokenizer, model_path_=path,
            value_head_=head, trained_state_=trainable_state(module), adaptation_=adaptation,
            base_=reference_for(self.model, path, DEFAULT_LM), history_=History(history),
            n_trainable_params_=n_trainable, n_total_params_=n_total)
        return self

    # ------------------------------------------------------------------ the loop

    def _steps(self, n_prompts):
        """The prompt indices of every step: each epoch a fresh seeded permutation."""
        seed = self.random_state if isinstance(self.random_state, Integral) else 0
        rng = np.random.default_rng(seed)
        return [order[i:i + self.batch_size] for _ in range(self.max_epochs)
                for order in [rng.permutation(n_prompts)]
                for i in range(0, n_prompts, self.batch_size)]

    def _run(self, net, module, reference, tokenizer, prompts, reward, algorithm, device,
             dtype):
        steps = self._steps(len(prompts))
        key = self._run_key(prompts) if self.checkpoint_dir is not None else None
        history = self._resume(net, module, algorithm, key)
        for step in progress_bar(range(len(history), len(steps)), verbose=self.verbose,
                                 desc=type(self).__name__, total=len(steps),
                                 initial=len(history), unit="step"):
            torch.manual_seed(_step_seed(self.random_state, step))
            batch = [prompts[i] for i in steps[step]]
            data, rollout = self._rollout(module, reference, tokenizer, batch, reward,
                                                 algorithm, device, dtype)
            net.partial_fit(data, y=None, epochs=self.ppo_epochs)
            algorithm.after_rollout(rollout)
            history.append(_step_record(step + 1, rollout, net, algorithm))
            if key is not None:
                save_state(self.checkpoint_dir, module, net.optimizer_,
                           {"key": key, "history": history, "kl_coef": algorithm.kl_coef})
        if key is not None:
            remove_checkpoint(self.checkpoint_dir)
        return history

    def _rollout(self, module, reference, tokenizer, prompts, reward, algorithm, device,
                 dtype):
        """Sample, score and evaluate one batch: its training data and its tensors."""
        k = self.n_generations
        # PPO (values) and a KL to the reference need a forward pass like the reference's
        # (so the KL is exactly 0 at step 0); otherwise generation's logits give log-probs
        forward = module.head is not None or algorithm.uses_reference
        prompt_tokens, responses, sampled_logps = sample_responses(
            module.model, tokenizer, prompts, k, max_new_tokens=self.max_new_tokens,
            temperature=self.temperature, top_p=self.top_p, device=device, dtype=dtype,
            logps=not forward)
        texts = tokenizer.batch_decode(responses, skip_special_tokens=True)
        texts = [t.strip() for t in texts]
        scores = torch.tensor(reward([p for p in prompts for _ in range(k)], texts),
                              dtype=torch.float32)
        inputs = {k_: v.to(device) for k_, v in
                  batch_inputs(prompt_tokens, responses, tokenizer.pad_token_id).items()}
        mask = inputs["response_mask"].float()
        values = None
        with torch.inference_mode(), autocast(device, dtype):
            module.eval()
            if forward:
                outputs = module(**inputs).float()
                logp = outputs[..., 0] * mask
                values = outputs[..., 1] * mask if module.head is not None else None
                ref = _reference_logps(module, reference, inputs).float() * mask if (
                    algorithm.uses_reference) else logp
            else:  # nothing to compare with: the sampling pass's log-probs do
                logp = ref = pad_right(sampled_logps, mask.shape[1]).to(device) * mask
            module.train()
        rollout = Rollout(scores=scores.to(device), logp=logp, ref_logp=ref, mask=mask,
                          values=values)
        targets = algorithm.targets(rollout)
        return RolloutDataset(prompt_tokens, responses, targets, mask), rollout

    def _resume(self, net, module, algorithm, key):
        if key is None:
            return []
        progress = load_state(self.checkpoint_dir, module, net.optimizer_, key)
        if progress is None:
            return []
        if hasattr(algorithm, "kl"):
            algorithm.kl.value = progress["kl_coef"]
        return progress["history"]

    def _run_key(self, prompts):
        """What identifies a run for resuming: the prompts and every parameter but
        the ones that do not change training (verbosity, device, checkpoint folder)."""
        params = {k: v for k, v in self.get_params(deep=False).items()
                  if k not in ("reward_model", "verbose", "device", "checkpoint_dir")}
        text = json.dumps([prompts, {k: repr(v) for k, v in sorted(params.items())}])
        return hashlib.sha256(text.encode()).hexdigest()

    def _train_config(self, device, dtype):
        n_rollout = self.batch_size * self.n_generations
        return TrainConfig(lr=self.lr, max_epochs=self.ppo_epochs,
                           batch_size=self.minibatch_size or n_rollout, weight_decay=0.0,
                           n_iter_no_change=1, device=device, dtype=dtype,
                           verbose=int(self.verbose), head_lr=VALUE_HEAD_LR,
                           gradient_checkpointing=self.gradient_checkpointing,
                           desc=type(self).__name__)

    # ------------------------------------------------------------------ the rest

    def _restore(self, path):
        adaptation = policy_adaptation(self.adaptation_)
        policy = adaptation.prepare(load_policy(path), path)
        state = self.trained_state_
        if not any(k.startswith(("model.", "head.")) for k in state):
            state = {f"model.{k}": v for k, v in state.items()}  # 0.3: the policy's own names
        head = _value_head(policy) if any(k.startswith("head.") for k in state) else None
        module = load_trained(OnlinePolicyModule(policy, head), state)
        self.policy_, self.adaptation_ = adaptation.finalize(module.model).eval(), adaptation
        self.value_head_ = head
        self.tokenizer_, self.model_path_ = load_tokenizer(path), path

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

        def reward(prompts, responses):
            values = np.asarray(score(list(prompts), list(responses)), dtype=np.float64)
            if values.shape != (len(responses),) or not np.isfinite(values).all():
                raise ValueError(f"reward_model must return one finite number per response "
                                 f"({len(responses)}); it returned {values.shape} values"
                                 f"{'' if np.isfinite(values).all() else ' with NaN or inf'}.")
            return values
        return reward

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
        return float(np.mean(self._reward_function()(prompts, list(self.predict(prompts)))))


def _value_head(policy):
    head = torch.nn.Linear(policy.config.hidden_size, 1)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    return head


def _clip():
    from skorch.callbacks import GradientNormClipping

    return GradientNormClipping(gradient_clip_value=1.0)


def _reference_logps(module, reference, inputs):
    """The reference policy's per-token log-probabilities: the adapter switched off,
    or the separate frozen copy (full fine-tuning, adapters)."""
    n = inputs["response_mask"].shape[1]
    if reference is None:
        with module.model.disable_adapter():
            return response_logps(module.model, inputs["input_ids"],
                                  inputs["attention_mask"], n)
    return response_logps(reference, inputs["input_ids"], inputs["attention_mask"], n)


def _step_seed(random_state, step):
    base = random_state if isinstance(random_state, Integral) else 0
    return (int(base) * 1_000_003 + step) % (2**31)


def _step_record(step, rollout, net, algorithm) -> dict:
    """One history row: the rollout's mean score, KL to the reference (NaN where the
    algorithm needs no reference, so none was computed), entropy (estimated as the
    sampled tokens' mean negative log-probability), the loss of the step's last pass,
    the KL coefficient and the mean response length."""
    mask = rollout.mask
    return {"step": step, "loss": float(net.history[-1, "train_loss"]),
            "reward": float(rollout.scores.mean()),
            "kl": rollout.kl() if algorithm.uses_reference else float("nan"),
            "entropy": float(-(rollout.logp * mask).sum() / mask.sum().clamp(min=1)),
            "kl_coef": float(algorithm.kl_coef), "response_tokens": float(mask.sum(1).mean())}
