"""Preference tuning side by side: PPO, RLOO, GRPO and DPO, and our online step vs TRL's.

--part methods: on polite_pref, one RewardModel (fitted on the training pairs) judges;
                PPOTuner, RLOOTuner and GRPOTuner tune SmolLM2-135M-Instruct (LoRA r=8
                on q_proj/v_proj, lr 1e-4) against it on the same training prompts and
                the same number of sampled responses; DPOTuner tunes the same policy on
                the training pairs. For held-out prompts: mean reward of the greedy
                responses, win rate against the base policy's (among prompts where they
                differ), KL to the base policy (sampled responses' summed log-ratio),
                and wall time. Writes a reward-against-KL plot.
--part speed:   RLOOTuner / GRPOTuner against TRL's RLOOTrainer / GRPOTrainer on the
                same prompts, policy, LoRA, group size, batch, response length and lr:
                sampled responses per second (model loading included on both sides)
                and peak memory, alternating runs, each in a fresh process (its peak
                memory is its own). Both checkpoint activations (TRL's default) and
                train in fp32 (TRL's bf16 default turned off: ours has none on a CPU).
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np
import pandas as pd
from _harness import SHARED, TRL_BF16, alternate, isolated, parse_args, summarise, target, write

from sktransformers import DPOTuner, GRPOTuner, PPOTuner, RewardModel, RLOOTuner
from sktransformers.adaptation import LoRA

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
LORA = dict(r=8, target_modules=["q_proj", "v_proj"])
#: The reward model's rate on polite_pref (tests/test_slow_preferences.py: 0.95+ accuracy).
RM_LR = 2e-3


def data(split):
    return pd.read_csv(SHARED / "polite_pref" / f"{split}.csv")


def base_policy_outputs(prompts, max_new_tokens):
    from sktransformers.backbones.causal_lm import load_causal_lm
    from sktransformers.backbones.loading import load_tokenizer
    from sktransformers.backbones.packaged import default_lm_path
    from sktransformers.backbones.policy import generate

    path = default_lm_path()
    return generate(load_causal_lm(path), load_tokenizer(path), list(prompts),
                    max_new_tokens=max_new_tokens, do_sample=False, temperature=1.0,
                    top_p=1.0, batch_size=8, device="cpu", dtype=None)


def kl_to_base(est, prompts, max_new_tokens, seed=0):
    """Mean over prompts of log π(y|x) - log π_base(y|x) for y sampled from the tuned
    policy: a Monte Carlo estimate of KL(π || π_base) per response."""
    import torch

    from sktransformers.backbones.rollout import batch_inputs, response_logps, sample_responses

    policy, tok = est.policy_, est.tokenizer_
    torch.manual_seed(seed)
    prompt_tokens, responses, _ = sample_responses(
        policy, tok, list(prompts), 1, max_new_tokens=max_new_tokens, temperature=1.0,
        top_p=1.0, device="cpu", dtype=None, logps=False)
    inputs = batch_inputs(prompt_tokens, responses, tok.pad_token_id)
    n, mask = inputs["response_mask"].shape[1], inputs["response_mask"].float()
    with torch.no_grad():
        logp = response_logps(policy, inputs["input_ids"], inputs["attention_mask"], n)
        with policy.disable_adapter():
            ref = response_logps(policy, inputs["input_ids"], inputs["attention_mask"], n)
    return float(((logp - ref) * mask).sum(1).mean())


def judge(rm, prompts, responses):
    return rm.predict(pd.DataFrame({"prompt": list(prompts), "response": list(responses)}))


def methods(args):
    from sklearn.frozen import FrozenEstimator

    train, test = data("train"), data("test")
    prompts = train.prompt.drop_duplicates().sample(args.n_train, random_state=args.seed)
    held_out = test.prompt.head(16 if args.smoke else 48).tolist()
    start = time.perf_counter()
    rm = RewardModel(lr=RM_LR, random_state=0, verbose=0).fit(
        train.head(64) if args.smoke else train)
    print(f"reward model: {time.perf_counter() - start:.0f} s, held-out pairwise accuracy "
          f"{rm.score(test):.3f}", flush=True)
    reward = FrozenEstimator(rm)
    tokens = args.max_new_tokens
    base_out = base_policy_outputs(held_out, tokens)
    base_r = judge(rm, held_out, base_out)
    common = dict(adaptation=LoRA(**LORA), max_new_tokens=tokens, lr=args.lr,
                  random_state=args.seed, verbose=0)
    samples = args.n_train * args.epochs  # sampled responses per online method
    k = 4
    group_epochs = max(1, samples // (args.n_train * k))  # the same number of samples
    contenders = {
        "PPO": lambda: PPOTuner(reward, batch_size=8, max_epochs=args.epochs, **common),
        "RLOO": lambda: RLOOTuner(reward, n_generations=k, batch_size=8 // k,
                                  max_epochs=group_epochs, **common),
        "GRPO": lambda: GRPOTuner(reward, n_generations=k, batch_size=8 // k,
                                  max_epochs=group_epochs, **common),
        "DPO": lambda: DPOTuner(adaptation=LoRA(**LORA), max_new_tokens=tokens,
                                random_state=args.seed, verbose=0),
    }
    rows = []
    for name, make in contenders.items():
        if args.only and name not in args.only:
            continue
        est = make()
        start = time.perf_counter()
        if name == "DPO":
            pairs = train.sample(min(samples, len(train)), random_state=args.seed)
            est.fit(pairs)
            seen = f"{len(pairs)} pairs"
        else:
            est.fit(prompts)
            seen = f"{len(est.history_) * est.batch_size * est.n_generations} samples"
        seconds = time.perf_counter() - start
        print(f"{name}: fit in {seconds:.0f} s on {seen}", flush=True)
        out = est.predict(held_out)
        rewards = judge(rm, held_out, out)
        differ = np.asarray(out, dtype=object) != np.asarray(base_out, dtype=object)
        win = float(np.mean(rewards[differ] > base_r[differ])) if differ.any() else 0.0
        rows.append({"contender": name, "trained_on": seen, "fit_s": seconds,
                     "mean_reward": float(rewards.mean()), "base_reward": float(base_r.mean()),
                     "win_rate": win, "differing": int(differ.sum()),
                     "kl_to_base": kl_to_base(est, held_out, tokens)})
        print(rows[-1], flush=True)
        print("  e.g.", repr(held_out[0][:60]), "->", repr(str(out[0])[:120]), flush=True)
    table = pd.DataFrame(rows)
    checks = [f"{args.n_train} training prompts of polite_pref; {len(held_out)} held-out "
              f"test prompts; responses up to {tokens} tokens; LoRA r=8 (q_proj, v_proj), "
              f"lr {args.lr} for the online tuners (DPO: its default); the reward model "
              f"(RewardModel, lr {RM_LR}, all {len(train)} training pairs) judges; greedy "
              "responses are compared; win rate counts prompts where tuned and base differ."]
    if "PPO" in set(table.contender):
        ppo = table.set_index("contender").loc["PPO"]
        checks.append(target("PPO win rate against the base policy", ppo.win_rate, 0.70))
    name = "online_methods" + ("_" + "_".join(args.only).lower() if args.only else "")
    write(name, table, checks, args, plot=_reward_kl_plot,
          runs="One run each (seed 0).")


def _reward_kl_plot(ax, table):
    ax.scatter(table.kl_to_base, table.mean_reward, s=60)
    for i, row in enumerate(table.itertuples()):  # alternate sides: close points stay legible
        ax.annotate(f"{row.contender} ({row.fit_s:.0f} s)", (row.kl_to_base, row.mean_reward),
                    textcoords="offset points", xytext=(6, 6 if i % 2 == 0 else -12),
                    fontsize=8)
    ax.axhline(table.base_reward.iloc[0], color="grey", linestyle=":", lw=1)
    ax.annotate("base policy", (ax.get_xlim()[1], table.base_reward.iloc[0]), fontsize=8,
                color="grey", xytext=(-4, 3), textcoords="offset points", ha="right")
    ax.set_xlabel("KL to the base policy (nats per response)")
    ax.set_ylabel("mean reward, held-out prompts")


def trl_online(algorithm, prompts, args):
    """TRL's trainer with the settings our estimator uses; returns (seconds, samples)."""
    import torch
    import trl
    from datasets import Dataset
    from peft import LoraConfig

    from sktransformers.backbones.causal_lm import load_policy
    from sktransformers.backbones.loading import load_tokenizer
    from sktransformers.backbones.packaged import default_lm_path

    start = time.perf_counter()
    path = default_lm_path()
    tok = load_tokenizer(path)
    data_ = Dataset.from_dict({"prompt": [[{"role": "user", "content": p}] for p in prompts]})
    config_class, trainer_class = ((trl.RLOOConfig, trl.RLOOTrainer) if algorithm == "rloo"
                                   else (trl.GRPOConfig, trl.GRPOTrainer))
    with tempfile.TemporaryDirectory() as out:
        config = config_class(
            output_dir=out, per_device_train_batch_size=args.k * args.prompts_per_step,
            num_generations=args.k, max_completion_length=args.max_new_tokens,
            learning_rate=args.lr, beta=0.05 if algorithm == "rloo" else 0.0,
            num_train_epochs=1, report_to="none", save_strategy="no", seed=args.seed,
            disable_tqdm=True, use_cpu=not torch.cuda.is_available(), logging_steps=1000,
            bf16=TRL_BF16)
        trainer = trainer_class(
            model=load_policy(path), reward_funcs=_length_reward, args=config,
            train_dataset=data_, processing_class=tok,
            peft_config=LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                   target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
        trainer.train()
    return time.perf_counter() - start


def _length_reward(prompts=None, completions=None, **kwargs):
    """A cheap reward (no model), so that the timing is the tuners' own."""
    def text(c):
        return c[-1]["content"] if isinstance(c, list) else c
    return [-abs(len(text(c).split()) - 12) / 12 for c in completions]


def run_ours(algorithm, prompts, args):
    cls = RLOOTuner if algorithm == "rloo" else GRPOTuner
    start = time.perf_counter()
    cls(lambda p, r: _length_reward(completions=r), adaptation=LoRA(**LORA),
        n_generations=args.k, batch_size=args.prompts_per_step,
        max_new_tokens=args.max_new_tokens, lr=args.lr,
        beta=0.05 if algorithm == "rloo" else 0.0, random_state=args.seed,
        verbose=0, gradient_checkpointing=True).fit(prompts)  # as TRL does by default
    return {"samples_per_s": len(prompts) * args.k / (time.perf_counter() - start)}


def run_trl(algorithm, prompts, args):
    return {"samples_per_s": len(prompts) * args.k / trl_online(algorithm, prompts, args)}


def speed(args):
    prompts = data("train").prompt.drop_duplicates().sample(
        args.n_train, random_state=args.seed).tolist()
    rows = []
    for algorithm, cls in (("rloo", RLOOTuner), ("grpo", GRPOTuner)):
        if args.only and algorithm.upper() not in args.only:
            continue
        contenders = {"ours": run_ours, "theirs": run_trl}
        runs = alternate({name: lambda fn=fn, a=algorithm: isolated(fn, a, prompts, args)
                          for name, fn in contenders.items()}, args.repeats)
        label = f"TRL {cls.__name__.replace('Tuner', 'Trainer')}"
        table = summarise({cls.__name__: runs["ours"], label: runs["theirs"]})
        table.insert(1, "algorithm", algorithm.upper())
        rows.append(table)
    table = pd.concat(rows, ignore_index=True)
    checks = [f"{len(prompts)} polite_pref prompts, {args.k} responses each, "
              f"{args.prompts_per_step} prompts per step, up to {args.max_new_tokens} "
              f"tokens, LoRA r=8 (q_proj, v_proj), lr {args.lr}; a word-count reward (no "
              "model) so that only the tuners are timed; model loading included."]
    for i in range(0, len(table), 2):
        ratio = table.samples_per_s[i] / table.samples_per_s[i + 1]
        checks.append(target(f"{table.contender[i]} samples/s vs {table.contender[i + 1]}",
                             ratio, 1.0))
        mem = table.peak_rss_mb[i] / max(table.peak_rss_mb[i + 1], 1e-9)
        checks.append(target(f"{table.contender[i]} peak memory vs "
                             f"{table.contender[i + 1]}", mem, 1.0, higher_is_better=False))
    write("online_speed", table, checks, args)


def main():
    def extra(p):
        p.add_argument("--part", choices=["methods", "speed"], required=True)
        p.add_argument("--only", nargs="*", help="contenders to run (PPO RLOO GRPO DPO)")
        p.add_argument("--lr", type=float, default=1e-4)
        p.add_argument("--max-new-tokens", type=int, default=32)
        p.add_argument("--k", type=int, default=4)
        p.add_argument("--prompts-per-step", type=int, default=2)
    args = parse_args(__doc__, extra=extra, n_train=64, repeats=2)
    if args.epochs is None:
        args.epochs = 4 if args.part == "methods" else 1
    if args.smoke:
        args.n_train, args.max_new_tokens, args.epochs = 8, 8, 1
    (methods if args.part == "methods" else speed)(args)


if __name__ == "__main__":
    main()
