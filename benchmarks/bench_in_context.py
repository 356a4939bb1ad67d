"""In-context scoring speed: prefix-cached, batched scoring vs the naive way.

Both score the same prompts (8 class-balanced SST-2 demonstrations + each test
sentence) with the packaged SmolLM2-135M-Instruct. Naive: one forward pass per
prompt per label, no cache, no batching. Ours: the demonstrations run once,
their key/value cache is shared by every (query, label) pair, pairs are
batched. Target: >= 5x faster at equal accuracy.

Second table (``in_context_bound``): TREC questions, whose six labels take several
tokens each ("abbreviation", "description", ...), 8 balanced demonstrations. Ours
scores every label of a query in one packed forward pass; the bound is the least
any method that reads each query must do: one forward pass per query over the
cached prefix, reading one position, and no label tokens at all.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from _harness import SHARED, alternate, bar_plot, parse_args, sst2, summarise, target, write

from sktransformers import InContextClassifier
from sktransformers.backbones.causal_lm import (
    _forward,
    _prefix_kv,
    load_causal_lm,
    score_labels_naively,
)


def main():
    args = parse_args(__doc__, n_train=1000, repeats=3)
    train, test = sst2(args.n_train, args.seed, 8 if args.smoke else 60)
    # calibrate=False: the naive reference scores raw likelihoods, so both rank alike
    clf = InContextClassifier(template="Review: {text}\nSentiment: {label}", n_examples=8,
                              calibrate=False, random_state=args.seed, device=args.device,
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
    against_the_bound(args)


#: Multi-token verbaliser for TREC's six classes (2-3 tokens each).
TREC_WORDS = {"abbreviation": "an abbreviation", "description": "a description",
              "entity": "a thing", "human": "a person", "location": "a place",
              "numeric": "a number"}


def against_the_bound(args):
    """TREC (multi-token labels): packed scoring against one bare pass per query."""
    train = pd.read_csv(SHARED / "trec" / "train.csv").sample(args.n_train,
                                                               random_state=args.seed)
    test = pd.read_csv(SHARED / "trec" / "test.csv").head(8 if args.smoke else 200)
    clf = InContextClassifier(template="Question: {text}\nIt asks for: {label}",
                              label_words=TREC_WORDS,
                              n_examples=8, random_state=args.seed, device=args.device,
                              batch_size=args.batch_size).fit(train.text, train.label)
    model = load_causal_lm(clf.model_path_)
    labels = clf._label_tokens()
    prefix, queries = clf._prompts(list(clf.demonstrations_), list(test.text), labels)
    device = clf._device_dtype()[0]
    truth = test.label.to_numpy()

    def ours():
        return {"accuracy": float(np.mean(clf.predict(test.text) == truth))}

    @torch.inference_mode()
    def bound():
        kv = _prefix_kv(model, prefix, device, None)
        order = sorted(queries, key=len)
        for start in range(0, len(order), args.batch_size):
            chunk = order[start : start + args.batch_size]
            _forward(model, kv, len(prefix), chunk, clf.tokenizer_.pad_token_id or 0, device,
                     None, read=[len(q) - 1 for q in chunk])
        return {}

    runs = alternate({"sktransformers (all labels packed)": ours,
                      "bound (one bare pass per query)": bound}, args.repeats)
    for results in runs.values():
        for r in results:
            r["texts_per_s"] = len(test) / r["seconds"]
    table = summarise(runs)
    ratio = table.texts_per_s[0] / table.texts_per_s[1]
    checks = [
        f"{len(test)} TREC test questions x {len(labels)} labels of "
        f"{min(map(len, labels))}-{max(map(len, labels))} tokens, 8 balanced "
        f"demonstrations ({len(prefix)} prefix tokens), batch {args.batch_size}; "
        f"accuracy {table.accuracy[0]:.3f}.",
        target("texts/s as a share of the forward-pass bound", ratio, 0.5),
    ]
    write("in_context_bound", table, checks, args,
          plot=bar_plot("texts_per_s", "test questions / s (median)"))


if __name__ == "__main__":
    main()
