"""Real learning beyond single-label classification: every method on every task (slow).

The packaged all-MiniLM-L6-v2 on the shared datasets, seeded samples sized to run
in minutes on 2 CPU cores. Every method is measured against a baseline trained on
the same sample (the issue's baselines: TF-IDF + ridge for regression, TF-IDF +
one-vs-rest logistic regression for multi-label, frozen pair features + logistic
regression for pairs, truncation for long documents). The figures are printed in
the run summary and quoted in the README.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import f1_score
from sklearn.preprocessing import MultiLabelBinarizer

import sktransformers as st
from sktransformers.compare import ESTIMATORS, METHODS

from conftest import MEASURED, shared_dataset

# 32 fits of every method on five real datasets: the `extended` tier (`pytest -m
# extended tests/test_slow_tasks.py`), which CI leaves out to stay within its time
pytestmark = [pytest.mark.slow, pytest.mark.extended]



def build(method, regression=False, **params):
    """The method's estimator with default settings (plus ``params``), seeded and quiet."""
    cls = ESTIMATORS[method][int(regression)]
    if method != "feature":
        params = {"random_state": 0, "verbose": 0, **params}
    return cls(**params)


def baseline(task, pairs=False):
    """The issue's TF-IDF baseline for ``task`` (pairs joined into one text)."""
    return METHODS["tfidf"][1]({"task": task, "pairs": pairs})


def _sample(name, n_train, n_test, test_file="test.csv"):
    folder = shared_dataset(name)
    train = pd.read_csv(folder / "train.csv").sample(n_train, random_state=0)
    test = pd.read_csv(folder / test_file)
    return train, test.sample(min(n_test, len(test)), random_state=0)


# ------------------------------------------------------------------ regression


@pytest.fixture(scope="module")
def emobank():
    train, test = _sample("emobank", 600, 400)
    base = baseline("regression").fit(train.text, train.label)
    return train, test, _regression_scores(test.label, base.predict(test.text))


def _regression_scores(y_true, y_pred):
    return (1 - np.sum((y_true - y_pred) ** 2) / np.sum((y_true - np.mean(y_true)) ** 2),
            spearmanr(y_true, y_pred).statistic)


R2_MARGIN = 0.10  # "learns": R² at least 0.10 above TF-IDF + ridge on the same texts


@pytest.mark.parametrize("method", list(ESTIMATORS))
def test_regressors_learn_emobank_valence(method, emobank):
    train, test, (base_r2, base_rho) = emobank
    est = build(method, regression=True).fit(train.text, train.label.to_numpy())
    r2, rho = _regression_scores(test.label.to_numpy(), est.predict(test.text))
    MEASURED.append(f"EmoBank {method}: R2 {r2:.3f} Spearman {rho:.3f} "
                    f"(TF-IDF + ridge: R2 {base_r2:.3f} Spearman {base_rho:.3f})")
    assert r2 >= base_r2 + R2_MARGIN
    assert rho > base_rho


# ---------------------------------------------------------- pair regression

@pytest.fixture(scope="module")
def stsb():
    train, test = _sample("stsb", 1000, 400)
    cols = ["text_a", "text_b"]
    base = baseline("regression", pairs=True).fit(train[cols], train.label)
    frozen = build("feature", regression=True).fit(train[cols], train.label)
    return train[cols], train.label.to_numpy(), test[cols], test.label.to_numpy(), \
        _regression_scores(test.label.to_numpy(), base.predict(test[cols])), \
        frozen.score(test[cols], test.label)


#: Text pairs at 600-1,000 pairs (issue: every trainable method's defaults at least at
#: the frozen pair features): R² may trail them by this much on the same 400 test pairs,
#: accuracy on the 277 RTE test pairs by this much (4 pairs).
PAIR_R2_NOISE, RTE_NOISE = 0.01, 0.015


@pytest.mark.parametrize("method", list(ESTIMATORS))
def test_regressors_learn_stsb_pairs(method, stsb):
    X_train, y_train, X_test, y_test, (base_r2, base_rho), frozen_r2 = stsb
    est = build(method, regression=True).fit(X_train, y_train)
    r2, rho = _regression_scores(y_test, est.predict(X_test))
    MEASURED.append(f"STS-B {method}: R2 {r2:.3f} Spearman {rho:.3f} (TF-IDF + ridge: R2 "
                    f"{base_r2:.3f} Spearman {base_rho:.3f}; frozen pair features R2 "
                    f"{frozen_r2:.3f})")
    assert r2 >= base_r2 + R2_MARGIN
    assert rho > base_rho
    assert r2 >= frozen_r2 - PAIR_R2_NOISE


# ----------------------------------------------------------------- multi-label


@pytest.fixture(scope="module")
def goemotions():
    train, test = _sample("goemotions", 600, 400)
    labels = pd.read_csv(shared_dataset("goemotions") / "train.csv").labels.str.split(";")
    binarizer = MultiLabelBinarizer().fit(labels)
    Y_train, Y_test = (binarizer.transform(f.labels.str.split(";")) for f in (train, test))
    base = baseline("multilabel").fit(train.text, Y_train)
    return train.text, Y_train, test.text, Y_test, _micro_f1(Y_test, base.predict(test.text))


def _micro_f1(Y_true, Y_pred):
    return f1_score(Y_true, Y_pred, average="micro", zero_division=0)


MICRO_F1_MARGIN = 0.05  # "learns": micro-F1 at least 0.05 above TF-IDF + one-vs-rest LR

#: 20 soft-prompt vectors need more passes over 600 texts to learn 28 labels: with the
#: default 5 epochs prompt tuning predicts almost no labels (micro-F1 0.017).
MULTILABEL_SETTINGS = {"prompt": {"max_epochs": 15}}


@pytest.mark.parametrize("method", list(ESTIMATORS))
def test_multilabel_learns_goemotions(method, goemotions):
    X_train, Y_train, X_test, Y_test, base = goemotions
    params = MULTILABEL_SETTINGS.get(method, {})
    est = build(method, **params).fit(X_train, Y_train)
    pred = est.predict(X_test)
    micro = _micro_f1(Y_test, pred)
    MEASURED.append(f"GoEmotions (28 labels) {method} {params or ''}: micro-F1 {micro:.3f}, "
                    f"{pred.sum(1).mean():.2f} labels/text (TF-IDF + OvR LR: {base:.3f})")
    assert micro >= base + MICRO_F1_MARGIN


# ---------------------------------------------------------- pair classification

#: Pairs are siamese at the defaults on this sentence encoder (``pair_encoding="auto"``).
#: Prefix tuning's former default rate (5e-3 through its MLP; 2e-3 since) collapsed to
#: one class on the similarity task before the siamese head was refitted as the probe
#: after training (accuracy 0.403, the majority share); at 1e-3: 0.828.
PAIR_SETTINGS = {"prefix": {"lr": 1e-3}}


@pytest.fixture(scope="module")
def stsb_similar():
    """STS-B pairs as a binary task: similar (score >= 3) or not."""
    train, test = _sample("stsb", 600, 400)
    cols = ["text_a", "text_b"]
    y_train, y_test = (np.where(f.label >= 3, "similar", "different") for f in (train, test))
    base = st.TransformerFeatureClassifier(pair_encoding="bi").fit(train[cols], y_train)
    majority = (y_test == pd.Series(y_train).mode()[0]).mean()
    return train[cols], y_train, test[cols], y_test, base.score(test[cols], y_test), majority


PAIR_MARGIN = 0.10  # "learns": 10 points above the majority class


@pytest.mark.parametrize("method", list(ESTIMATORS))
def test_pair_classifiers_learn_stsb_similarity(method, stsb_similar):
    X_train, y_train, X_test, y_test, base, majority = stsb_similar
    params = PAIR_SETTINGS.get(method, {})
    accuracy = build(method, **params).fit(X_train, y_train).score(X_test, y_test)
    MEASURED.append(f"STS-B similar/different {method} {params or ''}: accuracy "
                    f"{accuracy:.3f} (frozen pair features + LR {base:.3f}, majority "
                    f"{majority:.3f})")
    assert accuracy >= majority + PAIR_MARGIN


@pytest.fixture(scope="module")
def rte():
    train, test = _sample("rte", 600, 277)
    cols = ["text_a", "text_b"]
    majority = (test.label == train.label.mode()[0]).mean()
    frozen = build("feature").fit(train[cols], train.label).score(test[cols], test.label)
    return train[cols], train.label, test[cols], test.label, majority, frozen


#: RTE is hard for a 6-layer encoder with 600 pairs: every method stays above the
#: majority class by 3 points (8 of 277 pairs) and at the frozen pair features.
RTE_MARGIN = 0.03


@pytest.mark.parametrize("method", [m for m in ESTIMATORS if m != "feature"])
def test_rte_entailment(method, rte):
    X_train, y_train, X_test, y_test, majority, frozen = rte
    accuracy = build(method).fit(X_train, y_train).score(X_test, y_test)
    MEASURED.append(f"RTE {method} (600 pairs): accuracy {accuracy:.3f} "
                    f"(majority {majority:.3f}, frozen pair features {frozen:.3f})")
    assert accuracy >= majority + RTE_MARGIN
    assert accuracy >= frozen - RTE_NOISE


# ------------------------------------------------------------- long documents


@pytest.fixture(scope="module")
def imdb_long():
    """Reviews of 400+ words (most over 512 tokens): 400 to train, 400 to test."""
    train, test = _sample("imdb_long", 400, 400)
    return train.text, train.label, test.text, test.label


#: Training through the backbone on every window (about 7 a review) was checked here
#: for adapters too, until CI time ran over an hour: about 15 minutes on 2 cores for
#: chunk 0.765 vs truncate 0.703 (last run on 2026-11-30; 200 reviews for 2 epochs did
#: not learn either way). The windowed training path is unit-tested on tiny models.
@pytest.mark.parametrize("method", ["feature", "head"])
def test_chunking_beats_truncation_on_long_reviews(method, imdb_long):
    X_train, y_train, X_test, y_test = imdb_long
    scores = {}
    for long_text in ("truncate", "chunk"):
        est = build(method, long_text=long_text, max_length=128, stride=16)
        scores[long_text] = est.fit(X_train, y_train).score(X_test, y_test)
    MEASURED.append(f"IMDB long reviews {method}: chunk {scores['chunk']:.3f}, "
                    f"truncate (first 128 tokens) {scores['truncate']:.3f}")
    assert scores["chunk"] >= scores["truncate"] + CHUNK_MARGIN


CHUNK_MARGIN = 0.02  # chunking reads the whole review: at least 2 points above truncation
