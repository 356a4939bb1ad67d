"""In-context scoring speed: prefix-cached, batched scoring vs the naive way.

Both score the same prompts (8 class-balanced SST-2 demonstrations + each test
sentence) with the packaged SmolLM2-135M-Instruct. Naive: one forward pass per
prompt per label, no cache, no batching. Ours: the demonstrations run once,
their key/value cache is shared by every (query, label) pair, pairs are
batched. Target: >= 5x faster at equal accuracy.
"""

from __future__ import annotations

import numpy as np
from _harness import alternate, bar_plot, parse_args, sst2, summarise, target, write

from sktransformers import InContextClassifier
from sktransformers._causal_lm import load_causal_lm, score_labels_naively


def main():
    args = parse_args(__doc__, n_train=1000, repeats=3)
    train, test = sst2(args.n_train, args.seed, 8 if args.smoke else 60)
    clf = InContextClassifier(template="Review: {text}\nSentiment: {label}", n_examples=8,
                              random_state=args.seed, device=args.device,
                              batch_size=args.batch_size).fit(train.text, train.label)
    model = load_causal_lm(clf.model_path_)
    labels = clf._label_tokens()
    prefix, queries = clf._prompts(list(clf.demonstrations_), list(test.text), labels)
    truth = test.label.to_numpy()
    device = clf._device_dtype()[0]

    def ours():
        pred = clf.predict(test.text)
        return {"accuracy": float(np.mean(pred == truth))}

    def naive():
        scores = score_labels_naively(model, prefix, queries, labels, device=device)
        return {"accuracy": float(np.mean(clf.classes_[scores.argmax(1)] == truth))}

    runs = alternate({"sktransformers (cached, batched)": ours,
                      "naive (one pass per prompt and label)": naive}, args.repeats)
    for results in runs.values():
        for r in results:
            r["prompts_per_s"] = len(test) / r["seconds"]
    table = summarise(runs)
    speedup = table.prompts_per_s[0] / table.prompts_per_s[1]
    checks = [
        f"{len(test)} SST-2 dev sentences x {len(labels)} labels, 8 balanced demonstrations "
        f"({len(prefix)} prefix tokens), batch {args.batch_size}.",
        target("speed-up over naive", speedup, 5.0),
        f"accuracy: {table.accuracy[0]:.3f} (ours) vs {table.accuracy[1]:.3f} (naive)",
    ]
    write("in_context_scoring", table, checks, args,
          plot=bar_plot("prompts_per_s", "test prompts / s (median)"))


if __name__ == "__main__":
    main()
