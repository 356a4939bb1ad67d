"""Text pairs at small data: every method's defaults against frozen pair features.

The packaged all-MiniLM-L6-v2 on seeded samples of the shared STS-B (similarity
regression, 1,000 training pairs, 400 test pairs of the GLUE dev split) and RTE
(entailment, 600 training pairs, the 277 GLUE dev pairs). Every trainable method at
its defaults (``pair_encoding="auto"``: siamese on this sentence encoder), and with
``--encodings auto cross`` also cross-encoded as before 0.6, against frozen
``[u, v, |u - v|, u * v]`` features + ridge / logistic regression (the established
way: sentence-transformers' features and a linear model). Target: every method at or
above the frozen pair features on both sets.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from _harness import SHARED, parse_args, write
from scipy.stats import spearmanr

from sktransformers.compare import ESTIMATORS

#: method -> (classifier, regressor)
METHODS = {"frozen features" if name == "feature" else name: pair
           for name, pair in ESTIMATORS.items()}
#: set -> (training pairs, test pairs, regression)
SETS = {"stsb": (1000, 400, True), "rte": (600, 277, False)}
COLUMNS = ["text_a", "text_b"]


def _extra(parser):
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--encodings", nargs="+", default=["auto"],
                        choices=["auto", "bi", "cross"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--train-pairs", type=int, default=None,
                        help="training pairs of every set (default: 1,000 STS-B, 600 RTE); "
                             "the result is then pairs_<N>, beside pairs_small")


def _sample(name, n_train, n_test, seed):
    folder = SHARED / name
    train = pd.read_csv(folder / "train.csv").sample(n_train, random_state=seed)
    test = pd.read_csv(folder / "test.csv")
    return train, test.sample(min(n_test, len(test)), random_state=seed)


def _fit_and_score(method, encoding, regression, train, test, seed, device):
    cls = METHODS[method][int(regression)]
    params = {"device": device}
    if method != "frozen features":
        params.update(pair_encoding=encoding, random_state=seed, verbose=0)
    start = time.perf_counter()
    est = cls(**params).fit(train[COLUMNS], train.label)
    seconds = time.perf_counter() - start
    pred = est.predict(test[COLUMNS])
    if regression:
        score = 1 - np.sum((test.label - pred) ** 2) / np.sum((test.label - test.label.mean()) ** 2)
        extra = {"spearman": float(spearmanr(test.label, pred).statistic)}
    else:
        score, extra = float(np.mean(pred == test.label)), {}
    return {"score": float(score), **extra, "fit_s": seconds,
            "pair_encoding": getattr(est, "pair_encoding_", "bi")}


def main():
    args = parse_args(__doc__, _extra, repeats=1)
    runs = []
    for name in args.sets:
        n_train, n_test, regression = SETS[name]
        n_train = args.train_pairs or n_train
        if args.smoke:
            n_train, n_test = 32, 32
        for seed in range(args.seed, args.seed + args.repeats):
            train, test = _sample(name, n_train, n_test, seed)
            for method in args.methods:
                encodings = ["bi"] if method == "frozen features" else args.encodings
                for encoding in encodings:
                    result = _fit_and_score(method, encoding, regression, train, test, seed,
                                            args.device)
                    runs.append({"set": name, "metric": "R2" if regression else "accuracy",
                                 "method": method, "asked": encoding, "seed": seed, **result})
                    print(runs[-1], flush=True)
    frame = pd.DataFrame(runs)
    table = frame.groupby(["set", "metric", "method", "asked", "pair_encoding"], sort=False,
                          dropna=False).agg(
        score=("score", "mean"), spearman=("spearman", "mean"), fit_s=("fit_s", "median"),
        seeds=("seed", "count")).reset_index()
    table.insert(0, "contender", table.set + ": " + table.method + " (" + table.pair_encoding
                 + ")")
    name = f"pairs_{args.train_pairs}" if args.train_pairs else "pairs_small"
    write(name, table, _checks(table, args), args, plot=_plot,
          runs=f"Seeds {args.seed}..{args.seed + args.repeats - 1} of each sample; "
               "scores are means over seeds, fit time the median.")


def _checks(table, args):
    sizes = "; ".join(f"{k}: {args.train_pairs or SETS[k][0]} training / {SETS[k][1]} test pairs"
                      for k in args.sets)
    checks = [f"{sizes}; defaults of every estimator except pair_encoding (the 'asked' column)."]
    for name in args.sets:
        rows = table[table.set == name]
        frozen = rows[rows.method == "frozen features"].score
        if frozen.empty:
            continue
        base = float(frozen.iloc[0])
        for row in rows[rows.method != "frozen features"].itertuples():
            checks.append(f"{name} {row.method} ({row.asked} -> {row.pair_encoding}): "
                          f"{row.metric} {row.score:.3f} vs frozen pair features {base:.3f} "
                          f"(difference {row.score - base:+.3f}) -> "
                          f"{'MET' if row.score >= base else 'NOT MET'}")
    return checks


def _plot(ax, table):
    colours = {"bi": "tab:blue", "cross": "tab:orange"}
    ax.barh(table.contender, table.score,
            color=[colours.get(e, "tab:gray") if m != "frozen features" else "tab:gray"
                   for e, m in zip(table.pair_encoding, table.method, strict=True)])
    ax.invert_yaxis()
    ax.set_xlabel("STS-B R2 / RTE accuracy (grey: frozen pair features)")


_plot.figsize = (7, 5)

if __name__ == "__main__":
    main()
