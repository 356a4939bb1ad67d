"""Instructions the model writes (APE) against none and a hand-written one.

InContextClassifier with the packaged SmolLM2-135M-Instruct, zero-shot by default
(``--n-examples``), ``template="auto"``, prior calibration, on SST-2 and TREC:

- ``none``: no instruction (the default);
- ``hand-written``: one sentence a person would write for the task;
- ``APE``: ``instruction="auto"``: the model proposes ``--n-instructions`` candidates
  from five training examples each, and the best by 3-fold cross-validation on the
  training texts (no instruction competing) is kept.

Reports test accuracy, fit time, the texts the searches scored, and every candidate
with its cross-validated score (the best and the worst are quoted).
"""

from __future__ import annotations

import time

import pandas as pd
from _harness import SHARED, parse_args, target, write

from sktransformers import InContextClassifier

HAND_WRITTEN = {
    "sst2": "Classify the sentiment of each movie review as positive or negative.",
    "trec": "Classify each question by the type of answer it asks for.",
}


def load(name, n_train, seed, n_test):
    train = pd.read_csv(SHARED / name / "train.csv")
    if name == "sst2":  # sentence-like texts, as the slow tests draw them
        train = train[train.text.str.split().str.len() >= 5]
    train = train.sample(n_train, random_state=seed)
    test = pd.read_csv(SHARED / name / "test.csv")
    return train, test.head(n_test) if n_test else test


def main():
    def extra(p):
        p.add_argument("--n-examples", type=int, default=0)
        p.add_argument("--n-instructions", type=int, default=8)
        p.add_argument("--datasets", nargs="*", default=["sst2", "trec"])
    args = parse_args(__doc__, extra=extra, n_train=1000, repeats=1)
    rows, notes = [], []
    for name in args.datasets:
        train, test = load(name, 60 if args.smoke else args.n_train, args.seed,
                           20 if args.smoke else None)
        for contender, instruction in (("none", ""), ("hand-written", HAND_WRITTEN[name]),
                                       ("APE", "auto")):
            clf = InContextClassifier(instruction=instruction, n_examples=args.n_examples,
                                      n_instructions=args.n_instructions,
                                      random_state=args.seed, device=args.device)
            start = time.perf_counter()
            clf.fit(train.text, train.label)
            fit_s = time.perf_counter() - start
            accuracy = clf.score(test.text, test.label)
            rows.append({"dataset": name, "contender": contender, "accuracy": accuracy,
                         "fit_s": fit_s, "scored_texts": clf.search_cost_["scored_texts"],
                         "proposals": clf.search_cost_["generated_texts"],
                         "instruction": clf.instruction_ or "(none)"})
            print(rows[-1], flush=True)
            if clf.instruction_scores_:
                ranked = sorted(clf.instruction_scores_.items(), key=lambda kv: -kv[1])
                notes.append(f"{name}: {len(ranked)} candidates (no instruction included), "
                             f"proposal generation {clf.search_cost_['proposal_seconds']:.0f} "
                             "s; cross-validated accuracy of each: "
                             + "; ".join(f"{v:.3f} {k or '(none)'!r}" for k, v in ranked))
    table = pd.DataFrame(rows)
    by = table.set_index(["dataset", "contender"]).accuracy
    gains = [target(f"{name}: APE's test accuracy minus no instruction's",
                    by[name, "APE"] - by[name, "none"], 0.0) for name in args.datasets]
    checks = [f"{args.n_train} training texts per dataset (the searches classify up to 300 "
              f"per template and up to 1,500 over all instruction candidates); test: all of "
              f"SST-2's 872 dev sentences, TREC's 500 test questions; {args.n_examples} "
              "demonstrations; template='auto', calibrate='auto'.", *gains, *notes]
    write(f"in_context_ape{'' if not args.n_examples else f'_{args.n_examples}shot'}",
          table, checks, args, plot=_plot, runs="One run per contender (seed 0).")


def _plot(ax, table):
    labels = [f"{d} {c}" for d, c in zip(table.dataset, table.contender, strict=True)]
    ax.barh(labels, table.accuracy, color=["tab:grey", "tab:blue", "tab:green"] * (
        len(table) // 3))
    ax.invert_yaxis()
    ax.set_xlabel("test accuracy")
    for y, (acc, s) in enumerate(zip(table.accuracy, table.fit_s, strict=True)):
        ax.annotate(f"{acc:.3f} ({s:.0f} s fit)", (acc, y), xytext=(3, -3),
                    textcoords="offset points", fontsize=8)
    ax.set_xlim(0, 1.15)


_plot.figsize = (7, 3.5)


if __name__ == "__main__":
    main()
