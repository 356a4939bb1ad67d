"""The scikit-learn contract, run over every classifier and regressor (a matrix, not copies).

Tests that hold for any estimator run over ``ALL`` with data of the right kind
(``data_for``); the classifier-only ones over ``CLF``; the regressor-only and
multi-label ones are in ``test_tasks.py``.
"""

from __future__ import annotations

import inspect
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from estimators import (
    CLASSIFIERS,
    ESTIMATORS,
    TRAINABLE,
    TRAINABLE_REGRESSORS,
    is_regressor_name,
    make,
    outputs,
)

ALL = list(ESTIMATORS)
CLF = list(CLASSIFIERS)
TRAINABLE_ALL = TRAINABLE + TRAINABLE_REGRESSORS


@pytest.mark.parametrize("name", ALL)
def test_init_only_stores_parameters(name, tiny_bert):
    est = make(name, tiny_bert)
    params = est.get_params(deep=False)
    signature = inspect.signature(type(est).__init__).parameters
    assert set(params) == set(signature) - {"self"}
    assert not [a for a in vars(est) if a.endswith("_")]
    for key, value in params.items():
        assert getattr(est, key) is value


@pytest.mark.parametrize("name", ALL)
def test_clone_get_set_params(name, tiny_bert):
    est = make(name, tiny_bert)
    twin = clone(est)
    assert twin is not est
    assert twin.get_params() == est.get_params()
    assert est.set_params(batch_size=3) is est
    assert est.batch_size == 3
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(not_a_parameter=1)


@pytest.mark.parametrize("name", ALL)
def test_unfitted_raises_not_fitted(name, tiny_bert, binary_data):
    est = make(name, tiny_bert)
    with pytest.raises(NotFittedError):
        est.predict(binary_data[0])
    if not is_regressor_name(name):
        with pytest.raises(NotFittedError):
            est.predict_proba(binary_data[0])


@pytest.mark.parametrize("name", CLF)
def test_fit_returns_self_and_string_labels(name, tiny_bert, binary_data):
    X, y = binary_data
    est = make(name, tiny_bert)
    assert est.fit(X, y) is est
    np.testing.assert_array_equal(est.classes_, ["neg", "pos"])
    assert set(est.predict(X)) <= {"neg", "pos"}
    assert 0.0 <= est.score(X, y) <= 1.0
    if name == "incontext":  # nothing trains
        assert est.n_trainable_params_ == 0 < est.n_total_params_
    elif name == "full":  # every weight trains
        assert est.n_total_params_ == est.n_trainable_params_
    else:
        assert est.n_total_params_ > est.n_trainable_params_ > 0
    assert isinstance(est.history_, list)


@pytest.mark.parametrize("name", CLF)
def test_int_labels_three_classes_and_proba(name, tiny_bert, multiclass_data):
    X, y = multiclass_data
    est = make(name, tiny_bert).fit(X, y)
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])
    proba = est.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert np.all(proba >= 0)
    np.testing.assert_array_equal(est.predict(X), est.classes_[proba.argmax(axis=1)])
    assert est.predict(X).dtype.kind == "i"


@pytest.mark.parametrize("name", TRAINABLE_ALL)
def test_history_has_one_row_per_epoch(name, tiny_bert, data_for):
    est = make(name, tiny_bert, max_epochs=2).fit(*data_for(name))
    assert [row["epoch"] for row in est.history_] == [1, 2]
    assert all(np.isfinite(row["train_loss"]) and row["duration"] >= 0 for row in est.history_)


@pytest.mark.parametrize("name", CLF)
def test_refit_resets(name, tiny_bert, binary_data, multiclass_data):
    est = make(name, tiny_bert).fit(*multiclass_data)
    est.fit(*binary_data)
    np.testing.assert_array_equal(est.classes_, ["neg", "pos"])
    assert est.predict_proba(binary_data[0]).shape == (24, 2)


@pytest.mark.parametrize("name", ALL)
def test_same_random_state_same_predictions(name, tiny_bert, data_for):
    X, y = data_for(name)
    first = outputs(make(name, tiny_bert).fit(X, y), X)
    second = outputs(make(name, tiny_bert).fit(X, y), X)
    np.testing.assert_allclose(first, second, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", TRAINABLE_ALL)
def test_other_random_state_other_model(name, tiny_bert, data_for):
    X, y = data_for(name)
    first = outputs(make(name, tiny_bert, random_state=0).fit(X, y), X)
    second = outputs(make(name, tiny_bert, random_state=1).fit(X, y), X)
    assert not np.allclose(first, second)


@pytest.mark.parametrize("name", ALL)
def test_joblib_and_pickle_round_trip(name, tiny_bert, data_for, tmp_path):
    X, y = data_for(name)
    est = make(name, tiny_bert).fit(X, y)
    expected = outputs(est, X)
    joblib.dump(est, tmp_path / "est.joblib")
    loaded = joblib.load(tmp_path / "est.joblib")
    np.testing.assert_array_equal(outputs(loaded, X), expected)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    unpickled = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(outputs(unpickled, X), expected)
    # the original estimator still works after being pickled
    np.testing.assert_array_equal(outputs(est, X), expected)


@pytest.mark.parametrize("name", [n for n in ALL if n != "incontext"])
def test_pickle_refers_to_the_base_model_or_carries_it(name, tiny_bert, data_for, tmp_path):
    """A pickle holds a reference to the base model; ``include_base`` carries a copy."""
    import shutil

    import sktransformers

    folder = tmp_path / "model"
    shutil.copytree(tiny_bert, folder)
    X, y = data_for(name)
    est = make(name, str(folder)).fit(X, y)
    expected = est.predict(X)
    slim = pickle.dumps(est)
    with sktransformers.pickle_options(include_base=True):
        full = pickle.dumps(est)
    assert len(full) > len(slim)
    shutil.rmtree(folder)
    sktransformers.clear_cache()
    with pytest.raises(FileNotFoundError, match="include_base=True"):
        pickle.loads(slim)
    np.testing.assert_array_equal(pickle.loads(full).predict(X), expected)
    sktransformers.clear_cache()  # later tests must not see the deleted folder


@pytest.mark.parametrize("name", ALL)
def test_pipeline_gridsearch_cross_val_score(name, tiny_bert, data_for):
    X, y = data_for(name)
    pipe = Pipeline([("strip", FunctionTransformer(lambda t: [s.strip() for s in t])),
                     ("clf", make(name, tiny_bert))])
    assert pipe.fit(X, y).predict(X).shape == (24,)
    grid = GridSearchCV(pipe, {"clf__batch_size": [4, 8]}, cv=2).fit(X, y)
    assert grid.best_params_["clf__batch_size"] in (4, 8)
    assert len(grid.cv_results_["mean_test_score"]) == 2
    scores = cross_val_score(make(name, tiny_bert), X, y, cv=3)
    assert scores.shape == (3,) and np.all(np.isfinite(scores))
    if not is_regressor_name(name):
        assert np.all((scores >= 0) & (scores <= 1))


def _containers(X):
    return {
        "list": list(X),
        "tuple": tuple(X),
        "ndarray": np.asarray(X, dtype=object),
        "ndarray-str": np.asarray(X),
        "series": pd.Series(X),
        "dataframe": pd.DataFrame({"text": X}),
        "2d-array": np.asarray(X, dtype=object).reshape(-1, 1),
    }


@pytest.mark.parametrize("name", ALL)
def test_input_containers_give_the_same_predictions(name, tiny_bert, data_for):
    X, y = data_for(name)
    est = make(name, tiny_bert).fit(pd.Series(X), np.asarray(y))
    expected = outputs(est, X)
    for kind, container in _containers(X).items():
        np.testing.assert_allclose(outputs(est, container), expected, rtol=1e-5,
                                   err_msg=kind)


@pytest.mark.parametrize("name", ALL)
def test_user_inputs_are_not_modified(name, tiny_bert, data_for):
    X, y = data_for(name)
    X_series, y_array = pd.Series(X), np.asarray(y)
    weights = np.linspace(0.5, 1.5, len(X))
    before = (X_series.copy(), y_array.copy(), weights.copy())
    est = make(name, tiny_bert)
    if "sample_weight" in inspect.signature(est.fit).parameters:
        est.fit(X_series, y_array, sample_weight=weights)
    else:
        est.fit(X_series, y_array)
    est.predict(X_series)
    pd.testing.assert_series_equal(X_series, before[0])
    np.testing.assert_array_equal(y_array, before[1])
    np.testing.assert_array_equal(weights, before[2])
