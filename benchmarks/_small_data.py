"""Defaults at both ends of the data sizes users have: K texts per class and 1,000 texts.

Shared by the benchmarks that compare variants of one method's defaults beside
frozen features: SST-2 draws of K sentences per class (5 draws by default, 500 test
sentences; differences paired by draw), optionally TREC draws too, and the defaults
benchmark's 1,000-text samples of SST-2, TREC and the tweets (seed 0).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from _harness import SHARED, parse_args, write
from bench_defaults import datasets

from sktransformers import TransformerFeatureClassifier
from sktransformers.compare import draw_shots

FROZEN = "frozen features"


def parse(description: str, full_draws: int = 1):
    """The benchmark's options: ``--shots`` (8), ``--seeds`` (5) and ``--full-draws``
    (samples of 1,000 texts) beside the common ones; ``--smoke`` shrinks them to 2
    texts per class, 2 draws, one sample and 40 texts."""
    args = parse_args(description, n_train=1000, extra=lambda p: (
        p.add_argument("--shots", type=int, default=8),
        p.add_argument("--seeds", type=int, default=5),
        p.add_argument("--full-draws", type=int, default=full_draws)))
    if args.smoke:
        args.shots, args.seeds, args.full_draws, args.n_train = 2, 2, 1, 40
    return args


def cases(names, args):
    """The K-per-class draws of the sets ``names``, then the 1,000-text samples."""
    return [*few_shot_sets(names, args.shots, args.seeds, args.smoke),
            *full_sets(args.n_train, args.smoke, args.full_draws)]


def report(name: str, runs: pd.DataFrame, args) -> None:
    """Write ``results/<name>``: the summary table, the paired differences, the plot."""
    full = ("one run (seed 0)" if args.full_draws == 1
            else f"{args.full_draws} seeded samples (paired the same way)")
    write(name, summary(runs), checks(runs), args, plot=plot,
          runs=f"Mean and sd over {args.seeds} draws at K = {args.shots} (paired: the "
               f"same draw for every contender), {full} at {args.n_train:,} "
               "texts; fit_s is the median, indicative only.")


def few_shot_sets(names, shots: int, seeds: int, smoke: bool):
    """(setting, set, seed, X_train, y_train, X_test, y_test): ``shots`` texts per class."""
    for name in names:
        train = pd.read_csv(SHARED / name / "train.csv")
        test = pd.read_csv(SHARED / name / "test.csv").sample(40 if smoke else 500,
                                                              random_state=0)
        for seed in range(seeds):
            rows = draw_shots(train.label, shots, seed)
            yield (f"K = {shots}", name, seed, train.text.to_numpy()[rows],
                   train.label.to_numpy()[rows], test.text.to_numpy(), test.label.to_numpy())


def full_sets(n_train: int, smoke: bool, draws: int = 1):
    for seed in range(draws):
        for data, X_train, y_train, X_test, y_test in datasets(n_train, smoke, seed):
            yield f"{n_train:,} texts", data, seed, X_train, y_train, X_test, y_test


def run(contenders: dict, cases) -> pd.DataFrame:
    """One row per (case, contender): ``contenders`` maps a name to ``make(seed)``;
    frozen features run first on every case."""
    rows = []
    makers = {FROZEN: lambda seed: TransformerFeatureClassifier(verbose=0), **contenders}
    for setting, data, seed, X_train, y_train, X_test, y_test in cases:
        for contender, make in makers.items():
            start = time.perf_counter()
            clf = make(seed).fit(X_train, y_train)
            fit_s = time.perf_counter() - start
            rows.append({"setting": setting, "dataset": data, "seed": seed,
                         "contender": contender, "fit_s": fit_s,
                         "accuracy": float(np.mean(clf.predict(X_test) == y_test))})
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd (blank for one run) per setting, set and contender; median fit time."""
    table = (runs.groupby(["setting", "dataset", "contender"], sort=False)
             .agg(accuracy=("accuracy", "mean"), accuracy_sd=("accuracy", "std"),
                  seeds=("seed", "size"), fit_s=("fit_s", "median")).reset_index())
    table["accuracy_sd"] = table.accuracy_sd.astype(object).where(table.seeds > 1, "")
    return table


def checks(runs: pd.DataFrame) -> list[str]:
    """Each contender minus frozen features per setting and set (with the paired SE over
    draws), against the defaults review's target: not below by more than one standard
    error of the contender's mean over draws (one run: not below at all)."""
    lines = []
    for (setting, data), part in runs.groupby(["setting", "dataset"], sort=False):
        acc = part.pivot(index="seed", columns="contender", values="accuracy")
        n = len(acc)
        for contender in part.contender.unique():
            if contender == FROZEN:
                continue
            diff = 100 * (acc[contender] - acc[FROZEN])
            if n > 1:
                se = 100 * acc[contender].std() / np.sqrt(n)
                how = f"paired SE {diff.std() / np.sqrt(n):.1f}; target >= {-se:.1f}"
            else:
                se, how = 0.0, "target >= 0.0"
            met = "MET" if diff.mean() >= -se - 1e-9 else "NOT MET"
            lines.append(f"{setting}, {data}: {contender} minus frozen features "
                         f"{diff.mean():+.1f} points ({how}) -> {met}")
    return lines


def plot(ax, table):
    """Horizontal bars: one group per (setting, set), one bar per contender."""
    groups = table[["setting", "dataset"]].drop_duplicates()
    contenders = list(table.contender.unique())
    width = 0.8 / len(contenders)
    for k, contender in enumerate(contenders):
        part = groups.merge(table[table.contender == contender], how="left")
        ax.barh(np.arange(len(part)) + k * width, part.accuracy, height=width,
                xerr=pd.to_numeric(part.accuracy_sd, errors="coerce").fillna(0),
                label=contender)
    ax.set_yticks(np.arange(len(groups)) + width * (len(contenders) - 1) / 2,
                  [f"{s}, {d}" for s, d in groups.itertuples(index=False)])
    ax.set_xlabel("test accuracy")
    ax.set_xlim(0.5, 1.0)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)  # off the bars


plot.figsize = (9, 4.5)
