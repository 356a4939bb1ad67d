"""Dropout masks: our FastDropout against torch's nn.Dropout, same fits otherwise.

Full fine-tuning and LoRA at their defaults (2 epochs, as in ``compare``) on a seeded
SST-2 sample, scored on the GLUE dev set, once with the training core's FastDropout
and once with ``nn.Dropout``'s own masks, per seed, in alternation. Reports accuracy
(mean and sd over seeds) and fit seconds (median). Target: accuracy within one
standard deviation; FastDropout not slower.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from _harness import bar_plot, parse_args, sst2, write

import sktransformers.core.training as training
from sktransformers import FullFinetuneClassifier, LoRAClassifier

METHODS = {"full": FullFinetuneClassifier, "lora": LoRAClassifier}
MASKS = {"FastDropout": training.use_fast_dropout, "nn.Dropout": lambda module: 0}


def main():
    args = parse_args(__doc__, n_train=1000, epochs=2, repeats=3)
    train, test = sst2(64 if args.smoke else args.n_train, args.seed,
                       64 if args.smoke else None)
    runs = []
    for name, estimator in METHODS.items():
        for seed in range(args.repeats):
            for masks, convert in MASKS.items():
                training.use_fast_dropout = convert
                clf = estimator(max_epochs=args.epochs, random_state=seed, verbose=0,
                                device=args.device)
                start = time.perf_counter()
                clf.fit(train.text.tolist(), train.label)
                seconds = time.perf_counter() - start
                accuracy = float(np.mean(clf.predict(test.text.tolist()) == test.label))
                runs.append({"method": name, "masks": masks, "seed": seed,
                             "accuracy": accuracy, "fit_s": seconds})
    training.use_fast_dropout = MASKS["FastDropout"]
    frame = pd.DataFrame(runs)
    table = frame.groupby(["method", "masks"], sort=False).agg(
        accuracy_mean=("accuracy", "mean"), accuracy_sd=("accuracy", "std"),
        fit_s_median=("fit_s", "median"), runs=("seed", "count")).reset_index()
    table.insert(0, "contender", table.method + ", " + table.masks)
    checks = [f"{args.n_train} SST-2 training texts, {args.epochs} epochs, defaults; accuracy "
              "on the 872-sentence GLUE dev set; fit_s is the whole fit() call."]
    for name in METHODS:
        rows = table[table.method == name].set_index("masks")
        fast, plain = rows.loc["FastDropout"], rows.loc["nn.Dropout"]
        gap = fast.accuracy_mean - plain.accuracy_mean
        sd = max(fast.accuracy_sd, plain.accuracy_sd)
        checks.append(f"{name}: accuracy {fast.accuracy_mean:.3f} vs {plain.accuracy_mean:.3f} "
                      f"(gap {gap:+.3f}, sd {sd:.3f}) -> "
                      f"{'MET' if gap >= -sd else 'NOT MET'}; fit time "
                      f"{plain.fit_s_median / fast.fit_s_median:.2f}x")
    write("dropout_masks", table, checks, args,
          plot=bar_plot("accuracy_mean", "mean accuracy on the SST-2 dev set"))


if __name__ == "__main__":
    main()
