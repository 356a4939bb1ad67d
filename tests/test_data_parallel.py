"""One fit across two processes (``torchrun``, gloo on the CPU) equals one process with the
doubled batch, for every trainable method; every process ends with the same estimator."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sktransformers.core.dropout import FastDropout

from estimators import TRAINABLE, make
from tiny_models import make_tiny_bert

TESTS = Path(__file__).resolve().parent
TEXTS = [f"text number {i} about a {'good fun' if i % 2 else 'bad dull'} film" + " x" * (i % 5)
         for i in range(32)]
LABELS = ["pos" if i % 2 else "neg" for i in range(32)]
RATINGS = [float(i % 2) + 0.1 * (i % 3) for i in range(32)]
#: per process; one process trains on batches of twice as many texts
BATCH = 4
#: a rate high enough that the validation loss turns up and early stopping ends the fit
EARLY = {"early_stopping": True, "validation_fraction": 0.25, "max_epochs": 8,
         "n_iter_no_change": 1, "lr": 0.3}

SCRIPT = """
import json, os, sys
sys.path.insert(0, {tests!r})
import numpy as np
import torch
from estimators import make
from sktransformers.core.dropout import FastDropout

torch.nn.Dropout.forward = lambda self, x: x  # as in the one-process fit it is compared with
FastDropout.forward = torch.nn.Dropout.forward  # the kind the training core makes them

model, out, names = {model!r}, {out!r}, {names!r}
texts, labels, ratings = {texts!r}, {labels!r}, {ratings!r}
rank = int(os.environ["RANK"])
results = {{}}
for name in names:
    kwargs = {{}}
    if name == "lora-early":
        name, kwargs = "lora", {early}
    est = make(name, model, batch_size={batch}, **kwargs)
    est.fit(texts, ratings if name.endswith("-reg") else labels)
    folder = est.save(os.path.join(out, "saved-" + name))
    results[name + ("-early" if "early_stopping" in kwargs else "")] = {{
        "outputs": (est.predict(texts) if name.endswith("-reg")
                    else est.predict_proba(texts)).tolist(),
        "history": [{{k: v for k, v in epoch.items() if k != "duration"}}
                    for epoch in est.history_],
        "saved_here": os.path.isdir(folder) and rank == 0,
    }}
with open(os.path.join(out, f"rank{{rank}}.json"), "w") as f:
    json.dump(results, f)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cases():
    return [*TRAINABLE, "lora-reg", "lora-early"]


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    """Every case fitted once by ``torchrun --nproc_per_node=2`` (one launch for all)."""
    folder = tmp_path_factory.mktemp("data-parallel")
    model = make_tiny_bert(folder / "bert", dropout=0.0)  # no dropout: runs are comparable
    script = folder / "fit.py"
    script.write_text(SCRIPT.format(tests=str(TESTS), model=model, out=str(folder),
                                    names=_cases(), texts=TEXTS, labels=LABELS,
                                    ratings=RATINGS, batch=BATCH, early=EARLY))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "HF_HUB_DISABLE_TELEMETRY": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               "--master_addr=127.0.0.1", f"--master_port={_free_port()}", str(script)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    ranks = [json.loads((folder / f"rank{r}.json").read_text()) for r in (0, 1)]
    return model, folder, ranks


@pytest.mark.parametrize("case", _cases())
def test_two_processes_train_as_one_with_the_doubled_batch(two_processes, case, monkeypatch):
    import torch

    model, folder, (rank0, rank1) = two_processes
    # dropout draws its masks per process: it is off on both sides, so that the two
    # fits take the same steps on the same texts
    monkeypatch.setattr(torch.nn.Dropout, "forward", lambda self, x: x)
    monkeypatch.setattr(FastDropout, "forward", lambda self, x: x)
    # every process ends with the same estimator and the same history
    np.testing.assert_array_equal(rank0[case]["outputs"], rank1[case]["outputs"])
    assert rank0[case]["history"] == rank1[case]["history"]
    name = case.removesuffix("-early")
    kwargs = {}
    if case.endswith("-early"):
        kwargs.update(EARLY)
        assert len(rank0[case]["history"]) < EARLY["max_epochs"]  # it stopped early
    one = make(name, model, batch_size=2 * BATCH, **kwargs)
    one.fit(TEXTS, RATINGS if name.endswith("-reg") else LABELS)
    expected = one.predict(TEXTS) if name.endswith("-reg") else one.predict_proba(TEXTS)
    # the same steps on the same texts: equal up to the order of float sums
    np.testing.assert_allclose(rank0[case]["outputs"], expected, atol=2e-4)
    history = list(one.history_)
    assert len(rank0[case]["history"]) == len(history)
    for ours, theirs in zip(rank0[case]["history"], history, strict=True):
        for key in ("train_loss", "valid_loss"):
            if key in theirs:
                assert ours[key] == pytest.approx(theirs[key], abs=2e-4), key
    assert rank0[case]["saved_here"]  # the main process wrote the folder


def test_a_single_process_is_not_data_parallel(monkeypatch):
    from sktransformers.core import distributed as _distributed

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not _distributed.data_parallel() and _distributed.is_main_process()
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert _distributed.data_parallel() and not _distributed.is_main_process()
