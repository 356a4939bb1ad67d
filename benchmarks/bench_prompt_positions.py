"""Soft prompts with the text at its pre-trained positions against PEFT's forward.

PEFT's prompt tuning numbers the virtual tokens 0..n-1 and moves the text right by
n; ours keeps the text's own positions (``PromptTuning(keep_text_positions=True)``,
the default). Both train with ``PromptTunedClassifier``'s defaults on the same
texts, beside frozen features + logistic regression: at 8 SST-2 sentences per class
(5 draws, 500 test sentences; the differences are paired by draw) and at 1,000
training texts of SST-2, TREC and the tweets (seed 0; the defaults benchmark's data).

    python benchmarks/bench_prompt_positions.py            # about 8 minutes on 2 CPU cores
    python benchmarks/bench_prompt_positions.py --smoke    # seconds (CI)
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
from _harness import SHARED, parse_args, write
from bench_defaults import datasets

from sktransformers import AdaptedClassifier, PromptTunedClassifier, TransformerFeatureClassifier
from sktransformers.adaptation import PromptTuning
from sktransformers.compare import draw_shots

warnings.filterwarnings("ignore")

CONTENDERS = ("frozen features", "soft prompts, PEFT's positions", "soft prompts, text positions")


def make(contender: str, seed: int, smoke: bool):
    """A fresh estimator: frozen features, or soft prompts at their defaults."""
    if contender == "frozen features":
        return TransformerFeatureClassifier(verbose=0)
    params = PromptTunedClassifier(random_state=seed, verbose=0).get_params()
    strategy = PromptTuning(params.pop("n_virtual_tokens"), params.pop("prompt_init_text"),
                            keep_text_positions=contender.endswith("text positions"))
    return AdaptedClassifier(adaptation=strategy, **{**params, **(
        {"max_epochs": 1} if smoke else {})})


def few_shot_sets(shots: int, seeds: int, smoke: bool):
    """(setting, seed, X_train, y_train, X_test, y_test): SST-2 draws of ``shots`` per class."""
    train = pd.read_csv(SHARED / "sst2" / "train.csv")
    test = pd.read_csv(SHARED / "sst2" / "test.csv").sample(40 if smoke else 500,
                                                            random_state=0)
    for seed in range(seeds):
        rows = draw_shots(train.label, shots, seed)
        yield (f"K = {shots}", "sst2", seed, train.text.to_numpy()[rows],
               train.label.to_numpy()[rows], test.text.to_numpy(), test.label.to_numpy())


def full_sets(n_train: int, smoke: bool):
    for data, X_train, y_train, X_test, y_test in datasets(n_train, smoke):
        yield f"{n_train} texts", data, 0, X_train, y_train, X_test, y_test


def main():
    args = parse_args(__doc__.splitlines()[0], n_train=1000, extra=lambda p: (
        p.add_argument("--shots", type=int, default=8),
        p.add_argument("--seeds", type=int, default=5)))
    if args.smoke:
        args.shots, args.seeds, args.n_train = 2, 2, 40
    rows = []
    for setting, data, seed, X_train, y_train, X_test, y_test in (
            *few_shot_sets(args.shots, args.seeds, args.smoke),
            *full_sets(args.n_train, args.smoke)):
        for contender in CONTENDERS:
            start = time.perf_counter()
            clf = make(contender, seed, args.smoke).fit(X_train, y_train)
            fit_s = time.perf_counter() - start
            rows.append({"setting": setting, "dataset": data, "seed": seed,
                         "contender": contender, "fit_s": fit_s,
                         "accuracy": float(np.mean(clf.predict(X_test) == y_test))})
            print(rows[-1], flush=True)
    runs = pd.DataFrame(rows)
    table = (runs.groupby(["setting", "dataset", "contender"], sort=False)
             .agg(accuracy=("accuracy", "mean"), accuracy_sd=("accuracy", "std"),
                  seeds=("seed", "size"), fit_s=("fit_s", "median")).reset_index())
    write("prompt_positions", table, _checks(runs), args, plot=_plot,
          runs=f"Mean and sd over {args.seeds} draws at K = {args.shots} (paired: the "
               "same draw for every contender), one run (seed 0) at "
               f"{args.n_train} texts; fit_s is the median, indicative only.")


def _checks(runs: pd.DataFrame) -> list[str]:
    lines = []
    for (setting, data), part in runs.groupby(["setting", "dataset"], sort=False):
        acc = part.pivot(index="seed", columns="contender", values="accuracy")
        for contender in CONTENDERS[1:]:
            diff = acc[contender] - acc["frozen features"]
            se = diff.std() / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
            lines.append(f"{setting}, {data}: {contender} minus frozen features "
                         f"{100 * diff.mean():+.1f} points"
                         + (f" (paired SE {100 * se:.1f})" if len(diff) > 1 else ""))
    return lines


def _plot(ax, table):
    labels = [f"{s}, {d}" for s, d in table[["setting", "dataset"]].drop_duplicates()
              .itertuples(index=False)]
    width = 0.8 / len(CONTENDERS)
    for k, contender in enumerate(CONTENDERS):
        part = table[table.contender == contender]
        ax.barh(np.arange(len(part)) + k * width, part.accuracy, height=width,
                xerr=part.accuracy_sd.fillna(0), label=contender)
    ax.set_yticks(np.arange(len(labels)) + width, labels)
    ax.set_xlabel("test accuracy")
    ax.set_xlim(0.5, 1.0)
    ax.legend(loc="lower right", fontsize=8)


_plot.figsize = (7, 4.5)


if __name__ == "__main__":
    main()
