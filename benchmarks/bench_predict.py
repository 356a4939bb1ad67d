"""Prediction cost of every method on the 872 SST-2 dev sentences.

Each estimator is first fitted briefly (its accuracy is not the point here);
then prediction is timed with a cold embedding cache. The reference is
transformers ``pipeline("text-classification")`` on the same backbone with a
sequence-classification head, the same batch size and max_length. Target: our
fine-tuned estimators >= 1.0x the pipeline's throughput. Trainable parameter
counts of every method are reported too.
"""

from __future__ import annotations

import numpy as np
import torch
from _harness import alternate, backbone, bar_plot, parse_args, sst2, summarise, target, write
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

from sktransformers import (
    FullFinetuneClassifier,
    HeadFinetuneClassifier,
    LoRAClassifier,
    PromptTunedClassifier,
    TransformerFeatureClassifier,
    embedding_cache,
)


def main():
    args = parse_args(__doc__, n_train=200)
    train, test = sst2(args.n_train, args.seed, 64 if args.smoke else None)
    texts = list(test.text)
    common = {"batch_size": args.batch_size, "max_length": args.max_length,
              "device": args.device}
    train_kw = {**common, "max_epochs": 1, "verbose": 0, "random_state": args.seed}
    estimators = {
        "feature": TransformerFeatureClassifier(model=backbone(), **common),
        "head": HeadFinetuneClassifier(backbone(), **train_kw),
        "full": FullFinetuneClassifier(backbone(), **train_kw),
        "lora (merged)": LoRAClassifier(backbone(), **train_kw),
        "lora (unmerged)": LoRAClassifier(backbone(), merge_weights=False, **train_kw),
        "prompt": PromptTunedClassifier(backbone(), **train_kw),
    }
    for est in estimators.values():
        est.fit(train.text, train.label)
    device = estimators["full"]._device_dtype()[0]
    classifier = pipeline(
        "text-classification", device=torch.device(device),
        model=AutoModelForSequenceClassification.from_pretrained(backbone(), num_labels=2),
        tokenizer=AutoTokenizer.from_pretrained(backbone()),
    )

    def predict(est):
        def run():
            embedding_cache.clear()
            est.predict(texts)

        return run

    def run_pipeline():
        classifier(texts, batch_size=args.batch_size, truncation=True,
                   max_length=args.max_length)

    contenders = {"transformers pipeline": run_pipeline,
                  **{name: predict(est) for name, est in estimators.items()}}
    runs = alternate(contenders, args.repeats)
    for results in runs.values():
        for r in results:
            r["texts_per_s"] = len(texts) / r["seconds"]
    table = summarise(runs)
    table["trainable_params"] = [
        -1 if name not in estimators else estimators[name].n_trainable_params_
        for name in table.contender
    ]
    table["total_params"] = [
        -1 if name not in estimators else estimators[name].n_total_params_
        for name in table.contender
    ]
    base = float(table.texts_per_s[table.contender == "transformers pipeline"].iloc[0])
    checks = [f"{len(texts)} SST-2 dev sentences, batch {args.batch_size}, max_length "
              f"{args.max_length}; cold embedding cache; -1 = not applicable."]
    for name in ("full", "lora (merged)", "head", "feature"):
        value = float(table.texts_per_s[table.contender == name].iloc[0])
        checks.append(target(f"{name} throughput / pipeline", value / base, 1.0))
    merged, unmerged = (float(table.texts_per_s[table.contender == n].iloc[0])
                        for n in ("lora (merged)", "lora (unmerged)"))
    checks.append(f"LoRA merged / unmerged throughput: {merged / unmerged:.2f}x")
    same = np.array_equal(estimators["full"].predict(texts), estimators["full"].predict(texts))
    checks.append(f"repeated predictions identical: {same}")
    write("predict_throughput", table, checks, args, plot=bar_plot("texts_per_s", "texts / s"))


if __name__ == "__main__":
    main()
