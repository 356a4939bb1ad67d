"""Where one full fine-tuning step's time goes: matrix products against everything else.

The training benchmark's targets (>= 1.2x the tuned Trainer, >= 65% of the host's
matrix-product peak) are bounded by what is not a matrix product. This profiles
full fine-tuning steps of the packaged MiniLM on SST-2 batches of 32 texts of
similar length (the tuned Trainer's length grouping), as the tuned Trainer runs them
(SDPA attention, ``nn.Dropout``, fused AdamW, gradient clipping) and with our training
core's dropout masks (``use_fast_dropout``), and splits each step's operator time
into matrix products (``mm``, ``addmm``, ``bmm``), dropout masks, the optimizer and
the rest. If everything but the matrix products cost nothing, a step would be
``1 / matmul share`` times faster: the ceiling on any speed-up over that step.
"""

from __future__ import annotations

import random
import time

import numpy as np
import pandas as pd
import torch
from _harness import backbone, parse_args, sst2, write
from torch.profiler import ProfilerActivity, profile
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from sktransformers.core.dropout import use_fast_dropout

#: operator -> category (others: "rest")
CATEGORIES = {"aten::mm": "matmul", "aten::addmm": "matmul", "aten::bmm": "matmul",
              "aten::bernoulli_": "dropout masks", "aten::random_": "dropout masks",
              "aten::_fused_adamw_": "optimizer"}


def batches(n_train: int, seed: int, max_length: int, batch_size: int):
    """Length-grouped, shuffled batches of SST-2 training texts."""
    train, _ = sst2(n_train, seed)
    tokenizer = AutoTokenizer.from_pretrained(backbone())
    texts = sorted(train.text.tolist(), key=len)
    out = [tokenizer(texts[i:i + batch_size], padding=True, truncation=True,
                     max_length=max_length, return_tensors="pt")
           for i in range(0, len(texts), batch_size)]
    random.Random(seed).shuffle(out)
    return out


def profile_steps(fast_masks: bool, data, n_steps: int, seed: int) -> dict:
    """Median step time and each category's share of operator time over ``n_steps``."""
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        backbone(), num_labels=2, attn_implementation="sdpa").train()
    if fast_masks:
        use_fast_dropout(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, fused=True)

    def step(batch):
        labels = torch.zeros(len(batch["input_ids"]), dtype=torch.long)
        model(**batch, labels=labels).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for batch in data[:3]:  # warm-up
        step(batch)
    times = []
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in data[3:3 + n_steps]:
            start = time.perf_counter()
            step(batch)
            times.append(time.perf_counter() - start)
    shares = {}
    for event in prof.key_averages():
        category = CATEGORIES.get(event.key, "rest")
        shares[category] = shares.get(category, 0.0) + event.self_cpu_time_total
    total = sum(shares.values())
    return {"step_ms": 1000 * float(np.median(times)),
            **{f"{c}_share": shares.get(c, 0.0) / total
               for c in ("matmul", "dropout masks", "optimizer", "rest")}}


def main():
    args = parse_args(__doc__.splitlines()[0], extra=lambda p: p.add_argument(
        "--steps", type=int, default=30))
    if args.smoke:
        args.steps, args.n_train = 2, 256
    data = batches(args.n_train, args.seed, args.max_length, args.batch_size)
    rows = []
    for name, fast in (("tuned Trainer's step (nn.Dropout)", False),
                       ("our training core's masks (FastDropout)", True)):
        rows.append({"contender": name, **profile_steps(fast, data, args.steps, args.seed)})
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows).round(3)
    checks = [f"{args.steps} profiled steps after 3 warm-up steps; batches of {args.batch_size} "
              f"SST-2 texts grouped by length, max_length {args.max_length}; operator time "
              "(self CPU) split by category; step times are under the profiler, which adds "
              "a few microseconds to each of the step's thousands of operators"]
    for _, row in table.iterrows():
        checks.append(f"{row.contender}: matrix products {row.matmul_share:.0%} of operator "
                      f"time; with nothing else, the step would be {1 / row.matmul_share:.2f}x "
                      "faster")
    rest = 1 - table.matmul_share.iloc[0]
    checks.append(f"to run 1.2x faster than the tuned Trainer's step with the same matrix "
                  f"products, a step would have to shed {(1 - 1 / 1.2) / rest:.0%} of the "
                  f"{rest:.0%} that is not one")
    write("training_step_profile", table, checks, args, plot=_plot,
          runs=f"Median step time over {args.steps} steps; one process run.")


def _plot(ax, table):
    left = np.zeros(len(table))
    for column in ("matmul_share", "dropout masks_share", "optimizer_share", "rest_share"):
        ax.barh(table.contender, table[column], left=left,
                label=column.removesuffix("_share"))
        left += table[column].to_numpy()
    ax.set_xlabel("share of the step's operator time")
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.25))


_plot.figsize = (7, 3.4)


if __name__ == "__main__":
    main()
