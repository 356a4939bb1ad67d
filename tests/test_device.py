"""Device and precision selection, and falling back when an accelerator is absent."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sktransformers.core.device import autocast, resolve_device, resolve_precision, seed_everything

from estimators import make

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


def test_auto_device_prefers_accelerators():
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert resolve_device("auto") == expected
    assert resolve_device("cpu") == "cpu"


@pytest.mark.parametrize("bad", ["tpu", "", 3, None])
def test_unknown_device_names_the_options(bad):
    with pytest.raises(ValueError, match="not supported"):
        resolve_device(bad)


def test_precision_resolution():
    assert resolve_precision("auto", "cpu") is None
    assert resolve_precision("fp32", "cuda") is None
    assert resolve_precision("bf16", "cpu") is torch.bfloat16
    with pytest.raises(ValueError, match="precision='fp8'"):
        resolve_precision("fp8", "cpu")


def test_autocast_runs_in_bf16_on_cpu():
    layer = torch.nn.Linear(4, 2)
    with autocast("cpu", torch.bfloat16):
        assert layer(torch.ones(1, 4)).dtype == torch.bfloat16
    with autocast("cpu", None):
        assert layer(torch.ones(1, 4)).dtype == torch.float32


def test_seed_everything_repeats_draws():
    seed_everything(3)
    first = (np.random.rand(), torch.rand(1).item())  # noqa: NPY002 - the global generator
    seed_everything(np.random.RandomState(0))
    seed_everything(3)
    assert (np.random.rand(), torch.rand(1).item()) == first  # noqa: NPY002
    assert seed_everything(None) is None


@pytest.mark.parametrize("name", ["head", "full", "lora"])
def test_bf16_precision_fits_and_predicts(name, tiny_bert, binary_data):
    X, y = binary_data
    fp32 = make(name, tiny_bert, precision="fp32").fit(X, y).predict_proba(X)
    bf16 = make(name, tiny_bert, precision="bf16").fit(X, y).predict_proba(X)
    np.testing.assert_allclose(bf16.sum(axis=1), 1.0, rtol=1e-6)
    assert np.abs(bf16 - fp32).max() < 0.1


@no_cuda
@pytest.mark.parametrize("name", ["feature", "full"])
def test_model_asked_for_absent_gpu_predicts_on_cpu(name, tiny_bert, binary_data):
    X, y = binary_data
    est = make(name, tiny_bert, device="cpu").fit(X, y)
    expected = est.predict_proba(X)
    est.set_params(device="cuda")
    with pytest.warns(UserWarning, match="not available on this machine"):
        np.testing.assert_allclose(est.predict_proba(X), expected, rtol=1e-6)
