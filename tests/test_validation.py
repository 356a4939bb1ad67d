"""Bad input gets a clear error that names the problem and the fix, for every estimator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sktransformers import TransformerEmbedder
from sktransformers.backbones.loading import resolve_model
from sktransformers.core.validation import check_labels, check_texts

from estimators import (
    CLASSIFIERS,
    ESTIMATORS,
    TRAINABLE,
    TRAINABLE_REGRESSORS,
    applicable,
    is_regressor_name,
    make,
)

ALL = list(ESTIMATORS)
CLF = list(CLASSIFIERS)

BAD_X = [
    ("bare string", "good film", TypeError, "single string"),
    ("None", None, ValueError, "None"),
    ("empty", [], ValueError, "empty"),
    ("None element", ["good", None], ValueError, r"X\[1\] is a missing value"),
    ("NaN element", ["good", float("nan")], ValueError, "missing value"),
    ("number element", ["good", 3], TypeError, r"X\[1\] is of type int"),
    ("nested", [["good"], ["bad"]], ValueError, "nested list"),
    ("three columns", pd.DataFrame({"a": ["x"], "b": ["y"], "c": ["z"]}), ValueError,
     "3 columns"),
    ("mixed pairs and texts", [("a", "b"), "c"], ValueError, "mixes single texts"),
    ("3-d array", np.array([[["x"]]]), ValueError, "shape"),
    ("dict", {"a": 1}, TypeError, "not supported"),
]


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("label, X, error, message", BAD_X, ids=[b[0] for b in BAD_X])
def test_bad_texts_in_fit(name, label, X, error, message, tiny_bert):
    with pytest.raises(error, match=message):
        make(name, tiny_bert).fit(X, ["a", "b"])


@pytest.mark.parametrize("name", ALL)
def test_bad_texts_in_predict(name, tiny_bert, data_for):
    est = make(name, tiny_bert).fit(*data_for(name))
    with pytest.raises(TypeError, match="single string"):
        est.predict("good film")
    with pytest.raises(ValueError, match="missing value"):
        est.predict(["good", None])


BAD_Y = [
    ("length mismatch", ["a", "b", "a"], ValueError, "has 4 texts but y has 3"),
    ("single class", ["a"] * 4, ValueError, "single class"),
    ("None label", ["a", None, "b", "a"], ValueError, "missing values"),
    ("continuous", [0.1, 0.2, 0.3, 0.4], ValueError, "continuous"),
    ("y None", None, ValueError, "y is None"),
]


@pytest.mark.parametrize("name", CLF)
@pytest.mark.parametrize("label, y, error, message", BAD_Y, ids=[b[0] for b in BAD_Y])
def test_bad_labels(name, label, y, error, message, tiny_bert):
    with pytest.raises(error, match=message):
        make(name, tiny_bert).fit(["good", "bad", "fine", "awful"], y)


BAD_PARAMS = [
    ("batch_size", 0),
    ("batch_size", -2),
    ("max_length", 0),
    ("precision", "fp8"),
    ("pooling", "max"),
    ("long_text", "split"),
    ("stride", -1),
    ("chunk_pooling", "median"),
    ("threshold", 1.5),
    ("loss", "absolute_error"),
    ("pair_encoding", "siamese"),
]


@pytest.mark.parametrize("name, param, value", [
    (name, param, value) for name in ALL for param, value in BAD_PARAMS if applicable(name, param)
])
def test_bad_parameters(name, param, value, tiny_bert, data_for):
    with pytest.raises(ValueError, match=param):
        make(name, tiny_bert, **{param: value}).fit(*data_for(name))


@pytest.mark.parametrize("name", ALL)
def test_unknown_device(name, tiny_bert, data_for):
    with pytest.raises(ValueError, match="device='tpu' is not supported"):
        make(name, tiny_bert, device="tpu").fit(*data_for(name))


@pytest.mark.parametrize("name", TRAINABLE + TRAINABLE_REGRESSORS)
@pytest.mark.parametrize("param, value", [("max_epochs", 0), ("lr", 0.0), ("lr", -1e-3),
                                          ("validation_fraction", 1.5),
                                          ("n_iter_no_change", 0)])
def test_bad_training_parameters(name, param, value, tiny_bert, data_for):
    with pytest.raises(ValueError, match=param):
        make(name, tiny_bert, **{param: value}).fit(*data_for(name))


@pytest.mark.parametrize("name", TRAINABLE + TRAINABLE_REGRESSORS)
def test_bad_sample_weight(name, tiny_bert, data_for):
    X, y = data_for(name)
    with pytest.raises(ValueError, match="one weight per text"):
        make(name, tiny_bert).fit(X, y, sample_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="non-negative"):
        make(name, tiny_bert).fit(X, y, sample_weight=-np.ones(len(X)))


@pytest.mark.parametrize("name", TRAINABLE + TRAINABLE_REGRESSORS)
def test_failed_fit_leaves_the_old_model_or_none(name, tiny_bert, data_for, monkeypatch):
    """Invalid input keeps the fitted state whole; a fit failing later leaves none at all.

    Never new ``classes_`` beside an old model: once the input is checked, the old
    fit is released (its memory freed) before training starts.
    """
    from sklearn.exceptions import NotFittedError

    X, y = data_for(name)
    est = make(name, tiny_bert).fit(X, y)
    before = est.predict(X)
    state = {k: v for k, v in vars(est).items() if k.endswith("_")}
    with pytest.raises(ValueError):
        est.fit(X[:-1], y)  # lengths disagree: refused before anything changes
    assert all(vars(est)[k] is v for k, v in state.items())
    np.testing.assert_array_equal(est.predict(X), before)
    other_y = np.asarray(y) * 2 if is_regressor_name(name) else ["a", "b", "c"] * 8

    def boom(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(type(est), "_fit_model", boom)
    with pytest.raises(RuntimeError, match="interrupted"):
        est.fit(X, other_y)
    assert not [k for k in vars(est) if k.endswith("_") and not k.startswith("_")]
    with pytest.raises(NotFittedError):
        est.predict(X)


def test_early_stopping_split_too_small(tiny_bert):
    X, y = ["good", "bad", "fine", "awful"], ["p", "n", "p", "n"]
    with pytest.raises(ValueError, match="validation_fraction"):
        make("full", tiny_bert, early_stopping=True).fit(X, y)


@pytest.mark.parametrize("param, value, message", [
    ("r", 0, "r"),
    ("n_virtual_tokens", 0, "n_virtual_tokens"),
    ("head_hidden", (0,), "head_hidden"),
])
def test_bad_method_parameters(param, value, message, tiny_bert, binary_data):
    name = {"r": "lora", "n_virtual_tokens": "prompt", "head_hidden": "head"}[param]
    with pytest.raises(ValueError, match=message):
        make(name, tiny_bert, **{param: value}).fit(*binary_data)


def test_missing_model_folder_is_a_clear_error(tmp_path, binary_data):
    with pytest.raises(ValueError, match="Could not load model"):
        make("full", str(tmp_path / "nowhere")).fit(*binary_data)


def test_bad_model_type():
    with pytest.raises(TypeError, match="hub id"):
        resolve_model(42)


def test_missing_default_backbone_names_the_extra(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match=r"sktransformers\[models\]"):
        resolve_model(None)


def test_embedder_rejects_bad_input(tiny_bert):
    emb = TransformerEmbedder(tiny_bert).fit()
    with pytest.raises(TypeError, match="single string"):
        emb.transform("a text")
    with pytest.raises(ValueError, match="empty"):
        emb.transform([])


def test_helpers_return_new_objects():
    texts = ["a", "b"]
    assert check_texts(texts) is not texts
    y = np.array(["a", "b"])
    assert check_labels(y, 2) is not y
