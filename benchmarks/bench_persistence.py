"""Artifact sizes per method, and memory over repeated fits, on the packaged MiniLM.

Sizes, side by side for each fitted method:

- ours: ``est.save(folder)`` (safe folder) and ``joblib.dump(est)``;
- skorch's way: ``torch.save`` of the fitted module's whole state dict (what
  ``NeuralNet.save_params`` writes; sktransformers 0.1 pickled about that much);
- PEFT's way (LoRA, prompt tuning): ``PeftModel.save_pretrained``, the adapter only
  (the classification head is not in it).

Memory: RSS after each of ``--refits`` fits of one LoRA classifier with early
stopping (every fit a new grid point, as in ``GridSearchCV``), and the bytes one
early-stopping snapshot holds: ours (trainable parameters) against skorch's
``EarlyStopping(load_best=True)`` (the whole state dict).

Reproduce: ``python benchmarks/bench_persistence.py``
"""

from __future__ import annotations

import gc
import io
import tempfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import psutil
import torch
from _harness import parse_args, result_path, sst2, target, write
from sklearn.base import clone

from sktransformers import (
    AdapterClassifier,
    FullFinetuneClassifier,
    HeadFinetuneClassifier,
    LoRAClassifier,
    PrefixTunedClassifier,
    PromptTunedClassifier,
    TransformerFeatureClassifier,
    load,
)


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def sizes(X, y, X_test, args) -> pd.DataFrame:
    common = {"max_length": args.max_length, "batch_size": args.batch_size,
              "random_state": args.seed, "verbose": 0}
    methods = {
        "feature": TransformerFeatureClassifier(max_length=args.max_length),
        "head": HeadFinetuneClassifier(max_epochs=5, **common),
        "full": FullFinetuneClassifier(max_epochs=1, **common),
        "lora": LoRAClassifier(max_epochs=1, **common),
        "prompt": PromptTunedClassifier(max_epochs=1, **common),
        "prefix": PrefixTunedClassifier(max_epochs=1, **common),
        "adapter": AdapterClassifier(max_epochs=1, **common),
    }
    rows = []
    for name, est in methods.items():
        est.fit(X, y)
        with tempfile.TemporaryDirectory() as tmp:
            folder = est.save(Path(tmp) / "model")
            joblib.dump(est, Path(tmp) / "est.joblib")
            loaded = load(folder)
            same = bool(np.array_equal(loaded.predict_proba(X_test), est.predict_proba(X_test)))
            same_joblib = bool(np.array_equal(joblib.load(Path(tmp) / "est.joblib")
                                              .predict_proba(X_test),
                                              est.predict_proba(X_test)))
            row = {"method": name, "trainable_params": est.n_trainable_params_,
                   "save_folder_mb": _bytes(folder) / 1e6,
                   "joblib_mb": (Path(tmp) / "est.joblib").stat().st_size / 1e6,
                   "skorch_state_dict_mb": _state_dict_mb(est),
                   "peft_adapter_mb": _peft_mb(est, Path(tmp)),
                   "identical_after_load": same and same_joblib}
        rows.append(row)
        print(row, flush=True)
    return pd.DataFrame(rows)


def _state_dict_mb(est) -> float:
    """What skorch's ``save_params`` writes: the whole fitted module's state dict."""
    if not hasattr(est, "module_"):
        return float("nan")
    module = est.module_
    if hasattr(est, "encoder_"):  # head only: skorch's module would hold the encoder too
        return float("nan")
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return len(buffer.getvalue()) / 1e6


def _peft_mb(est, tmp: Path) -> float:
    """PEFT's ``save_pretrained``: the adapter only (LoRA, prompt tuning)."""
    peft_model = est._peft_model() if hasattr(est, "_peft_model") else None
    if peft_model is None:
        return float("nan")
    peft_model.save_pretrained(tmp / "peft")
    return _bytes(tmp / "peft") / 1e6


def refits(X, y, args) -> tuple[list[float], dict]:
    """RSS after each refit (clones, as grid points are), and one snapshot's bytes."""
    from sktransformers.core import callbacks as _callbacks

    seen = {}
    original = _callbacks.BestTrainableEarlyStopping.on_train_end

    def record(self, net, **kwargs):
        ours = sum(t.numel() * t.element_size() for t in self.best_model_weights_.values())
        whole = sum(t.numel() * t.element_size() for t in net.module_.state_dict().values())
        seen.update(ours_mb=ours / 1e6, skorch_load_best_mb=whole / 1e6)
        return original(self, net, **kwargs)

    _callbacks.BestTrainableEarlyStopping.on_train_end = record
    base = LoRAClassifier(max_epochs=2, early_stopping=True, max_length=args.max_length,
                          batch_size=args.batch_size, verbose=0)
    process = psutil.Process()
    rss = [process.memory_info().rss / 2**20]  # fit 0: before any fit
    for i in range(args.refits):
        est = clone(base).set_params(random_state=i, r=(4, 8, 16)[i % 3])
        est.fit(X, y)
        del est
        gc.collect()
        rss.append(process.memory_info().rss / 2**20)
        print(f"fit {i + 1}: RSS {rss[-1]:.0f} MiB", flush=True)
    _callbacks.BestTrainableEarlyStopping.on_train_end = original
    return rss, seen


def main():
    args = parse_args(__doc__, extra=lambda p: p.add_argument("--refits", type=int, default=30),
                      n_train=256, repeats=1)
    if args.smoke:
        args.refits = 3
    train, test = sst2(args.n_train, args.seed, n_test=64)
    X, y, X_test = train.text.tolist(), train.label.tolist(), test.text.tolist()
    rss, snapshot = refits(X, y, args)  # first, in a fresh process: RSS from its start
    table = sizes(X, y, X_test, args)
    lora = table.set_index("method").loc["lora"]
    growth = rss[-1] - rss[min(5, len(rss) - 1)]
    smaller = lora.skorch_state_dict_mb / lora.save_folder_mb
    checks = [
        target("LoRA save folder (MB)", lora.save_folder_mb, 1.0, higher_is_better=False),
        target("RSS growth after the 5th fit (MiB)", growth, 50, higher_is_better=False),
        f"LoRA safe folder {lora.save_folder_mb * 1000:.0f} kB vs skorch state dict "
        f"{lora.skorch_state_dict_mb:.1f} MB ({smaller:.0f}x smaller); joblib "
        f"{lora.joblib_mb * 1000:.0f} kB",
        f"every method predicts identically after load (folder and joblib): "
        f"{bool(table.identical_after_load.all())}",
        f"early-stopping snapshot: ours {snapshot['ours_mb']:.2f} MB vs skorch load_best "
        f"{snapshot['skorch_load_best_mb']:.1f} MB",
        f"RSS over {len(rss) - 1} refits (LoRA, early stopping, r in 4/8/16), measured "
        f"first: before any fit {rss[0]:.0f} MiB, after fit 1 {rss[1]:.0f} MiB, after fit 5 "
        f"{rss[min(5, len(rss) - 1)]:.0f} MiB, last {rss[-1]:.0f} MiB (growth after the "
        f"5th fit: {growth:+.0f} MiB)",
    ]
    write("persistence_sizes", table, checks, args, plot=_size_plot)
    if not args.smoke:  # beside the sizes' table, suffixed as it is (_avx2, _gpu)
        stem = result_path("persistence_refits", args).with_suffix("")
        pd.DataFrame({"fit": range(len(rss)), "rss_mib": rss}).to_csv(
            stem.with_suffix(".csv"), index=False)
        _rss_plot(rss, stem.with_suffix(".png"))


def _size_plot(ax, table):
    y = np.arange(len(table))
    ax.barh(y - 0.2, table.save_folder_mb, height=0.4, label="ours: save folder")
    ax.barh(y + 0.2, table.skorch_state_dict_mb.fillna(0), height=0.4,
            label="skorch: whole state dict")
    ax.set_yticks(y, table.method)
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xlabel("artifact size (MB, symlog)")
    ax.legend(fontsize=7)


def _rss_plot(rss, path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.5))
    ax = fig.subplots()
    ax.plot(range(len(rss)), rss, marker="o", markersize=3)
    ax.set_xlabel("fits done (LoRA, early stopping, a new clone each time; 0: none)")
    ax.set_ylabel("process RSS (MiB)")
    ax.set_ylim(0, max(rss) * 1.15)
    ax.set_title("memory over repeated fits")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
