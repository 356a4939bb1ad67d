"""The linear head's learning rate at 8 texts per class and at 1,000 texts.

``HeadFinetuneClassifier`` at its defaults with ``lr`` 1e-3 (the default until
0.3.0) and 1e-4 (the default since for a head that starts as the probe), beside
frozen features + logistic regression (the probe itself): at 8 texts per class of
SMS spam, SST-2 and TREC (5 draws, 500 test texts; differences paired by draw) and at
1,000 training texts of SST-2, TREC and the tweets (5 seeded samples).

    python benchmarks/bench_head_lr.py            # about 6 minutes on 2 CPU cores
    python benchmarks/bench_head_lr.py --smoke    # seconds (CI)
"""

from __future__ import annotations

from _small_data import cases, parse, report, run

from sktransformers import HeadFinetuneClassifier

RATES = (1e-3, 1e-4)


def main():
    args = parse(__doc__.splitlines()[0], full_draws=5)
    budget = {"max_epochs": 1} if args.smoke else {}
    contenders = {f"head, lr {lr:g}": (lambda seed, lr=lr: HeadFinetuneClassifier(
        lr=lr, random_state=seed, verbose=0, **budget)) for lr in RATES}
    report("head_lr", run(contenders, cases(["sms_spam", "sst2", "trec"], args)), args)


if __name__ == "__main__":
    main()
