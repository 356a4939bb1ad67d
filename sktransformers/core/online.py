"""Online preference tuning: the mathematics of PPO, RLOO and GRPO, as small objects.

An online tuner (:mod:`sktransformers.estimators.online_tuning`) samples responses
from the current policy, scores them with a reward model and then optimises on
that *rollout* for a few epochs on the training core. What differs between the
algorithms is only

- how a rollout's rewards become per-token training targets (:meth:`targets`:
  advantages, and for PPO the value targets), and
- the loss on a minibatch of the rollout (:meth:`criterion`).

Both are here, as plain tensor code with no model in sight, so that the tests can
pin them against a reference computation. Conventions: a rollout holds ``n``
responses (``k`` consecutive ones per prompt); per-token tensors have shape
``(n, T)`` with ``mask`` marking response tokens (``T`` = the longest response);
``logp`` are the sampled tokens' log-probabilities under the policy that sampled
them, ``ref_logp`` under the reference policy, ``scores`` the reward model's
score of each whole response.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

#: Channels of the per-token targets a rollout gives the criterion (last dim).
MASK, OLD_LOGP, REF_LOGP, ADVANTAGE, RETURN, OLD_VALUE = range(6)
N_CHANNELS = 6


def masked_mean(x, mask, dim=None):
    """Mean of ``x`` over the positions where ``mask`` is 1 (all of them, or along ``dim``)."""
    if dim is None:
        return (x * mask).sum() / mask.sum().clamp(min=1)
    return (x * mask).sum(dim) / mask.sum(dim).clamp(min=1)


def whiten(x, mask, shift_mean=True):
    """``x`` scaled to unit variance (and zero mean) over the masked positions."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    n = mask.sum()
    if n > 1:  # the unbiased variance, as PPO implementations use
        var = var * n / (n - 1)
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    return (out if shift_mean else out + mean) * mask


def shaped_rewards(scores, logp, ref_logp, mask, kl_coef):
    """InstructGPT's per-token reward: ``-kl_coef · (log π - log π_ref)`` at every
    response token, plus the reward model's score at the response's last token."""
    rewards = -kl_coef * (logp - ref_logp) * mask
    last = mask.cumsum(1).argmax(1)  # the position of each row's last response token
    rewards[torch.arange(len(scores)), last] += scores
    return rewards


def gae(rewards, values, mask, gamma, lam):
    """Generalised advantage estimation (Schulman et al. 2016) over each response.

    ``δ_t = r_t + γ V_{t+1} - V_t`` with ``V`` = 0 after the last token;
    ``A_t = δ_t + γλ A_{t+1}``; returns ``(advantages, returns = A + V)``.
    """
    values = values * mask
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        following = values[:, t + 1] if t + 1 < rewards.shape[1] else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * following - values[:, t]
        running = (delta + gamma * lam * running) * mask[:, t]
        advantages[:, t] = running
    return advantages, (advantages + values) * mask


def rloo_advantages(rewards, k):
    """Leave-one-out: each reward minus the mean of the other ``k - 1`` for its prompt."""
    grouped = rewards.view(-1, k)
    baseline = (grouped.sum(1, keepdim=True) - grouped) / (k - 1)
    return (grouped - baseline).view(-1)


def group_advantages(rewards, k, scale=True, eps=1e-4):
    """GRPO: each reward minus its group's mean, divided by the group's std (if ``scale``)."""
    grouped = rewards.view(-1, k)
    centred = grouped - grouped.mean(1, keepdim=True)
    if scale:
        centred = centred / (grouped.std(1, keepdim=True) + eps)
    return centred.view(-1)


def clipped_surrogate(log_ratio, advantages, clip):
    """PPO's objective, negated: ``-min(ρ A, clip(ρ, 1-ε, 1+ε) A)`` with ``ρ = e^log_ratio``."""
    ratio = torch.exp(log_ratio)
    return -torch.min(ratio * advantages, torch.clamp(ratio, 1 - clip, 1 + clip) * advantages)


def clipped_value_loss(values, old_values, returns, clip):
    """``½ max((V - R)², (clip(V, V_old ± ε) - R)²)``: the value moves at most ``ε`` a rollout."""
    clipped = old_values + torch.clamp(values - old_values, -clip, clip)
    return 0.5 * torch.max((values - returns) ** 2, (clipped - returns) ** 2)


def schulman_kl(logp, ref_logp):
    """The per-token KL estimate ``e^{r} - r - 1`` with ``r = log π_ref - log π`` (≥ 0)."""
    r = ref_logp - logp
    return torch.exp(r) - r - 1


class AdaptiveKL:
    """The KL coefficient of Ziegler et al. (2019): nudged so the KL tracks ``target``.

    With ``target=None`` the coefficient stays fixed.
    """

    def __init__(self, coef, target=None, horizon=10_000):
        self.value, self.target, self.horizon = float(coef), target, horizon

    def update(self, kl, n_steps):
        """After a rollout of mean KL ``kl`` covering ``n_steps`` samples."""
        if self.target is None:
            return
        error = min(max(kl / self.target - 1, -0.2), 0.2)
        self.value *= 1 + error * n_steps / self.horizon


@dataclass
class Rollout:
    """One batch of sampled responses and what the algorithms need from it (tensors)."""

    scores: torch.Tensor  # (n,) the reward model's scores
    logp: torch.Tensor  # (n, T) under the sampling policy
    ref_logp: torch.Tensor  # (n, T) under the reference
    mask: torch.Tensor  # (n, T) 1 on response tokens
    values: torch.Tensor | None = None  # (n, T) the value head's estimates (PPO)

    def kl(self):
        """Mean over responses of the summed per-token log-ratio to the reference."""
        return float(((self.logp - self.ref_logp) * self.mask).sum(1).mean())


class OnlineAlgorithm:
    """What an online tuner's engine asks of an algorithm.

    ``targets(rollout)`` returns the ``(n, T, N_CHANNELS)`` per-token targets the
    criterion reads (see the channel constants); ``criterion()`` the loss module,
    called as ``loss(outputs, targets)`` with ``outputs`` of shape ``(n, T, 2)``
    (the policy's current log-probabilities and, for PPO, values) and returning
    per-response losses whose mean is the minibatch's loss. ``needs_value``: the
    engine adds a value head; ``kl_coef``: the current KL coefficient;
    ``uses_reference``: whether the engine must compute the reference's
    log-probabilities (not when the KL coefficient is 0).
    """

    kind = "online"  # for the training core: a plain (not a classifier) net
    needs_value = False

    @property
    def uses_reference(self) -> bool:
        """Whether the targets or the loss read the reference's log-probabilities."""
        return self.kl_coef > 0

    def targets(self, rollout: Rollout) -> torch.Tensor:
        raise NotImplementedError

    def criterion(self) -> nn.Module:
        raise NotImplementedError

    def after_rollout(self, rollout: Rollout) -> None:
        """Called once a rollout has been trained on (the adaptive KL's update)."""


def _pack(rollout, advantages, returns=None):
    zeros = torch.zeros_like(rollout.logp)
    channels = [rollout.mask, rollout.logp, rollout.ref_logp, advantages,
                zeros if returns is None else returns,
                zeros if rollout.values is None else rollout.values]
    return torch.stack([c.float() for c in channels], -1)


class PPO(OnlineAlgorithm):
    """Proximal policy optimisation as InstructGPT ran it (Ouyang et al. 2022).

    Per-token KL penalty to the reference folded into the reward, a value head,
    GAE, whitened advantages, the clipped surrogate and clipped value losses.
    """

    needs_value = True

    def __init__(self, kl_coef=0.05, kl_target=None, kl_horizon=10_000, gamma=1.0, lam=0.95,
                 clip=0.2, clip_value=0.2, vf_coef=0.1, whiten_advantages=True):
        self.kl = AdaptiveKL(kl_coef, kl_target, kl_horizon)
        self.gamma, self.lam, self.clip, self.clip_value = gamma, lam, clip, clip_value
        self.vf_coef, self.whiten_advantages = vf_coef, whiten_advantages

    @property
    def kl_coef(self):
        return self.kl.value

    @property
    def uses_reference(self):
        return self.kl.value > 0 or self.kl.target is not None

    def targets(self, rollout):
        rewards = shaped_rewards(rollout.scores, rollout.logp, rollout.ref_logp, rollout.mask,
                                 self.kl.value)
        advantages, returns = gae(rewards, rollout.values, rollout.mask, self.gamma, self.lam)
        if self.whiten_advantages:
            advantages = whiten(advantages, rollout.mask)
        return _pack(rollout, advantages, returns)

    def criterion(self):
        return PPOLoss(self.clip, self.clip_value, self.vf_coef)

    def after_rollout(self, rollout):
        self.kl.update(rollout.kl(), len(rollout.scores))


class PPOLoss(nn.Module):
    """Per response: the token-averaged clipped surrogate plus ``vf_coef`` × value loss."""

    def __init__(self, clip, clip_value, vf_coef):
        super().__init__()
        self.clip, self.clip_value, self.vf_coef = clip, clip_value, vf_coef

    def forward(self, outputs, targets):
        mask = targets[..., MASK]
        policy = clipped_surrogate(outputs[..., 0] - targets[..., OLD_LOGP],
                                   targets[..., ADVANTAGE], self.clip)
        value = clipped_value_loss(outputs[..., 1], targets[..., OLD_VALUE],
                                   targets[..., RETURN], self.clip_value)
        return masked_mean(policy + self.vf_coef * value, mask, dim=1)


class RLOO(OnlineAlgorithm):
    """REINFORCE leave-one-out (Ahmadian et al. 2024), as TRL's ``RLOOTrainer`` runs it.

    The summed log-ratio to the reference is taken off each response's score
    (``β · KL``), the advantage is the score minus the mean of the other ``k - 1``
    responses to the same prompt (optionally whitened over the rollout), and the
    loss is PPO's clipped surrogate on the whole response's probability ratio.
    """

    def __init__(self, k, beta=0.05, clip=0.2, normalize=False):
        self.k, self.beta, self.clip, self.normalize = k, beta, clip, normalize

    kl_coef = property(lambda self: self.beta)

    def targets(self, rollout):
        kl = ((rollout.logp - rollout.ref_logp) * rollout.mask).sum(1)
        advantages = rloo_advantages(rollout.scores - self.beta * kl, self.k)
        if self.normalize:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-4)
        return _pack(rollout, advantages[:, None].expand_as(rollout.logp))

    def criterion(self):
        return SequenceClipLoss(self.clip)


class SequenceClipLoss(nn.Module):
    """The clipped surrogate on each response's summed log-ratio (RLOO)."""

    def __init__(self, clip):
        super().__init__()
        self.clip = clip

    def forward(self, outputs, targets):
        mask = targets[..., MASK]
        log_ratio = ((outputs[..., 0] - targets[..., OLD_LOGP]) * mask).sum(1)
        return clipped_surrogate(log_ratio, targets[:, 0, ADVANTAGE], self.clip)


class GRPO(OnlineAlgorithm):
    """Group relative policy optimisation (Shao et al. 2024), as TRL's ``GRPOTrainer``.

    Advantages are each score's deviation from its prompt's group mean, divided by
    the group's standard deviation (``scale``); the loss is the per-token clipped
    surrogate plus ``β`` × the per-token KL estimate ``e^r - r - 1``, averaged over
    the minibatch's response tokens (TRL's default ``"dapo"`` aggregation for a
    rollout trained as one minibatch).
    """

    def __init__(self, k, beta=0.0, clip=0.2, scale=True):
        self.k, self.beta, self.clip, self.scale = k, beta, clip, scale

    kl_coef = property(lambda self: self.beta)

    def targets(self, rollout):
        advantages = group_advantages(rollout.scores, self.k, self.scale)
        return _pack(rollout, advantages[:, None].expand_as(rollout.logp))

    def criterion(self):
        return TokenClipLoss(self.clip, self.beta)


class TokenClipLoss(nn.Module):
    """Per-token clipped surrogate (+ ``β`` KL), averaged over all tokens of the batch.

    Returned per response as ``n · (its token sum) / (tokens in the batch)``, so
    that the core's mean over responses is the token average.
    """

    def __init__(self, clip, beta):
        super().__init__()
        self.clip, self.beta = clip, beta

    def forward(self, outputs, targets):
        mask, logp = targets[..., MASK], outputs[..., 0]
        loss = clipped_surrogate(logp - targets[..., OLD_LOGP], targets[..., ADVANTAGE],
                                 self.clip)
        if self.beta:
            loss = loss + self.beta * schulman_kl(logp, targets[..., REF_LOGP])
        return (loss * mask).sum(1) * len(mask) / mask.sum().clamp(min=1)
