"""GPU check: every trainable method on the GPU with bf16 autocast, memory over refits,
save on the GPU and load on the CPU, and a throughput table; then the same
side-by-side benchmarks as on the CPU (training against PEFT + Trainer and the
hand-written loop, prediction, embedding) with ``--device cuda``.

Run on a machine with a CUDA GPU (one call, about 10 minutes on one H200):

    python benchmarks/gpu_check.py

Writes ``benchmarks/results/gpu_check.md`` and ``.csv`` and, for each side-by-side
benchmark, ``<name>_gpu.md/.csv/.png`` labelled with the device. On a machine
without a GPU it says so and exits.
"""

from __future__ import annotations

import gc
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _harness import RESULTS, sst2

import sktransformers
from sktransformers import (
    AdapterClassifier,
    FullFinetuneClassifier,
    HeadFinetuneClassifier,
    LoRAClassifier,
    PrefixTunedClassifier,
    PromptTunedClassifier,
    load,
)

METHODS = {"head": HeadFinetuneClassifier, "full": FullFinetuneClassifier,
           "lora": LoRAClassifier, "prompt": PromptTunedClassifier,
           "prefix": PrefixTunedClassifier, "adapter": AdapterClassifier}


def main(n_train=2000, refits=10):
    if not torch.cuda.is_available():
        sys.exit("no CUDA GPU here: gpu_check.py needs one")
    train, test = sst2(n_train, 0)
    X, y, X_test, y_test = train.text.tolist(), train.label, test.text.tolist(), test.label
    rows = []
    for name, cls in METHODS.items():
        est = cls(device="cuda", precision="bf16", max_epochs=3, max_length=64, verbose=0,
                  random_state=0)
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        est.fit(X, y)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        proba = est.predict_proba(X_test)
        predict_s = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            est.save(Path(tmp) / "m")
            cpu = load(Path(tmp) / "m").set_params(device="cpu", precision="fp32")
            cpu_proba = cpu.predict_proba(X_test)
        rows.append({"method": name, "accuracy": float((est.classes_[proba.argmax(1)]
                                                        == y_test).mean()),
                     "fit_s": fit_s, "predict_texts_per_s": len(X_test) / predict_s,
                     "peak_cuda_mb": torch.cuda.max_memory_allocated() / 2**20,
                     "gpu_bf16_vs_cpu_fp32_max_abs_diff": float(np.abs(proba - cpu_proba).max()),
                     "same_predictions_on_cpu": float((proba.argmax(1)
                                                       == cpu_proba.argmax(1)).mean())})
        print(rows[-1], flush=True)
        del est
        sktransformers.clear_cache()
    memory = []
    est = LoRAClassifier(device="cuda", max_epochs=1, max_length=64, verbose=0,
                         early_stopping=True)
    for i in range(refits):
        est.set_params(random_state=i).fit(X[:500], y[:500])
        gc.collect()
        memory.append(torch.cuda.memory_allocated() / 2**20)
        print(f"refit {i + 1}: {memory[-1]:.0f} MiB allocated", flush=True)
    table = pd.DataFrame(rows)
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / "gpu_check.csv", index=False)
    text = [f"# gpu_check\n\nDevice: {torch.cuda.get_device_name()}; torch {torch.__version__}."
            "\n\nReproduce: `python benchmarks/gpu_check.py`\n", table.to_markdown(index=False),
            f"\n- torch.cuda.memory_allocated after each of {refits} LoRA refits (MiB): "
            + ", ".join(f"{m:.0f}" for m in memory),
            "- predictions: fitted and predicted on the GPU (bf16 autocast), saved there, "
            "loaded on the CPU (fp32): the table gives the largest probability difference "
            "and the share of identical predicted classes."]
    (RESULTS / "gpu_check.md").write_text("\n".join(text) + "\n")
    print("\n".join(text))
    side_by_side()


#: The CPU benchmarks rerun on the GPU: (script, arguments).
SIDE_BY_SIDE = [
    ("bench_training.py", ["--method", "lora"]),
    ("bench_training.py", ["--method", "full"]),
    ("bench_training.py", ["--method", "head"]),
    ("bench_predict.py", []),
    ("bench_embed.py", []),
]


def side_by_side():
    """Run each CPU benchmark with ``--device cuda`` (results get a ``_gpu`` suffix)."""
    import subprocess

    here = Path(__file__).resolve().parent
    for script, arguments in SIDE_BY_SIDE:
        command = [sys.executable, str(here / script), *arguments, "--device", "cuda"]
        print("$", " ".join(command[1:]), flush=True)
        subprocess.run(command, check=False)


if __name__ == "__main__":
    main()
