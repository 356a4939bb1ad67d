"""CPU prediction: fp32 against int8 (``precision="int8"``) and the exported ONNX model.

A LoRA classifier and a full fine-tune are fitted once on 1,000 SST-2 sentences
(defaults, max_length 64); prediction on the 872 dev sentences is then timed,
alternating, as fp32 (the default), int8 (``precision="int8"``: torch's dynamic
quantisation of the linear layers) and ONNX Runtime running ``export_onnx``'s
folder, fp32 and ``quantize="int8"`` (its own tokenizer; length-sorted batches of
32, as ours). Targets: int8 >= 2x our fp32 throughput with accuracy within 1
point, by either route; ONNX probabilities equal to ``predict_proba`` to 1e-4.

    python benchmarks/bench_int8.py           # about 5 minutes on 2 CPU cores
"""

from __future__ import annotations

import tempfile
import warnings

import numpy as np
import pandas as pd
from _harness import alternate, parse_args, sst2, summarise, target, write

from sktransformers import FullFinetuneClassifier, LoRAClassifier, predict_with_onnx_runtime

warnings.filterwarnings("ignore")


def main():
    args = parse_args(__doc__.splitlines()[0], n_train=1000)
    train, test = sst2(args.n_train, args.seed, 64 if args.smoke else None)
    texts, y_test = list(test.text), test.label.to_numpy()
    rows, checks = [], []
    for name, cls in (("lora", LoRAClassifier), ("full", FullFinetuneClassifier)):
        est = cls(max_length=args.max_length, batch_size=args.batch_size, verbose=0,
                  random_state=args.seed, device="cpu",
                  **({"max_epochs": 1} if args.smoke else {})).fit(train.text, train.label)
        folder = est.export_onnx(tempfile.mkdtemp() + "/model")
        folder_int8 = est.export_onnx(tempfile.mkdtemp() + "/model", quantize="int8")
        reference = est.set_params(precision="fp32").predict_proba(texts)
        onnx = predict_with_onnx_runtime(folder, texts)
        outputs = {}

        def run(precision, est=est, outputs=outputs):
            def go():
                outputs[precision] = est.set_params(precision=precision).predict_proba(texts)
                return {}
            return go

        def run_onnx(folder, key, outputs=outputs):
            def go():
                outputs[key] = predict_with_onnx_runtime(folder, texts)
                return {}
            return go

        runs = alternate({"fp32": run("fp32"), "int8": run("int8"),
                          "onnxruntime": run_onnx(folder, "onnxruntime"),
                          "onnxruntime_int8": run_onnx(folder_int8, "onnxruntime_int8")},
                         args.repeats)
        table = summarise(runs)
        table.insert(0, "model", name)
        table["texts_per_s"] = len(texts) / table.seconds
        table["accuracy"] = [float(np.mean(est.classes_[outputs[c].argmax(1)] == y_test))
                             for c in table.contender]
        table["max_abs_diff_vs_fp32"] = [float(np.abs(outputs[c] - reference).max())
                                         for c in table.contender]
        fp32 = table.set_index("contender")
        rows.append(table)
        for contender in ("int8", "onnxruntime_int8"):
            speed = fp32.texts_per_s[contender] / fp32.texts_per_s["fp32"]
            drop = fp32.accuracy["fp32"] - fp32.accuracy[contender]
            checks += [
                target(f"{name}: {contender} / fp32 throughput", speed, 2.0),
                target(f"{name}: accuracy drop fp32 -> {contender} (points)", 100 * drop, 1.0,
                       higher_is_better=False),
            ]
        checks += [
            target(f"{name}: ONNX Runtime vs predict_proba, max abs difference x 1e4",
                   1e4 * float(np.abs(onnx - reference).max()), 1.0, higher_is_better=False),
            f"{name}: ONNX Runtime / fp32 throughput "
            f"{fp32.texts_per_s['onnxruntime'] / fp32.texts_per_s['fp32']:.2f}x",
        ]
    table = pd.concat(rows, ignore_index=True)
    write("int8_onnx", table, checks, args, plot=_plot)


def _plot(ax, table):
    labels = [f"{m} {c}" for m, c in zip(table.model, table.contender, strict=True)]
    ax.barh(labels, table.texts_per_s)
    for y, (speed, acc) in enumerate(zip(table.texts_per_s, table.accuracy, strict=True)):
        ax.annotate(f"acc {acc:.3f}", (speed, y), xytext=(4, -3), textcoords="offset points",
                    fontsize=7)
    ax.set_xlabel("prediction throughput, texts/s (SST-2 dev, 2 CPU cores)")


if __name__ == "__main__":
    main()
