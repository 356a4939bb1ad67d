"""PPO, RLOO and GRPO on the training core: the mathematics, the engine, the contract.

The formulas are checked against plain loops written here; the engine against
what an online tuner owes (KL exactly 0 before the first update, a toy reward
learned, resuming a killed fit, persistence, the scikit-learn contract).
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV, cross_val_score

from sktransformers import GRPOTuner, PPOTuner, RewardModel, RLOOTuner, load
from sktransformers.adaptation import LoRA
from sktransformers.core.online import (
    GRPO,
    PPO,
    RLOO,
    AdaptiveKL,
    Rollout,
    clipped_surrogate,
    clipped_value_loss,
    gae,
    group_advantages,
    rloo_advantages,
    schulman_kl,
    shaped_rewards,
    whiten,
)

from conftest import NEG, POS

PROMPTS = ["what is it", "the film is", "this movie was", "the plot"]
TUNERS = {"ppo": PPOTuner, "rloo": RLOOTuner, "grpo": GRPOTuner}


GOOD = {"good", "great", "nice", "love", "best", "fun"}


def count_good(prompts, responses):
    return [float(sum(w in GOOD for w in r.split())) for r in responses]


@pytest.fixture
def make(tiny_llama):
    def build(name, reward=count_good, **kw):
        params = dict(max_new_tokens=4, batch_size=2, lr=1e-2, verbose=0, random_state=0)
        if name != "ppo":
            params["n_generations"] = 2
        return TUNERS[name](reward, tiny_llama, **{**params, **kw})
    return build


# ---------------------------------------------------------------- the mathematics

def _batch(seed=0, n=4, t=5):
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(n, t)
    mask[1, 3:] = 0  # a shorter response
    mask[3, 1:] = 0  # a one-token response
    logp = -torch.rand(n, t, generator=g) * 3 * mask
    ref = -torch.rand(n, t, generator=g) * 3 * mask
    values = torch.randn(n, t, generator=g) * mask
    scores = torch.randn(n, generator=g)
    return Rollout(scores=scores, logp=logp, ref_logp=ref, mask=mask, values=values)


def test_shaped_rewards_penalise_every_token_and_score_the_last():
    r = _batch()
    rewards = shaped_rewards(r.scores, r.logp, r.ref_logp, r.mask, 0.1)
    for i in range(4):
        last = int(r.mask[i].sum()) - 1
        for t in range(5):
            expected = -0.1 * float(r.logp[i, t] - r.ref_logp[i, t]) * float(r.mask[i, t])
            expected += float(r.scores[i]) if t == last else 0.0
            assert float(rewards[i, t]) == pytest.approx(expected, abs=1e-6)


def test_gae_equals_the_textbook_recursion():
    r = _batch()
    rewards = shaped_rewards(r.scores, r.logp, r.ref_logp, r.mask, 0.05)
    gamma, lam = 0.9, 0.8
    advantages, returns = gae(rewards, r.values, r.mask, gamma, lam)
    for i in range(4):
        n = int(r.mask[i].sum())
        v = [float(x) for x in r.values[i, :n]] + [0.0]
        a, expected = 0.0, [0.0] * n
        for t in reversed(range(n)):
            delta = float(rewards[i, t]) + gamma * v[t + 1] - v[t]
            a = delta + gamma * lam * a
            expected[t] = a
        np.testing.assert_allclose(advantages[i, :n].numpy(), expected, atol=1e-5)
        np.testing.assert_allclose(returns[i, :n].numpy(), np.add(expected, v[:n]), atol=1e-5)
        assert not advantages[i, n:].any() and not returns[i, n:].any()


def test_whitening_uses_the_masked_tokens_only():
    r = _batch()
    out = whiten(r.values, r.mask)
    kept = r.values[r.mask.bool()].numpy().astype(np.float64)
    expected = (kept - kept.mean()) / kept.std(ddof=1)
    np.testing.assert_allclose(out[r.mask.bool()].numpy(), expected, atol=1e-4)
    assert not out[~r.mask.bool()].any()


def test_clipped_losses_equal_their_formulas():
    log_ratio = torch.log(torch.tensor([1.5, 1.5, 0.5, 0.5, 1.0]))
    adv = torch.tensor([1.0, -1.0, 1.0, -1.0, 2.0])
    # ratio 1.5, A>0: clipped at 1.2; A<0: unclipped 1.5 (the pessimistic one); ratio 0.5,
    # A>0: 0.5; A<0: clipped 0.8; ratio 1: A
    expected = torch.tensor([-1.2, 1.5, -0.5, 0.8, -2.0])
    torch.testing.assert_close(clipped_surrogate(log_ratio, adv, 0.2), expected)
    values, old, returns = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0]), torch.tensor(
        [0.0, 1.0])
    # first: unclipped (1-0)^2=1, clipped (0.2-0)^2=0.04 -> max 1; second: both 1
    torch.testing.assert_close(clipped_value_loss(values, old, returns, 0.2),
                               torch.tensor([0.5, 0.5]))


def test_group_baselines_equal_loops():
    rewards = torch.tensor([1.0, 2.0, 6.0, 0.0, 0.0, 3.0])
    loo = rloo_advantages(rewards, 3)
    grpo = group_advantages(rewards, 3)
    for g in range(2):
        group = rewards[3 * g: 3 * g + 3].tolist()
        for j in range(3):
            others = [x for i, x in enumerate(group) if i != j]
            assert float(loo[3 * g + j]) == pytest.approx(group[j] - np.mean(others))
            assert float(grpo[3 * g + j]) == pytest.approx(
                (group[j] - np.mean(group)) / (np.std(group, ddof=1) + 1e-4), rel=1e-5)


def test_kl_estimate_and_adaptive_coefficient():
    logp, ref = torch.tensor([-1.0, -2.0]), torch.tensor([-1.5, -2.0])
    np.testing.assert_allclose(schulman_kl(logp, ref).numpy(),
                               [np.exp(-0.5) + 0.5 - 1, 0.0], atol=1e-7)
    kl = AdaptiveKL(0.1, target=6.0, horizon=100)
    kl.update(12.0, 10)  # twice the target: error clipped to +0.2
    assert kl.value == pytest.approx(0.1 * (1 + 0.2 * 10 / 100))
    kl.update(6.0, 10)
    assert kl.value == pytest.approx(0.1 * 1.02)
    fixed = AdaptiveKL(0.1)
    fixed.update(100.0, 10)
    assert fixed.value == 0.1


def test_ppo_loss_on_a_rollout_equals_a_plain_computation():
    r = _batch()
    algo = PPO(kl_coef=0.05, gamma=1.0, lam=0.95, clip=0.2, clip_value=0.2, vf_coef=0.1)
    targets = algo.targets(r)
    new_logp = r.logp + 0.1 * r.mask
    new_values = r.values - 0.3 * r.mask
    losses = algo.criterion()(torch.stack([new_logp, new_values], -1), targets)
    rewards = shaped_rewards(r.scores, r.logp, r.ref_logp, r.mask, 0.05)
    adv, ret = gae(rewards, r.values, r.mask, 1.0, 0.95)
    adv = whiten(adv, r.mask)
    for i in range(4):
        n = int(r.mask[i].sum())
        per_token = []
        for t in range(n):
            ratio = np.exp(0.1)
            a = float(adv[i, t])
            pg = -min(ratio * a, min(max(ratio, 0.8), 1.2) * a)
            v, v_old, R = float(new_values[i, t]), float(r.values[i, t]), float(ret[i, t])
            v_clip = v_old + min(max(v - v_old, -0.2), 0.2)
            per_token.append(pg + 0.1 * 0.5 * max((v - R) ** 2, (v_clip - R) ** 2))
        assert float(losses[i]) == pytest.approx(np.mean(per_token), rel=1e-5, abs=1e-6)


def test_rloo_and_grpo_losses_equal_plain_computations():
    r = _batch()
    r.values = None
    new_logp = r.logp + torch.linspace(-0.2, 0.2, 5) * r.mask
    kl = ((r.logp - r.ref_logp) * r.mask).sum(1)
    rloo = RLOO(k=2, beta=0.05, clip=0.2)
    out = rloo.criterion()(torch.stack([new_logp, new_logp], -1), rloo.targets(r))
    adv = rloo_advantages(r.scores - 0.05 * kl, 2)
    for i in range(4):
        ratio = float(torch.exp(((new_logp[i] - r.logp[i]) * r.mask[i]).sum()))
        a = float(adv[i])
        assert float(out[i]) == pytest.approx(-min(ratio * a, np.clip(ratio, 0.8, 1.2) * a),
                                              rel=1e-5)
    grpo = GRPO(k=2, beta=0.1, clip=0.2)
    out = grpo.criterion()(torch.stack([new_logp, new_logp], -1), grpo.targets(r))
    adv = group_advantages(r.scores, 2)
    total = 0.0
    for i in range(4):
        for t in range(int(r.mask[i].sum())):
            ratio = float(torch.exp(new_logp[i, t] - r.logp[i, t]))
            a = float(adv[i])
            d = float(r.ref_logp[i, t] - new_logp[i, t])
            total += -min(ratio * a, np.clip(ratio, 0.8, 1.2) * a) + 0.1 * (np.exp(d) - d - 1)
    assert float(out.mean()) == pytest.approx(total / float(r.mask.sum()), rel=1e-5)


# ---------------------------------------------------------------- the engine

@pytest.mark.parametrize("name", TUNERS)
def test_kl_to_the_reference_is_zero_before_the_first_update(name, make):
    tuner = make(name, max_epochs=1, beta=0.05).fit(PROMPTS)
    assert tuner.history_[0]["kl"] == 0.0
    assert [row["step"] for row in tuner.history_] == [1, 2]
    assert set(tuner.history_[0]) == {"step", "loss", "reward", "kl", "entropy", "kl_coef",
                                      "response_tokens"}
    assert hasattr(tuner.policy_, "disable_adapter")  # LoRA: the reference is the base


def test_without_a_kl_term_no_reference_is_computed(make, monkeypatch):
    from sktransformers.estimators import online_engine

    calls = []
    real = online_engine._reference_logps
    monkeypatch.setattr(online_engine, "_reference_logps",
                        lambda *a: calls.append(1) or real(*a))
    grpo = make("grpo", adaptation="full").fit(PROMPTS)  # GRPO's default beta is 0
    assert calls == [] and np.isnan(grpo.history_[0]["kl"])
    make("grpo", beta=0.1).fit(PROMPTS)
    assert len(calls) == 2  # one per step


def test_sampled_log_probabilities_equal_a_forward_pass(tiny_llama):
    """The log-probabilities read from generation's logits (used when no reference is
    needed) are those a forward pass over prompt + response gives."""
    from sktransformers.backbones.causal_lm import load_policy
    from sktransformers.backbones.loading import load_tokenizer
    from sktransformers.backbones.rollout import (
        batch_inputs,
        pad_right,
        response_logps,
        sample_responses,
    )

    model, tok = load_policy(tiny_llama).eval(), load_tokenizer(tiny_llama)
    torch.manual_seed(0)
    prompts, responses, logps = sample_responses(
        model, tok, PROMPTS, 2, max_new_tokens=5, temperature=1.0, top_p=1.0, device="cpu",
        dtype=None)
    inputs = batch_inputs(prompts, responses, tok.pad_token_id)
    mask = inputs["response_mask"].float()
    with torch.no_grad():
        forward = response_logps(model, inputs["input_ids"], inputs["attention_mask"],
                                 mask.shape[1]) * mask
    torch.testing.assert_close(pad_right(logps, mask.shape[1]) * mask, forward, atol=1e-4,
                               rtol=1e-4)


def test_full_fine_tuning_holds_a_frozen_reference_copy(make):
    # A reward that is never 0: with count_good, a random model that samples no good
    # word in the first rollout scores 0 everywhere, the zero-initialised value head
    # gives 0 advantages, and rightly nothing moves.
    tuner = make("ppo", reward=lambda p, r: [1.0 + len(x) for x in r], adaptation="full",
                 lr=1e-3).fit(PROMPTS)
    assert abs(tuner.history_[0]["kl"]) < 1e-5  # the copy computes what the policy did
    assert tuner.history_[1]["kl"] != 0.0  # the first rollout moved the weights


def _good_probability(policy, tokenizer, prompts):
    """Mean probability that the first response token is one of the good words."""
    from sktransformers.backbones.rollout import batch_inputs

    ids = [tokenizer(p)["input_ids"] for p in prompts]
    inputs = batch_inputs(ids, [[0]] * len(ids), tokenizer.pad_token_id)
    with torch.no_grad():
        logits = policy(input_ids=inputs["input_ids"],
                        attention_mask=inputs["attention_mask"]).logits[:, -2]
    good = tokenizer.convert_tokens_to_ids(sorted(GOOD))
    return float(logits.softmax(-1)[:, good].sum(-1).mean())


@pytest.mark.parametrize("name", TUNERS)
def test_a_toy_reward_is_learned(name, make):
    """Reward: how many good words a response says. The tiny random policy's output
    is near uniform (6 good words of 94: p = 0.064); 16 steps of a second each lift
    that probability above 0.3 (measured 0.49 PPO, 0.79 RLOO and GRPO) and the
    greedy responses of the base policy (no good word) gain two or more."""
    prompts = PROMPTS * 4
    base = make(name, adaptation="full", lr=1e-9).fit(PROMPTS)
    kw = {} if name == "ppo" else {"n_generations": 4}
    tuned = make(name, adaptation="full", lr=1e-2, max_epochs=4, batch_size=4, **kw).fit(
        prompts)
    before = _good_probability(base.policy_, base.tokenizer_, PROMPTS)
    after = _good_probability(tuned.policy_, tuned.tokenizer_, PROMPTS)
    assert before < 0.07 and after > 0.3, (before, after)
    rewards = [row["reward"] for row in tuned.history_]
    assert np.mean(rewards[-4:]) > np.mean(rewards[:4]) + 0.5, rewards
    assert base.score(PROMPTS) == 0.0 and tuned.score(PROMPTS) >= 2.0


def test_a_killed_fit_resumes_from_its_last_step(make, tmp_path, monkeypatch):
    from sktransformers.estimators import online_engine

    full = make("ppo", max_epochs=2).fit(PROMPTS)
    real, calls = online_engine.save_state, []

    def save_then_die(*args):
        real(*args)
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
    monkeypatch.setattr(online_engine, "save_state", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        make("ppo", max_epochs=2, checkpoint_dir=tmp_path).fit(PROMPTS)
    monkeypatch.setattr(online_engine, "save_state", real)
    resumed = make("ppo", max_epochs=2, checkpoint_dir=tmp_path).fit(PROMPTS)
    assert resumed.history_ == full.history_
    for k, v in full.trained_state_.items():
        torch.testing.assert_close(resumed.trained_state_[k], v)
    assert not (tmp_path / "progress.json").exists()  # a finished run removes its files


# ---------------------------------------------------------------- the contract

@pytest.mark.parametrize("name", TUNERS)
def test_contract(name, make):
    tuner = make(name)
    assert clone(tuner).get_params() == tuner.get_params()
    with pytest.raises(NotFittedError):
        tuner.predict(PROMPTS)
    first = tuner.fit(PROMPTS)
    again = make(name).fit(PROMPTS)
    # same random_state, same run (NaN, the KL where no reference is needed, equals itself)
    assert pd.DataFrame(first.history_).equals(pd.DataFrame(again.history_))
    state = dict(first.trained_state_)
    first.fit(PROMPTS[:2])  # refit resets
    assert len(first.history_) == 1
    for k, v in state.items():
        torch.testing.assert_close(again.trained_state_[k], v)
    unpickled = pickle.loads(pickle.dumps(again))
    assert list(unpickled.predict(PROMPTS)) == list(again.predict(PROMPTS))
    scores = cross_val_score(make(name), PROMPTS * 2, cv=2)
    assert scores.shape == (2,)
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from sktransformers.display import TrainingCurveDisplay

    display = TrainingCurveDisplay.from_estimator(again)  # the curve of its steps
    assert list(display.lines_["reward"].get_xdata()) == [1, 2]
    assert list(display.lines_["loss"].get_ydata()) == [r["loss"] for r in again.history_]


@pytest.mark.parametrize("name", ["ppo", "rloo"])
def test_gradient_checkpointing_tunes_the_same_policy(name, make):
    plain = make(name).fit(PROMPTS)
    recomputed = make(name, gradient_checkpointing=True).fit(PROMPTS)
    for k, v in plain.trained_state_.items():
        torch.testing.assert_close(recomputed.trained_state_[k], v, rtol=1e-4, atol=1e-5)
    assert [r["loss"] for r in recomputed.history_] == pytest.approx(
        [r["loss"] for r in plain.history_], rel=1e-4, abs=1e-6)


def test_grid_search_over_beta_with_a_frozen_reward_model(make, tiny_bert, tmp_path):
    pairs = pd.DataFrame({"prompt": ["what is it"] * 12, "chosen": POS * 2,
                          "rejected": NEG * 2})
    rm = RewardModel(tiny_bert, max_epochs=3, lr=1e-2, batch_size=4, verbose=0,
                     random_state=0).fit(pairs)
    search = GridSearchCV(make("grpo", FrozenEstimator(rm)), {"beta": [0.0, 0.1]}, cv=2)
    search.fit(PROMPTS)
    assert search.best_params_["beta"] in (0.0, 0.1)
    tuner = search.best_estimator_
    loaded = load(tuner.save(tmp_path / "tuner"))  # the adapter, and the reward model inside
    assert list(loaded.predict(PROMPTS)) == list(tuner.predict(PROMPTS))
    assert loaded.score(PROMPTS) == pytest.approx(tuner.score(PROMPTS))


def test_ppo_saves_its_value_head(make, tmp_path, tiny_bert):
    pairs = pd.DataFrame({"prompt": ["what is it"] * 12, "chosen": POS * 2,
                          "rejected": NEG * 2})
    rm = RewardModel(tiny_bert, max_epochs=1, batch_size=4, verbose=0, random_state=0)
    tuner = make("ppo", FrozenEstimator(rm.fit(pairs))).fit(PROMPTS)
    loaded = load(tuner.save(tmp_path / "ppo"))
    torch.testing.assert_close(loaded.value_head_.weight, tuner.value_head_.weight)
    saved = sum(v.numel() for v in tuner.trained_state_.values())
    assert saved == tuner.n_trainable_params_ < tuner.n_total_params_ / 10


def test_bad_rewards_and_parameters_are_refused(make):
    with pytest.raises(ValueError, match="one finite number per response"):
        make("rloo", lambda p, r: [1.0]).fit(PROMPTS)
    with pytest.raises(ValueError, match="one finite number per response"):
        make("grpo", lambda p, r: [float("nan")] * len(r)).fit(PROMPTS)
    with pytest.raises(ValueError, match="reward_model"):
        make("ppo", None).fit(PROMPTS)
    with pytest.raises(ValueError, match="n_generations"):
        make("rloo", n_generations=1).fit(PROMPTS)


def test_strategies_are_the_shared_ones(make):
    tuner = make("rloo", adaptation=LoRA(r=2)).fit(PROMPTS)
    assert tuner.adaptation_ == LoRA(r=2, merge=False)
    lora = sum(v.numel() for k, v in tuner.trained_state_.items() if "lora_" in k)
    assert tuner.n_trainable_params_ == lora
    adapters = make("grpo", adaptation="adapter", beta=0.1).fit(PROMPTS)
    assert not hasattr(adapters.policy_, "disable_adapter")  # a frozen copy is the reference
    assert abs(adapters.history_[0]["kl"]) < 1e-5


def test_the_algorithms_say_when_the_engine_needs_a_reference_and_a_value_head():
    assert PPO().needs_value and not RLOO(k=2).needs_value and not GRPO(k=2).needs_value
    assert PPO(kl_coef=0.05).uses_reference and not PPO(kl_coef=0.0).uses_reference
    assert PPO(kl_coef=0.0, kl_target=1.0).uses_reference  # it may adapt away from 0
    assert RLOO(k=2, beta=0.05).uses_reference and not RLOO(k=2, beta=0.0).uses_reference
    assert GRPO(k=2, beta=0.1).uses_reference and not GRPO(k=2).uses_reference


def test_a_tuner_pickled_by_0_3_still_loads(make):
    """0.3's RLOOTuner (on TRL) kept the policy's own parameter names and the
    adaptation's name; its state restores into today's engine."""
    tuner = make("rloo").fit(PROMPTS)
    state = tuner.__getstate__()
    state["trained_state_"] = {k[len("model."):]: v for k, v in tuner.trained_state_.items()}
    state["adaptation_"] = "lora"
    old = RLOOTuner.__new__(RLOOTuner)
    old.__setstate__(state)
    assert old.adaptation_ == LoRA(merge=False)
    assert list(old.predict(PROMPTS)) == list(tuner.predict(PROMPTS))
