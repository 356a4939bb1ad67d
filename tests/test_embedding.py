"""TransformerEmbedder, the embedding cache and length-sorted inference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sktransformers import (
    EmbeddingCache,
    HeadFinetuneClassifier,
    TransformerEmbedder,
    TransformerFeatureClassifier,
    embedding_cache,
)


@pytest.fixture(autouse=True)
def fresh_cache():
    embedding_cache.clear()
    yield
    embedding_cache.clear()


def test_embedder_shape_names_and_determinism(tiny_bert, binary_data):
    X, _ = binary_data
    emb = TransformerEmbedder(tiny_bert)
    Z = emb.fit_transform(X)
    assert Z.shape == (len(X), 32) and Z.dtype == np.float32
    assert emb.n_features_out_ == 32
    assert list(emb.get_feature_names_out()[:2]) == ["embedding0", "embedding1"]
    np.testing.assert_array_equal(TransformerEmbedder(tiny_bert, cache=False).fit_transform(X), Z)
    assert len(np.unique(Z[:6], axis=0)) == 6  # different texts, different vectors


def test_embedder_pooling_and_normalize(tiny_bert, binary_data):
    X, _ = binary_data
    mean = TransformerEmbedder(tiny_bert).fit_transform(X)
    cls = TransformerEmbedder(tiny_bert, pooling="cls").fit_transform(X)
    assert not np.allclose(mean, cls)
    unit = TransformerEmbedder(tiny_bert, normalize=True).fit_transform(X)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(unit, mean / np.linalg.norm(mean, axis=1, keepdims=True),
                               rtol=1e-5)


def test_batched_length_sorted_inference_matches_one_by_one(tiny_bert):
    texts = ["good", "a very long and boring story about a city", "bad film", "the year"]
    batched = TransformerEmbedder(tiny_bert, batch_size=3, cache=False).fit_transform(texts)
    single = np.vstack([
        TransformerEmbedder(tiny_bert, batch_size=1, cache=False).fit_transform([t])
        for t in texts
    ])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_embedder_in_column_transformer_and_pipeline(tiny_bert, binary_data):
    X, y = binary_data
    frame = pd.DataFrame({"text": X, "length": [len(t) for t in X]})
    features = ColumnTransformer([
        ("text", TransformerEmbedder(tiny_bert), ["text"]),
        ("num", StandardScaler(), ["length"]),
    ])
    model = make_pipeline(features, RandomForestClassifier(n_estimators=10, random_state=0))
    assert model.fit(frame, y).predict(frame).shape == (24,)
    assert features.transform(frame).shape == (24, 33)


def test_feature_classifier_nested_params_and_other_estimators(tiny_bert, binary_data):
    X, y = binary_data
    clf = TransformerFeatureClassifier(model=tiny_bert)
    assert clf.get_params()["estimator"] is None
    assert clf.set_params(estimator__C=0.5).estimator.C == 0.5
    assert TransformerFeatureClassifier().estimator is None  # no shared default mutated
    grid = GridSearchCV(clf.set_params(estimator=RandomForestClassifier(random_state=0)),
                        {"estimator__n_estimators": [3, 5]}, cv=2).fit(X, y)
    assert grid.best_params_["estimator__n_estimators"] in (3, 5)
    assert hasattr(grid.best_estimator_, "predict_proba")


def test_cache_encodes_each_text_once_across_clones_folds_and_grid(tiny_bert, binary_data):
    X, y = binary_data
    n_distinct = len(set(X))
    clf = TransformerFeatureClassifier(model=tiny_bert)
    GridSearchCV(clf, {"estimator__C": [0.1, 1.0, 10.0]}, cv=3).fit(X, y)
    cross_val_score(clone(clf), X, y, cv=4)
    HeadFinetuneClassifier(tiny_bert, max_epochs=2, verbose=0, pooling="mean").fit(X, y)
    assert embedding_cache.misses == n_distinct
    assert embedding_cache.hits > 10 * n_distinct
    assert len(embedding_cache) == n_distinct


def test_cache_keys_by_pooling_and_max_length(tiny_bert, binary_data):
    X, _ = binary_data
    TransformerEmbedder(tiny_bert).fit_transform(X)
    TransformerEmbedder(tiny_bert, pooling="cls").fit_transform(X)
    TransformerEmbedder(tiny_bert, max_length=2).fit_transform(X)
    assert len(embedding_cache) == 3 * len(set(X))


def test_cache_opt_out(tiny_bert, binary_data):
    X, _ = binary_data
    TransformerEmbedder(tiny_bert, cache=False).fit_transform(X)
    assert len(embedding_cache) == 0 and embedding_cache.misses == 0


def test_cache_eviction_bound():
    from sktransformers.backbones.cache import _entry_bytes

    one = _entry_bytes("t00", np.zeros(4, np.float32))
    cache = EmbeddingCache(max_bytes=10 * one)  # ten entries of a 4-float vector and a text
    key = ("m", "mean", 8, "None")
    texts = [f"t{i:02d}" for i in range(25)]
    cache.put_many(key, texts, np.arange(100, dtype=np.float32).reshape(25, 4))
    assert len(cache) == 10 and cache.nbytes == 10 * one
    found, missing = cache.get_many(key, ["t00", "t24"])
    assert missing == ["t00"] and np.array_equal(found["t24"], [96, 97, 98, 99])
    cache.get_many(key, ["t15"])  # t15 becomes most recent and survives the next insert
    cache.put_many(key, ["new"], np.zeros((1, 4), np.float32))
    assert cache.get_many(key, ["t15"])[1] == [] and cache.get_many(key, ["t16"])[1] == ["t16"]


@pytest.mark.parametrize("dim", [4, 384])
def test_cache_bound_counts_what_it_holds(dim):
    """``nbytes`` is within 15% of the memory the entries really take (texts included)."""
    import tracemalloc

    texts = [f"a text of a few words, number {i}" for i in range(5000)]
    vectors = np.ones((5000, dim), np.float32)
    cache = EmbeddingCache(max_bytes=10**10)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        cache.put_many("key", texts, vectors)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert abs(cache.nbytes - held) <= 0.15 * held


def test_cached_vectors_are_not_mutated_by_callers(tiny_bert, binary_data):
    X, _ = binary_data
    first = TransformerEmbedder(tiny_bert).fit_transform(X)
    first[:] = 0.0
    again = TransformerEmbedder(tiny_bert, normalize=True).fit_transform(X)
    assert np.all(np.isfinite(again)) and not np.allclose(again, 0.0)


@pytest.mark.parametrize(("params", "rate"), [
    ({}, 1e-4),  # a linear head that starts as the probe: training refines it
    ({"head_hidden": (8,)}, 1e-3),  # a hidden layer starts at random
    ({"head_init": "random"}, 1e-3),
    ({"lr": 3e-3}, 3e-3),
    ({"multilabel": True}, 1e-3),  # many rare labels: the probe predicts too few
])
def test_head_rate_is_small_from_the_probe_and_larger_from_random(tiny_bert, binary_data,
                                                                   monkeypatch, params, rate):
    from sktransformers.estimators import head

    rates = []
    real_train = head.train
    monkeypatch.setattr(head, "train", lambda module, tr, va, config, task:
                        rates.append(config.lr) or real_train(module, tr, va, config, task))
    X, y = binary_data
    params = dict(params)
    if params.pop("multilabel", False):
        y = np.column_stack([np.asarray(y) == y[0], np.arange(len(y)) % 2 == 0]).astype(int)
    clf = HeadFinetuneClassifier(tiny_bert, max_epochs=1, verbose=0, **params).fit(X, y)
    assert rates == [rate] and clf.lr == params.get("lr")
