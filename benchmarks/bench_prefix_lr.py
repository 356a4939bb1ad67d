"""Prefix tuning's learning rate at 8 texts per class and at 1,000 texts.

``PrefixTunedClassifier`` at its defaults with ``lr`` 5e-3 (the default until
0.3.0), 2e-3 (the default since) and 1e-3, beside frozen features + logistic
regression: at 8 sentences/questions per class of SST-2 and TREC (5 draws, 500 test
texts; differences paired by draw) and at 1,000 training texts of SST-2, TREC and
the tweets (seed 0; the defaults benchmark's data).

    python benchmarks/bench_prefix_lr.py            # about 9 minutes on 2 CPU cores
    python benchmarks/bench_prefix_lr.py --smoke    # seconds (CI)
"""

from __future__ import annotations

import warnings

from _small_data import cases, parse, report, run

from sktransformers import PrefixTunedClassifier

warnings.filterwarnings("ignore")

RATES = (5e-3, 2e-3, 1e-3)


def main():
    args = parse(__doc__.splitlines()[0])
    budget = {"max_epochs": 1} if args.smoke else {}
    contenders = {f"prefix, lr {lr:g}": (lambda seed, lr=lr: PrefixTunedClassifier(
        lr=lr, random_state=seed, verbose=0, **budget)) for lr in RATES}
    report("prefix_lr", run(contenders, cases(["sst2", "trec"], args)), args)


if __name__ == "__main__":
    main()
