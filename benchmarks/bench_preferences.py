"""Learning from preferences: our estimators vs TRL's trainers, side by side.

--method reward: RewardModel (LoRA r=8 on query/value) vs TRL's RewardTrainer with
                 the same backbone, LoRA, data, batch size, epochs, lr and
                 max_length, on HH-RLHF harmlessness pairs (target: >= 1.2x pairs/s;
                 pairwise accuracy on held-out pairs reported for both).
--method dpo:    DPOTuner (LoRA r=8 on q_proj/v_proj, sigmoid loss, beta 0.1) vs TRL's
                 DPOTrainer with the same settings on polite_pref, SmolLM2-135M-Instruct
                 (target: >= 1.0x pairs/s; held-out implicit-reward accuracy for both,
                 measured the same way).

Both sides are timed from the model load to the end of training; prediction is
outside the timing. Each run is a fresh process (``isolated``): its peak memory is
its own, not what the run before it left. TRL's trainers are built with ``report_to="none"``, no
checkpoints and telemetry off, and with dropout as the model defines it (TRL's
default ``disable_dropout=True`` would skip MiniLM's dropout, which ours keeps).
Otherwise TRL runs with its defaults, which include gradient checkpointing (less
memory, more compute); ours checkpoints too (``gradient_checkpointing=True``), and both
train in fp32 on a CPU (TRL's bf16 default is turned off: ours has no bf16 there).
"""

from __future__ import annotations

import copy
import os
import tempfile
import time

import pandas as pd
from _harness import (
    SHARED,
    TRL_BF16,
    alternate,
    backbone,
    bar_plot,
    isolated,
    parse_args,
    summarise,
    target,
    write,
)

from sktransformers import DPOTuner, RewardModel
from sktransformers.adaptation import LoRA
from sktransformers.backbones.causal_lm import load_policy
from sktransformers.backbones.loading import load_tokenizer
from sktransformers.backbones.packaged import default_lm_path

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
LR = {"reward": 5e-4, "dpo": 5e-4}
DATA = {"reward": "hh_rlhf_harmless", "dpo": "polite_pref"}


def pairs(name, n_train, n_test, seed, max_length):
    """Pairs whose prompt + responses fit ``max_length`` tokens of the reward backbone.

    TRL's RewardTrainer drops longer pairs while we truncate them; keeping only pairs
    that fit means both sides train on exactly the same pairs.
    """
    folder = SHARED / name
    tok = load_tokenizer(backbone())

    def fits(frame):
        def n_tokens(column):
            return (frame.prompt + frame[column]).map(lambda t: len(tok(t)["input_ids"]))

        return frame[n_tokens("chosen").combine(n_tokens("rejected"), max) < max_length - 2]

    train = fits(pd.read_csv(folder / "train.csv")).sample(n_train, random_state=seed)
    return train.reset_index(drop=True), fits(pd.read_csv(folder / "test.csv")).head(n_test)


def trl_reward(train, test, args):
    """TRL RewardTrainer + PEFT LoRA; returns (seconds, pairwise accuracy, trainable)."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    start = time.perf_counter()
    tok = copy.deepcopy(load_tokenizer(backbone()))
    tok.eos_token = tok.sep_token  # TRL appends an EOS text to each response; BERT has none
    model = AutoModelForSequenceClassification.from_pretrained(backbone(), num_labels=1)
    with tempfile.TemporaryDirectory() as out:
        config = RewardConfig(output_dir=out, per_device_train_batch_size=args.batch_size,
                              num_train_epochs=args.epochs, learning_rate=LR["reward"],
                              max_length=args.max_length, report_to="none",
                              save_strategy="no", seed=args.seed, disable_tqdm=True,
                              use_cpu=not torch.cuda.is_available(), bf16=TRL_BF16,
                              # TRL switches the model's dropout off by default; ours keeps
                              # the backbone's (0.1 for MiniLM): compare like with like
                              disable_dropout=False)
        trainer = RewardTrainer(model=model, args=config, processing_class=tok,
                                train_dataset=Dataset.from_pandas(train),
                                peft_config=LoraConfig(r=8, lora_alpha=16, lora_dropout=0.1,
                                                       target_modules=["query", "value"],
                                                       task_type="SEQ_CLS"))
        trainer.train()
    seconds = time.perf_counter() - start
    model = trainer.model.eval()

    def rewards(column):
        texts = (test.prompt + test[column]).tolist()  # TRL's own joining of the two
        out = []
        with torch.no_grad():
            for i in range(0, len(texts), 32):
                batch = tok(texts[i:i + 32], truncation=True, max_length=args.max_length,
                            padding=True, return_tensors="pt").to(model.device)
                out += model(**batch).logits[:, 0].tolist()
        return torch.tensor(out)

    accuracy = float((rewards("chosen") > rewards("rejected")).float().mean())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return seconds, accuracy, trainable


def trl_dpo(train, test, args):
    """TRL DPOTrainer + PEFT LoRA on SmolLM2; accuracy measured as DPOTuner.score does."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer

    start = time.perf_counter()
    path = default_lm_path()
    tok = load_tokenizer(path)
    data = Dataset.from_dict({
        "prompt": [[{"role": "user", "content": p}] for p in train.prompt],
        "chosen": [[{"role": "assistant", "content": c}] for c in train.chosen],
        "rejected": [[{"role": "assistant", "content": r}] for r in train.rejected]})
    with tempfile.TemporaryDirectory() as out:
        config = DPOConfig(output_dir=out, per_device_train_batch_size=args.batch_size,
                           num_train_epochs=args.epochs, learning_rate=LR["dpo"], beta=0.1,
                           max_length=args.max_length, report_to="none", save_strategy="no",
                           seed=args.seed, disable_tqdm=True,
                           use_cpu=not torch.cuda.is_available(), bf16=TRL_BF16)
        trainer = DPOTrainer(model=load_policy(path), args=config, processing_class=tok,
                             train_dataset=data,
                             peft_config=LoraConfig(r=8, lora_alpha=16, lora_dropout=0.1,
                                                    target_modules=["q_proj", "v_proj"],
                                                    task_type="CAUSAL_LM"))
        trainer.train()
    seconds = time.perf_counter() - start
    judge = DPOTuner(batch_size=args.batch_size, max_length=args.max_length, verbose=0)
    vars(judge).update(policy_=trainer.model.eval(), tokenizer_=tok, model_path_=path)
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    return seconds, judge.score(test), trainable


def main():
    args = parse_args(__doc__, extra=lambda p: p.add_argument(
        "--method", choices=sorted(DATA), required=True), n_train=256, repeats=3)
    method = args.method
    if args.epochs is None:
        args.epochs = 1
    if args.smoke:
        args.n_train = 16
    if method == "dpo":
        args.batch_size, args.max_length = min(args.batch_size, 8), max(args.max_length, 256)
    else:
        args.batch_size, args.max_length = min(args.batch_size, 16), max(args.max_length, 128)
    n_test = 16 if args.smoke else 200
    train, test = pairs(DATA[method], args.n_train, n_test, args.seed, args.max_length)
    n_seen = len(train) * args.epochs
    contenders = {"sktransformers": run_ours, "TRL": run_theirs}
    runs = alternate({name: lambda fn=fn: isolated(fn, method, train, test, n_seen, args)
                      for name, fn in contenders.items()}, args.repeats)
    label = "TRL RewardTrainer" if method == "reward" else "TRL DPOTrainer"
    table = summarise({"sktransformers": runs["sktransformers"], label: runs["TRL"]})
    ratio = table.pairs_per_s[0] / table.pairs_per_s[1]
    checks = [f"{len(train)} {DATA[method]} training pairs, {args.epochs} epoch(s), batch "
              f"{args.batch_size} pairs, max_length {args.max_length}, lr {LR[method]}, LoRA "
              f"r=8; pairwise accuracy on {len(test)} test pairs ("
              + ("reward ranking" if method == "reward" else "implicit reward β·log π/π_ref")
              + "). Seconds include model loading and tokenisation on both sides. Only pairs "
              "that fit max_length are used (TRL's RewardTrainer drops longer pairs; we "
              "truncate them, keeping the prompt's end).",
              target(f"speed vs {label}", ratio, 1.2 if method == "reward" else 1.0),
              target(f"end to end (load, train, score) vs {label}",
                     table.seconds[1] / table.seconds[0], 1.0),
              target("peak memory of a process that runs only this contender, ours / TRL",
                     table.peak_rss_mb[0] / table.peak_rss_mb[1], 1.0,
                     higher_is_better=False)]
    write(f"preferences_{method}", table, checks, args,
          plot=bar_plot("pairs_per_s", "training pairs / s (median)"))


def run_ours(method, train, test, n_seen, args):
    start = time.perf_counter()
    if method == "reward":
        est = RewardModel(backbone(), adaptation=LoRA(r=8, target_modules=["query", "value"]),
                          batch_size=args.batch_size, max_epochs=args.epochs,
                          lr=LR["reward"], max_length=args.max_length,
                          random_state=args.seed, device=args.device, verbose=0,
                          gradient_checkpointing=True)
    else:
        est = DPOTuner(adaptation=LoRA(r=8, target_modules=["q_proj", "v_proj"]),
                       batch_size=args.batch_size, max_epochs=args.epochs, lr=LR["dpo"],
                       max_length=args.max_length, random_state=args.seed,
                       device=args.device, verbose=0, gradient_checkpointing=True)
    est.fit(train)
    seconds = time.perf_counter() - start
    return _metrics(seconds, est.score(test), n_seen, est.n_trainable_params_)


def run_theirs(method, train, test, n_seen, args):
    seconds, accuracy, trainable = (trl_reward if method == "reward" else trl_dpo)(
        train, test, args)
    return _metrics(seconds, accuracy, n_seen, trainable)


def _metrics(seconds, accuracy, n_seen, trainable):
    return {"train_s": seconds, "pairs_per_s": n_seen / seconds,
            "pairwise_accuracy": accuracy, "trainable_params": trainable}


if __name__ == "__main__":
    main()
