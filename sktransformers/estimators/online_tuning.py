"""Online preference tuning on the training core: PPO, RLOO and GRPO.

A policy (a causal LM) is tuned on its own samples to raise a reward model's
score. One engine (:class:`~sktransformers.estimators.online_engine.OnlineTuner`)
runs every algorithm; each estimator here only states its parameters and builds
its algorithm (:mod:`sktransformers.core.online`).

Decision: three thin estimators (:class:`PPOTuner`, :class:`RLOOTuner`,
:class:`GRPOTuner`) rather than one with ``algorithm=``: PPO has eight
hyperparameters (value head, GAE, KL target ...) that mean nothing to the other
two, and a grid over one estimator would then mix valid and void combinations.
"""

from __future__ import annotations

import os
from numbers import Integral, Real

from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from ..core.online import GRPO, PPO, RLOO
from .base import ENCODER_CONSTRAINTS, NO_INT8_PRECISION, store_params
from .online_engine import OnlineTuner
from .preference_tuning import POLICY_ADAPTATIONS

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
    "gradient_checkpointing": ["boolean"],
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


_SAMPLING_DOC = """max_new_tokens : int, default=48
        Length of generated responses, in training and in ``predict``.
    temperature, top_p : float, default=1.0
        Sampling during training (and in ``predict`` when ``do_sample``).
    do_sample : bool, default=False
        ``predict`` decodes greedily unless set."""

_GROUP_DOC = """ppo_epochs : int, default=1
        Passes over each rollout (TRL's ``num_iterations``).
    minibatch_size : int or None, default=None
        Responses per gradient step; ``None``: the whole rollout.
    {sampling}
    batch_size : int, default=4
        Prompts per step (each with ``n_generations`` samples).
    max_epochs : int, default=1
        Passes over the training prompts.
    lr : float, default=1e-4
        AdamW's learning rate for the policy.
    device, precision, random_state, verbose, checkpoint_dir, gradient_checkpointing
        As for :class:`PPOTuner`.

    Attributes
    ----------
    policy_, tokenizer_, history_, n_trainable_params_, n_total_params_
        As for :class:`PPOTuner` (no value head)."""


def _doc(cls):
    group = _GROUP_DOC.replace("{sampling}", _SAMPLING_DOC)
    cls.__doc__ = (cls.__doc__.replace("{shared}", _SHARED_DOC).replace("{group}", group)
                   .replace("{sampling}", _SAMPLING_DOC))
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
        Samples over which the adaptive coefficient may change by a factor of e^0.2.
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
        Scale advantages to zero mean and unit variance over each rollout.
    ppo_epochs : int, default=4
        Passes over each rollout.
    minibatch_size : int or None, default=4
        Responses per gradient step; ``None``: the whole rollout.
    n_generations : int, default=1
        Responses per prompt.
    {sampling}
    batch_size : int, default=8
        Prompts per rollout.
    max_epochs : int, default=1
        Passes over the training prompts.
    lr : float, default=1e-4
        AdamW's learning rate for the policy (the value head learns at 1e-3).
    device, precision, random_state, verbose, checkpoint_dir
        As for the other estimators (a killed fit resumes from its last step).
    gradient_checkpointing : bool, default=False
        Recompute each layer's activations in the backward pass instead of keeping
        them: lower peak memory for about a third more compute per step (TRL's
        trainers do this by default).

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
                 checkpoint_dir=None, gradient_checkpointing=False):
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
    {group}

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
                 precision="auto", random_state=None, verbose=1, checkpoint_dir=None,
                 gradient_checkpointing=False):
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
        Weight of the KL term (TRL's default: none). At 0 no reference is computed
        (nor, for ``"full"``, loaded), and ``history_``'s ``kl`` is NaN.
    clip : float, default=0.2
        ε of the clipped surrogate.
    scale_rewards : bool, default=True
        Divide by the group's standard deviation (``False``: Dr. GRPO's unscaled).
    {group}

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
                 verbose=1, checkpoint_dir=None, gradient_checkpointing=False):
        store_params(self, locals())

    def _algorithm(self):
        return GRPO(self.n_generations, self.beta, self.clip, self.scale_rewards)


