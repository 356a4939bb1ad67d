"""Model selection scales out through joblib's Dask backend (a local cluster of processes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from estimators import make


@pytest.mark.parametrize("name", ["feature", "lora"])
def test_grid_search_on_a_local_dask_cluster(name, tiny_bert, binary_data):
    distributed = pytest.importorskip("distributed", reason="needs the test extra (dask)")
    import joblib

    X, y = binary_data
    grid = {"batch_size": [4, 8]}
    local = GridSearchCV(make(name, tiny_bert), grid, cv=2).fit(X, y)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster), joblib.parallel_backend("dask"):
        remote = GridSearchCV(make(name, tiny_bert), grid, cv=2).fit(X, y)
    np.testing.assert_allclose(remote.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"])
    np.testing.assert_allclose(remote.predict_proba(X), local.predict_proba(X), rtol=1e-5)


# -------------------------------------------------------------- shared embedding store
#: Fresh interpreters: a process forked after torch has run its thread pool can hang.
_SPAWN = __import__("multiprocessing").get_context("spawn")

TEXTS = [f"text number {i} about a {'good' if i % 2 else 'bad'} film" for i in range(24)]
LABELS = ["pos" if i % 2 else "neg" for i in range(24)]


def _encoded_rows(cache_dir) -> int:
    """Texts encoded so far by every process: each encoding is written to the store once."""
    from sktransformers.backbones.disk_cache import texts_written

    return texts_written(cache_dir)


def _search(tiny_bert, cache_dir, n_jobs=None):
    from sktransformers import TransformerFeatureClassifier

    est = TransformerFeatureClassifier(model=tiny_bert, cache_dir=str(cache_dir),
                                       max_length=16, batch_size=8)
    grid = {"estimator__C": [0.1, 1.0, 10.0], "normalize": [True, False]}
    return GridSearchCV(est, grid, cv=3, n_jobs=n_jobs).fit(TEXTS, LABELS)


def test_disk_store_is_shared_by_loky_workers(tiny_bert, tmp_path):
    """GridSearchCV(n_jobs=2): 18 fits in two processes, each text encoded once in total."""
    reference = _search(tiny_bert, tmp_path / "serial")
    parallel = _search(tiny_bert, tmp_path / "shared", n_jobs=2)
    assert _encoded_rows(tmp_path / "shared") == len(TEXTS)
    np.testing.assert_allclose(parallel.cv_results_["mean_test_score"],
                               reference.cv_results_["mean_test_score"])


def test_disk_store_is_shared_on_a_local_dask_cluster(tiny_bert, tmp_path):
    distributed = pytest.importorskip("distributed", reason="needs the test extra (dask)")
    import joblib

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster), joblib.parallel_backend("dask"):
        _search(tiny_bert, tmp_path / "shared")
    assert _encoded_rows(tmp_path / "shared") == len(TEXTS)


def test_disk_store_is_shared_by_a_local_ray_instance(tiny_bert, tmp_path):
    ray = pytest.importorskip("ray", reason="needs the test extra (ray)")
    import joblib
    from ray.util.joblib import register_ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).parent)}})
    try:
        register_ray()
        with joblib.parallel_backend("ray"):
            _search(tiny_bert, tmp_path / "shared", n_jobs=2)
    finally:
        ray.shutdown()
    assert _encoded_rows(tmp_path / "shared") == len(TEXTS)


def test_processes_racing_for_the_same_texts_encode_them_once(tiny_bert, tmp_path):
    """Four processes embed the same texts at once; the lock makes one of them encode."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(4, mp_context=_SPAWN) as pool:
        results = list(pool.map(_embed_in_worker, [(tiny_bert, str(tmp_path))] * 4))
    assert _encoded_rows(tmp_path) == len(TEXTS)
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], rtol=1e-6)


def _embed_in_worker(args):
    from sktransformers import TransformerEmbedder

    model, cache_dir = args
    # cache=False: a forked worker would otherwise inherit this process's memory cache
    return TransformerEmbedder(model, cache=False, cache_dir=cache_dir,
                               max_length=16).fit().transform(TEXTS)


def test_disk_store_keeps_windows_and_pairs_apart(tiny_bert, tmp_path):
    from sktransformers import TransformerEmbedder

    long_texts = [t * 6 for t in TEXTS[:4]]
    pairs = [(a, b) for a, b in zip(TEXTS[:4], TEXTS[4:8], strict=True)]
    for kwargs, X in [({"long_text": "chunk", "stride": 4}, long_texts),
                      ({"pair_encoding": "cross"}, pairs), ({}, TEXTS[:4])]:
        plain = TransformerEmbedder(tiny_bert, max_length=16, cache=False, **kwargs).fit()
        stored = TransformerEmbedder(tiny_bert, max_length=16, cache=False,
                                     cache_dir=str(tmp_path), **kwargs).fit()
        first = stored.transform(X)
        np.testing.assert_allclose(first, plain.transform(X), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(stored.transform(X), first)  # now read from disk


# ---------------------------------------------------------------- one GPU per worker
def _claim_in_worker(args):
    from sktransformers.core.device import claim_gpu

    n_gpus, lock_dir, _ = args
    index = claim_gpu(n_gpus, lock_dir)
    import time

    time.sleep(0.5)  # keep the lock while the other workers choose
    return index


def test_each_worker_process_takes_its_own_gpu(tmp_path):
    """Simulated on CPU: 4 worker processes on a 4-GPU node pick 4 different GPUs."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(4, mp_context=_SPAWN) as pool:
        chosen = list(pool.map(_claim_in_worker, [(4, str(tmp_path), None)] * 4))
    assert sorted(chosen) == [0, 1, 2, 3]
    # more GPUs than workers: distinct as well
    with ProcessPoolExecutor(3, mp_context=_SPAWN) as pool:
        assert len(set(pool.map(_claim_in_worker, [(8, str(tmp_path), None)] * 3))) == 3


def test_auto_device_uses_the_claimed_gpu(monkeypatch, tmp_path):
    import torch

    from sktransformers.core import device as _device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(_device, "_claimed", {})
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path))
    first = _device.resolve_device("auto")
    assert first.startswith("cuda:") and _device.resolve_device("auto") == first
