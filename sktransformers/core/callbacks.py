"""skorch callbacks that keep only what trains: early stopping and resumable checkpoints,
and one that hands freed memory back to the operating system during CPU training.

skorch's own ``EarlyStopping(load_best=True)`` and ``Checkpoint`` copy the whole
module's state dict, the frozen backbone included (90 MB per snapshot for a LoRA
classifier on MiniLM). These keep the trainable parameters only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import os
from functools import cache
from pathlib import Path

import numpy as np
import torch
from skorch.callbacks import Callback, EarlyStopping
from skorch.history import History

from .distributed import bare_module
from .params import trainable_state


class BestTrainableEarlyStopping(EarlyStopping):
    """Early stopping that snapshots (and restores) only the trainable parameters."""

    def on_epoch_end(self, net, **kwargs):
        self.load_best = False  # skorch would deep-copy the whole state dict
        try:
            super().on_epoch_end(net, **kwargs)
        finally:
            self.load_best = True
            if self.best_epoch_ == net.history[-1, "epoch"]:
                self.best_model_weights_ = {name: p.clone() for name, p in
                                            trainable_state(bare_module(net)).items()}

    def on_train_end(self, net, **kwargs):
        best = self.best_model_weights_
        if best is not None and self.best_epoch_ != net.history[-1, "epoch"]:
            bare_module(net).load_state_dict(best, strict=False)

    def stopped(self) -> bool:
        """Whether training ended because the validation loss stopped improving."""
        return self.misses_ >= self.patience


class ReleaseFreedMemory(Callback):
    """After each training batch, return the C allocator's free memory to the system.

    Batches of varying length allocate activations of varying sizes; glibc's
    ``malloc`` keeps what they free in its heap, where later batches' larger blocks
    do not fit, so a CPU process's resident memory creeps up step after step.
    ``malloc_trim(0)`` gives the free pages back, for about 1% of a step's time. In
    the reward-model benchmark (LoRA, 256 pairs of up to 128 tokens, capped to AVX2;
    ``benchmarks/results/preferences_reward_avx2.md``) the peak RSS fell from 1,775
    to 1,540 MB. Does nothing where the C library has no ``malloc_trim`` (macOS,
    Windows, musl).
    """

    def on_batch_end(self, net, training=False, **kwargs):
        trim = _malloc_trim()
        if training and trim is not None:
            trim(0)


@cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None where the C library has none."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


class TrainableCheckpoint(Callback):
    """Save the trainable parameters, optimizer state and history after every epoch.

    A later fit of the same run (same trainable parameters, data and settings,
    checked through a key) resumes from the last saved epoch; see :func:`resume`.
    The files are written atomically, so a fit killed while saving leaves the
    previous epoch's checkpoint whole.
    """

    def __init__(self, dirname, key: str):
        self.dirname, self.key = Path(dirname), key

    def on_epoch_end(self, net, **kwargs):
        progress = {"key": self.key, "epochs": len(net.history), "history": net.history.to_list()}
        save_state(self.dirname, bare_module(net), net.optimizer_, progress)


def save_state(dirname, module, optimizer, progress: dict) -> None:
    """Write ``module``'s trainable parameters, the optimizer state and ``progress``
    (JSON) to ``dirname``, each file atomically (a kill while saving keeps the last)."""
    from safetensors.torch import save_file

    dirname = Path(dirname)
    dirname.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous() for k, v in trainable_state(module).items()}
    _atomic(dirname / "trainable.safetensors", lambda f: save_file(weights, f))
    _atomic(dirname / "optimizer.pt", lambda f: torch.save(optimizer.state_dict(), f))
    _atomic(dirname / "progress.json",
            lambda f: Path(f).write_text(json.dumps(progress, default=float)))


def load_state(dirname, module, optimizer, key: str) -> dict | None:
    """Load what :func:`save_state` wrote for run ``key``; its progress, or ``None``
    (and nothing loaded) when ``dirname`` holds no checkpoint of that run."""
    from safetensors.torch import load_file

    dirname = Path(dirname)
    progress_file = dirname / "progress.json"
    if not progress_file.is_file():
        return None
    progress = json.loads(progress_file.read_text())
    if progress.get("key") != key:
        return None
    device = str(next(module.parameters()).device)
    module.load_state_dict(load_file(dirname / "trainable.safetensors", device=device),
                           strict=False)
    optimizer.load_state_dict(torch.load(dirname / "optimizer.pt", weights_only=True,
                                         map_location=device))
    return progress


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(str(tmp))
    os.replace(tmp, path)


def run_key(module, train_data, valid_data, config) -> str:
    """What identifies a training run, for resuming: parameters, data and settings."""
    digest = hashlib.sha256()
    for name, p in trainable_state(module).items():
        digest.update(f"{name}{tuple(p.shape)}".encode())
    for data in (train_data, valid_data):
        targets = getattr(data, "y", None)
        digest.update(f"{None if data is None else len(data)}".encode())
        if targets is not None:
            digest.update(np.ascontiguousarray(np.asarray(targets)).tobytes())
    digest.update(f"{config.lr}{config.head_lr}{config.batch_size}{config.weight_decay}".encode())
    return digest.hexdigest()


def resume(net, dirname, key: str) -> int:
    """Load the checkpoint of run ``key`` into an initialised ``net``; the epochs it holds.

    Returns 0 (and loads nothing) when there is no checkpoint of this run.
    """
    progress = load_state(dirname, bare_module(net), net.optimizer_, key)
    if progress is None:
        return 0
    net.history = History(progress["history"])
    return int(progress["epochs"])


def remove_checkpoint(dirname) -> None:
    """Delete a finished run's checkpoint files (other files in the folder stay)."""
    for name in ("trainable.safetensors", "optimizer.pt", "progress.json"):
        (Path(dirname) / name).unlink(missing_ok=True)
