"""Online preference tuning on the training core: PPO, RLOO and GRPO.

A policy (a causal LM) is tuned on its own samples to raise a reward model's
score. One engine (:class:`OnlineTuner`) runs every algorithm: per step it draws
``batch_size`` prompts, samples ``n_generations`` responses to each from the
current policy, scores them, computes the reference log-probabilities (with
LoRA: the adapter switched off, so no second model is held), lets the algorithm
(:mod:`sktransformers.core.online`) turn them into per-token targets, and trains
on that rollout for ``ppo_epochs`` passes in minibatches through the same skorch
net every estimator trains with (AdamW, gradient clipping, autocast). Checkpoints,
history, ``save``/``load`` and the progress rule are the library's own.

Decision: three thin estimators (:class:`PPOTuner`, :class:`RLOOTuner`,
:class:`GRPOTuner`) rather than one with ``algorithm=``: PPO has eight
hyperparameters (value head, GAE, KL target ...) that mean nothing to the other
two, and a grid over one estimator would then mix valid and void combinations.
"""

from __future__ import annotations

import hashlib
import json
import os
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..backbones.causal_lm import load_policy
from ..backbones.loading import load_tokenizer
from ..backbones.packaged import DEFAULT_LM, default_lm_path
from ..backbones.reference import reference_for
from ..backbones.rollout import (
    OnlinePolicyModule,
    RolloutCollator,
    RolloutDataset,
    batch_inputs,
    sample_responses,
)
from ..core.callbacks import load_state, remove_checkpoint, save_state
from ..core.device import autocast, seed_everything
from ..core.history import History
from ..core.online import GRPO, PPO, RLOO, Rollout
from ..core.params import count_params, load_trained, trainable_state
from ..core.preference_data import check_prompts
from ..core.progress import progress_bar
from ..core.training import TrainConfig, make_net
from .base import ENCODER_CONSTRAINTS, NO_INT8_PRECISION, BaseTransformerModel, store_params
from .preference_tuning import POLICY_ADAPTATIONS, GenerationMixin, policy_adaptation

#: The value head's learning rate (a linear layer on detached features learns fast).
VALUE_HEAD_LR = 1e-3

_COMMON = {
    "reward_model": [HasMethods(["predict"]), callable],
    "model": ENCODER_CONSTRAINTS["model"],
    "adaptation": [StrOptions(POLICY_ADAPTATIONS), HasMethods(["prepare", "finalize"])],
    "beta": [Interval(Real, 0, None, closed="left")],
    "clip": [Interval(Real, 0, None, closed="neither")],
    "ppo_epochs": [Interval(Integral, 1, None, closed="left")],
    "minibatch_size": [Interval(Integral, 1, None, closed="left"), None],
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
    "checkpoint_dir": [str, os.PathLike, None],
    "verbose": ["verbose"],
}

_SHARED_DOC = """reward_model : fitted RewardModel or callable
        Scores ``(prompts, responses)``: a fitted estimator whose ``predict`` takes a
        ``prompt``/``response`` DataFrame (a :class:`RewardModel`), or a function
        ``f(prompts, responses) -> rewards``. ``clone`` (and so ``GridSearchCV``)
        un-fits estimator parameters: wrap a fitted reward model in
        ``sklearn.frozen.FrozenEstimator`` to search over this estimator.
    model : str or path, default=None
        The policy (a causal LM); ``None`` uses the packaged SmolLM2-135M-Instruct."""


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
        path = default_lm_path(self.verbose) if self.model is None else str(self.model)
        tokenizer = load_tokenizer(path)
        device, dtype = self._device_dtype()
        seed_everything(self.random_state)
        adaptation = policy_adaptation(self.adaptation)
        policy = adaptation.prepare(load_policy(path), path)
        head = _value_head(policy) if algorithm.needs_value else None
        module = OnlinePolicyModule(policy, head).to(device)
        reference = None if hasattr(policy, "disable_adapter") else (
            load_policy(path).requires_grad_(False).eval().to(device))
        n_trainable, n_total = count_params(module, trainable_only=True), count_params(module)
        net = make_net(module, self._train_config(device, dtype, algorithm), algorithm,
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
            data, rollout, texts = self._rollout(module, reference, tokenizer, batch, reward,
                                                 algorithm, device, dtype)
            net.partial_fit(data, y=None, epochs=self.ppo_epochs)
            algorithm.after_rollout(rollout)
            history.append(_step_record(step + 1, rollout, net, self.ppo_epochs,
                                        algorithm.kl_coef, texts))
            if key is not None:
                save_state(self.checkpoint_dir, module, net.optimizer_,
                           {"key": key, "history": history, "kl_coef": algorithm.kl_coef})
        if key is not None:
            remove_checkpoint(self.checkpoint_dir)
        return history

    def _rollout(self, module, reference, tokenizer, prompts, reward, algorithm, device,
                 dtype):
        """Sample, score and evaluate one batch: its training data, tensors and texts."""
        k = self.n_generations
        prompt_tokens, responses = sample_responses(
            module.model, tokenizer, prompts, k, max_new_tokens=self.max_new_tokens,
            temperature=self.temperature, top_p=self.top_p, device=device, dtype=dtype)
        texts = tokenizer.batch_decode(responses, skip_special_tokens=True)
        texts = [t.strip() for t in texts]
        scores = torch.tensor(reward([p for p in prompts for _ in range(k)], texts),
                              dtype=torch.float32)
        inputs = {k_: v.to(device) for k_, v in
                  batch_inputs(prompt_tokens, responses, tokenizer.pad_token_id).items()}
        mask = inputs["response_mask"].float()
        with torch.inference_mode(), autocast(device, dtype):
            module.eval()
            outputs = module(**inputs).float()
            ref = _reference_logps(module, reference, inputs)
            module.train()
        rollout = Rollout(scores=scores.to(device), logp=outputs[..., 0] * mask,
                          ref_logp=ref * mask, mask=mask,
                          values=outputs[..., 1] * mask if module.head is not None else None)
        targets = algorithm.targets(rollout)
        return RolloutDataset(prompt_tokens, responses, targets, mask), rollout, texts

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

    def _train_config(self, device, dtype, algorithm=None):
        n_rollout = self.batch_size * self.n_generations
        return TrainConfig(lr=self.lr, max_epochs=self.ppo_epochs,
                           batch_size=self.minibatch_size or n_rollout, weight_decay=0.0,
                           n_iter_no_change=1, device=device, dtype=dtype,
                           verbose=int(self.verbose), head_lr=VALUE_HEAD_LR,
                           desc=type(self).__name__)

    # ------------------------------------------------------------------ the rest

    def _restore(self, path):
        adaptation = policy_adaptation(self.adaptation_)
        policy = adaptation.prepare(load_policy(path), path)
        head = _value_head(policy) if any(k.startswith("head.") for k in self.trained_state_) \
            else None
        module = load_trained(OnlinePolicyModule(policy, head), self.trained_state_)
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
    from ..backbones.rollout import response_logps

    n = inputs["response_mask"].shape[1]
    if reference is None:
        with module.model.disable_adapter():
            return response_logps(module.model, inputs["input_ids"],
                                  inputs["attention_mask"], n)
    return response_logps(reference, inputs["input_ids"], inputs["attention_mask"], n)


def _step_seed(random_state, step):
    base = random_state if isinstance(random_state, Integral) else 0
    return (int(base) * 1_000_003 + step) % (2**31)


def _step_record(step, rollout, net, n_epochs, kl_coef, texts) -> dict:
    """One history row: the rollout's mean score, KL to the reference, entropy
    (estimated as the sampled tokens' mean negative log-probability), the loss of
    the step's last pass, the KL coefficient and the mean response length."""
    mask = rollout.mask
    return {"step": step, "loss": float(net.history[-1, "train_loss"]),
            "reward": float(rollout.scores.mean()), "kl": rollout.kl(),
            "entropy": float(-(rollout.logp * mask).sum() / mask.sum().clamp(min=1)),
            "kl_coef": float(kl_coef), "response_tokens": float(mask.sum(1).mean())}


def _doc(cls):
    cls.__doc__ = cls.__doc__.replace("{shared}", _SHARED_DOC)
    return cls


@_doc
class PPOTuner(OnlineTuner):
    """Tune a causal LM against a reward model with PPO, as InstructGPT did.

    Each step samples ``n_generations`` responses to ``batch_size`` prompts; every
    response token is rewarded ``-beta · (log π - log π_ref)`` (the per-token KL
    penalty to the reference, with LoRA the adapter switched off) and the reward
    model's score lands on its last token; a value head on the policy's last hidden
    states estimates the return, generalised advantage estimation (``gamma``,
    ``lam``) gives whitened advantages, and ``ppo_epochs`` passes in minibatches
    minimise the clipped surrogate plus ``vf_coef`` × the clipped value loss. The
    value head reads detached states, so the value loss trains the head only.

    Parameters
    ----------
    {shared}
    adaptation : {"lora", "full", "adapter"} or strategy object, default="lora"
        How the policy trains; LoRA stays unmerged, so the reference policy is the
        adapter switched off (no second model). ``"full"`` and ``"adapter"`` load a
        frozen copy of the model as the reference.
    beta : float, default=0.05
        The KL coefficient (the starting one when ``kl_target`` is set).
    kl_target : float or None, default=None
        Adapt the coefficient so the summed KL per response tracks this value
        (Ziegler et al.; horizon ``kl_horizon`` samples); ``None`` keeps it fixed.
    kl_horizon : int, default=10000
    gamma : float, default=1.0
        Discount of GAE.
    lam : float, default=0.95
        λ of GAE.
    clip : float, default=0.2
        ε of the clipped surrogate.
    clip_value : float, default=0.2
        How far a value may move from its rollout estimate in one rollout.
    vf_coef : float, default=0.1
        Weight of the value loss.
    whiten_advantages : bool, default=True
    ppo_epochs : int, default=4
        Passes over each rollout.
    minibatch_size : int or None, default=4
        Responses per gradient step; ``None``: the whole rollout.
    n_generations : int, default=1
        Responses per prompt.
    max_new_tokens : int, default=48
        Length of generated responses, in training and in ``predict``.
    temperature, top_p : float, default=1.0
        Sampling during training (and in ``predict`` when ``do_sample``).
    do_sample : bool, default=False
        ``predict`` decodes greedily unless set.
    batch_size : int, default=8
        Prompts per rollout.
    max_epochs : int, default=1
        Passes over the training prompts.
    lr : float, default=1e-4
        AdamW's learning rate for the policy (the value head learns at 1e-3).
    device, precision, random_state, verbose, checkpoint_dir
        As for the other estimators (a killed fit resumes from its last step).

    Attributes
    ----------
    policy_ : torch.nn.Module
    value_head_ : torch.nn.Linear
    tokenizer_ : tokenizer
    history_ : list of dict
        Per step: ``step``, ``loss``, ``reward`` (mean score of the rollout), ``kl``
        (mean summed log-ratio to the reference), ``entropy`` (mean negative
        log-probability of the sampled tokens), ``kl_coef``, ``response_tokens``.
    n_trainable_params_, n_total_params_ : int

    Examples
    --------
    >>> from sktransformers import PPOTuner
    >>> def says_thanks(prompts, responses):
    ...     return [float("thank" in r.lower()) for r in responses]
    >>> ppo = PPOTuner(says_thanks, max_new_tokens=4, batch_size=2, verbose=0,
    ...                random_state=0).fit(["Say hi.", "Greet me."])
    >>> len(ppo.history_)
    1
    """

    _parameter_constraints = {
        **_COMMON,
        "kl_target": [Interval(Real, 0, None, closed="neither"), None],
        "kl_horizon": [Interval(Integral, 1, None, closed="left")],
        "gamma": [Interval(Real, 0, 1, closed="both")],
        "lam": [Interval(Real, 0, 1, closed="both")],
        "clip_value": [Interval(Real, 0, None, closed="neither")],
        "vf_coef": [Interval(Real, 0, None, closed="left")],
        "whiten_advantages": ["boolean"],
        "n_generations": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, reward_model=None, model=None, *, adaptation="lora", beta=0.05,
                 kl_target=None, kl_horizon=10_000, gamma=1.0, lam=0.95, clip=0.2,
                 clip_value=0.2, vf_coef=0.1, whiten_advantages=True, ppo_epochs=4,
                 minibatch_size=4, n_generations=1, max_new_tokens=48, temperature=1.0,
                 top_p=1.0, do_sample=False, batch_size=8, max_epochs=1, lr=1e-4,
                 device="auto", precision="auto", random_state=None, verbose=1,
                 checkpoint_dir=None):
        store_params(self, locals())

    def _algorithm(self):
        return PPO(self.beta, self.kl_target, self.kl_horizon, self.gamma, self.lam, self.clip,
                   self.clip_value, self.vf_coef, self.whiten_advantages)


@_doc
class RLOOTuner(OnlineTuner):
    """Tune a causal LM on its own generations to raise a reward model's score (RLOO).

    For each prompt the policy samples ``n_generations`` responses; each response's
    score, less ``beta`` × its summed log-ratio to the reference (with LoRA the
    adapter switched off), minus the mean of the others for that prompt is its
    advantage (a baseline with no value network); the loss is PPO's clipped
    surrogate on the whole response's probability ratio. This is what TRL's
    ``RLOOTrainer`` computes, on the library's own training core.

    Parameters
    ----------
    {shared}
    adaptation : {"lora", "full", "adapter"} or strategy object, default="lora"
        As for :class:`PPOTuner`.
    n_generations : int, default=4
        Samples per prompt (the leave-one-out group).
    beta : float, default=0.05
        KL penalty towards the reference.
    clip : float, default=0.2
        ε of the clipped surrogate.
    normalize_advantages : bool, default=False
        Whiten the advantages over each rollout.
    ppo_epochs : int, default=1
        Passes over each rollout (TRL's ``num_iterations``).
    minibatch_size : int or None, default=None
        Responses per gradient step; ``None``: the whole rollout.
    max_new_tokens : int, default=48
    temperature, top_p : float, default=1.0
    do_sample : bool, default=False
    batch_size : int, default=4
        Prompts per step (each with ``n_generations`` samples).
    max_epochs : int, default=1
    lr : float, default=1e-4
    device, precision, random_state, verbose, checkpoint_dir
        As for :class:`PPOTuner`.

    Attributes
    ----------
    policy_, tokenizer_, history_, n_trainable_params_, n_total_params_
        As for :class:`PPOTuner` (no value head).

    Examples
    --------
    >>> from sktransformers import RLOOTuner
    >>> def short(prompts, responses):
    ...     return [-len(r) for r in responses]
    >>> rloo = RLOOTuner(short, max_new_tokens=4, n_generations=2, batch_size=2,
    ...                  verbose=0, random_state=0).fit(["Say hi.", "Greet me."])
    >>> [row["step"] for row in rloo.history_]
    [1]
    """

    _parameter_constraints = {
        **_COMMON,
        "n_generations": [Interval(Integral, 2, None, closed="left")],
        "normalize_advantages": ["boolean"],
    }

    def __init__(self, reward_model=None, model=None, *, adaptation="lora", n_generations=4,
                 beta=0.05, clip=0.2, normalize_advantages=False, ppo_epochs=1,
                 minibatch_size=None, max_new_tokens=48, temperature=1.0, top_p=1.0,
                 do_sample=False, batch_size=4, max_epochs=1, lr=1e-4, device="auto",
                 precision="auto", random_state=None, verbose=1, checkpoint_dir=None):
        store_params(self, locals())

    def _algorithm(self):
        return RLOO(self.n_generations, self.beta, self.clip, self.normalize_advantages)


@_doc
class GRPOTuner(OnlineTuner):
    """Tune a causal LM with GRPO: advantages normalised within each prompt's group.

    Each prompt's ``n_generations`` responses form a group; a response's advantage
    is its score minus the group mean, divided by the group's standard deviation
    (``scale_rewards``); the loss is the per-token clipped surrogate plus ``beta`` ×
    the per-token KL estimate to the reference, averaged over response tokens —
    TRL's ``GRPOTrainer`` with its defaults, on the library's training core.

    Parameters
    ----------
    {shared}
    adaptation : {"lora", "full", "adapter"} or strategy object, default="lora"
        As for :class:`PPOTuner`.
    n_generations : int, default=4
        Responses per prompt (the group).
    beta : float, default=0.0
        Weight of the KL term (TRL's default: none).
    clip : float, default=0.2
    scale_rewards : bool, default=True
        Divide by the group's standard deviation (``False``: Dr. GRPO's unscaled).
    ppo_epochs : int, default=1
    minibatch_size : int or None, default=None
    max_new_tokens : int, default=48
    temperature, top_p : float, default=1.0
    do_sample : bool, default=False
    batch_size : int, default=4
    max_epochs : int, default=1
    lr : float, default=1e-4
    device, precision, random_state, verbose, checkpoint_dir
        As for :class:`PPOTuner`.

    Attributes
    ----------
    policy_, tokenizer_, history_, n_trainable_params_, n_total_params_
        As for :class:`PPOTuner` (no value head).

    Examples
    --------
    >>> from sktransformers import GRPOTuner
    >>> def short(prompts, responses):
    ...     return [-len(r) for r in responses]
    >>> grpo = GRPOTuner(short, max_new_tokens=4, n_generations=2, batch_size=2,
    ...                  verbose=0, random_state=0).fit(["Say hi.", "Greet me."])
    >>> len(grpo.predict(["Say hi."]))
    1
    """

    _parameter_constraints = {
        **_COMMON,
        "n_generations": [Interval(Integral, 2, None, closed="left")],
        "scale_rewards": ["boolean"],
    }

    def __init__(self, reward_model=None, model=None, *, adaptation="lora", n_generations=4,
                 beta=0.0, clip=0.2, scale_rewards=True, ppo_epochs=1, minibatch_size=None,
                 max_new_tokens=48, temperature=1.0, top_p=1.0, do_sample=False, batch_size=4,
                 max_epochs=1, lr=1e-4, device="auto", precision="auto", random_state=None,
                 verbose=1, checkpoint_dir=None):
        store_params(self, locals())

    def _algorithm(self):
        return GRPO(self.n_generations, self.beta, self.clip, self.scale_rewards)


